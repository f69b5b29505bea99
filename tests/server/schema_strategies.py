"""Hypothesis strategies for varied JSON Schemas in OpenAI's strict mode (shared by the server tests)."""

from __future__ import annotations

from hypothesis import strategies as st


def strict_object(properties: dict) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
json_scalars = st.one_of(st.integers(-50, 50), st.text(max_size=6), st.booleans(), st.none())


@st.composite
def integer_schemas(draw):
    schema: dict = {"type": "integer"}
    low = draw(st.one_of(st.none(), st.integers(-1000, 1000)))
    if low is not None:
        schema[draw(st.sampled_from(["minimum", "exclusiveMinimum"]))] = low
        if draw(st.booleans()):
            schema["maximum"] = low + draw(st.integers(2, 500))
    if draw(st.booleans()):
        schema["multipleOf"] = draw(st.integers(1, 7))
        if "maximum" in schema:
            schema["maximum"] += 7 * schema["multipleOf"]
    return schema


@st.composite
def number_schemas(draw):
    schema: dict = {"type": "number"}
    low = draw(st.one_of(st.none(), st.floats(-1e4, 1e4, allow_nan=False).map(lambda x: round(x, 3))))
    if low is not None:
        schema[draw(st.sampled_from(["minimum", "exclusiveMinimum"]))] = low
        width = draw(st.floats(0.5, 1000))
        schema[draw(st.sampled_from(["maximum", "exclusiveMaximum"]))] = round(low + width, 3)
    elif draw(st.booleans()):
        schema["multipleOf"] = draw(st.sampled_from([0.5, 0.25, 2, 10]))
    return schema


@st.composite
def string_schemas(draw):
    kind = draw(st.sampled_from(["plain", "length", "format", "pattern"]))
    if kind == "format":
        formats = [
            "date-time",
            "date",
            "time",
            "email",
            "uuid",
            "ipv4",
            "ipv6",
            "hostname",
            "uri",
            "duration",
        ]
        return {"type": "string", "format": draw(st.sampled_from(formats))}
    if kind == "pattern":
        patterns = [
            r"^[A-Z]{3}-\d{2,4}$",
            r"^(red|green|blue)$",
            r"^\w+@\w+\.org$",
            r"^[^\s]{1,8}$",
            r"^a*b+$",
        ]
        return {"type": "string", "pattern": draw(st.sampled_from(patterns))}
    if kind == "length":
        low = draw(st.integers(0, 30))
        return {"type": "string", "minLength": low, "maxLength": low + draw(st.integers(0, 10))}
    return {"type": "string"}


leaves = st.one_of(
    string_schemas(),
    integer_schemas(),
    number_schemas(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(json_scalars, min_size=1, max_size=5, unique_by=repr).map(lambda values: {"enum": values}),
    json_scalars.map(lambda value: {"const": value}),
)


def composites(children):
    objects = st.dictionaries(names, children, min_size=1, max_size=4).map(strict_object)
    arrays = st.builds(
        lambda items, low, extra: {"type": "array", "items": items, "minItems": low, "maxItems": low + extra},
        children,
        st.integers(0, 3),
        st.integers(0, 3),
    )
    any_of = st.lists(children, min_size=2, max_size=3).map(lambda branches: {"anyOf": branches})
    nullable = string_schemas().map(lambda s: {**s, "type": ["string", "null"]})
    return st.one_of(objects, arrays, any_of, nullable)


subschemas = st.recursive(leaves, composites, max_leaves=12)


@st.composite
def strict_root_schemas(draw):
    properties = draw(st.dictionaries(names, subschemas, min_size=1, max_size=5))
    schema = strict_object(properties)
    if draw(st.booleans()):  # move one sub-schema into $defs and point at it (twice, to share it)
        schema["$defs"] = {"shared": draw(subschemas)}
        schema["properties"]["ref_one"] = {"$ref": "#/$defs/shared"}
        schema["properties"]["ref_two"] = {"type": "array", "items": {"$ref": "#/$defs/shared"}}
        schema["required"] = list(schema["properties"])
    if draw(st.booleans()):  # a recursive definition: a list of nodes, or an optional next node
        payload = draw(subschemas)
        recursion = draw(
            st.sampled_from(
                [
                    {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 3},
                    {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]},
                ]
            )
        )
        schema.setdefault("$defs", {})["node"] = strict_object({"payload": payload, "more": recursion})
        schema["properties"]["tree"] = {"$ref": "#/$defs/node"}
        schema["required"] = list(schema["properties"])
    return schema
