"""Values that validate against a JSON Schema, as OpenAI's structured outputs produce them.

``compile_schema(schema)`` turns a schema into a :class:`ValueGenerator` once (compile cost is paid once per
schema; callers cache the generator); ``ValueGenerator.generate(rng)`` then draws a valid value.
``check_strict_schema(schema)`` applies the rules OpenAI's strict mode enforces before it accepts a schema.

Supported: objects (properties, required, additionalProperties), arrays (items, minItems, maxItems,
uniqueItems), enum, const, ``$ref`` (JSON pointers into ``$defs``/``definitions``, recursion included:
past a depth cap each choice takes the branch with the shortest way to a finite value), anyOf/oneOf,
allOf (merged), type lists, strings (minLength, maxLength, common formats, regex patterns), numbers and
integers (minimum, maximum, exclusive bounds, multipleOf), booleans, null.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Callable
from typing import Any

from batchwright.errors import InputError
from batchwright.server.regex_values import regex_generator

DEFAULT_MAX_DEPTH = 6
"""Nesting depth after which generation takes the shortest way to a finite value."""

_WORDS = [
    *("alpha", "bravo", "cedar", "delta", "ember", "fable", "garnet", "harbor", "island", "juniper"),
    *("kestrel", "lumen", "meadow", "nectar", "orchid", "pebble", "quartz", "river", "saffron"),
    *("timber", "umber", "violet", "willow", "xenon", "yarrow", "zephyr"),
]


class JsonSchemaError(InputError):
    """A schema that cannot be used: invalid, unsatisfiable, or rejected by OpenAI's strict mode."""

    def __init__(self, reason: str, context: tuple[str, ...] | None = ()) -> None:
        self.reason = reason
        self.context = context
        super().__init__(reason if context is None else f"In context={context!r}, {reason}")


class _Node:
    """One compiled schema; ``height`` is the nesting needed to reach a finite value (inf: none)."""

    height: float = 0.0

    def children(self) -> list[_Node]:
        return []

    def compute_height(self) -> float:
        return 0.0

    def generate(self, rng: random.Random, depth_left: int) -> Any:
        raise NotImplementedError


class _Const(_Node):
    def __init__(self, value: Any) -> None:
        self.value = value

    def generate(self, rng: random.Random, depth_left: int) -> Any:
        return self.value


class _Enum(_Node):
    def __init__(self, values: list[Any]) -> None:
        self.values = values

    def generate(self, rng: random.Random, depth_left: int) -> Any:
        return self.values[rng.randrange(len(self.values))]


class _Leaf(_Node):
    def __init__(self, draw: Callable[[random.Random], Any]) -> None:
        self.draw = draw

    def generate(self, rng: random.Random, depth_left: int) -> Any:
        return self.draw(rng)


class _Choice(_Node):
    """anyOf / oneOf / a list of types: one branch per value (a choice counts as a nesting level, so every
    recursion spends depth: a cycle of references always passes an object, an array or a choice)."""

    def __init__(self, branches: list[_Node]) -> None:
        self.branches = branches
        self.height = math.inf

    def children(self) -> list[_Node]:
        return self.branches

    def compute_height(self) -> float:
        return min(branch.height for branch in self.branches)

    def generate(self, rng: random.Random, depth_left: int) -> Any:
        if depth_left <= 0:
            branch = min(self.branches, key=lambda b: b.height)
        else:
            finite = [b for b in self.branches if b.height < math.inf]
            branch = finite[rng.randrange(len(finite))]
        return branch.generate(rng, depth_left - 1)


class _Ref(_Node):
    """A ``$ref``; its target is filled in after compiling, which is what makes recursion possible."""

    def __init__(self) -> None:
        self.target: _Node = _Node()
        self.height = math.inf

    def children(self) -> list[_Node]:
        return [self.target]

    def compute_height(self) -> float:
        return self.target.height + 1

    def generate(self, rng: random.Random, depth_left: int) -> Any:
        return self.target.generate(rng, depth_left)


class _Object(_Node):
    def __init__(self, properties: list[tuple[str, _Node]], required: frozenset[str]) -> None:
        self.properties = properties
        self.required = required
        self.height = math.inf

    def children(self) -> list[_Node]:
        return [node for _, node in self.properties]

    def compute_height(self) -> float:
        return 1 + max((n.height for k, n in self.properties if k in self.required), default=0)

    def generate(self, rng: random.Random, depth_left: int) -> Any:
        value = {}
        for key, node in self.properties:
            if key in self.required or (depth_left > 0 and rng.random() < 0.5):
                value[key] = node.generate(rng, depth_left - 1)
        return value


class _Array(_Node):
    def __init__(self, items: _Node, min_items: int, max_items: int | None, unique: bool) -> None:
        self.items = items
        self.min_items = min_items
        self.max_items = max_items
        self.unique = unique
        self.height = math.inf

    def children(self) -> list[_Node]:
        return [self.items]

    def compute_height(self) -> float:
        return 0 if self.min_items == 0 else 1 + self.items.height

    def generate(self, rng: random.Random, depth_left: int) -> Any:
        count = self.min_items
        if depth_left > 0:
            upper = self.min_items + 3 if self.max_items is None else min(self.max_items, self.min_items + 3)
            count = rng.randint(self.min_items, upper)
        if not self.unique:
            return [self.items.generate(rng, depth_left - 1) for _ in range(count)]
        values: dict[str, Any] = {}
        for _ in range(count * 8):
            if len(values) == count:
                break
            item = self.items.generate(rng, depth_left - 1)
            values.setdefault(json.dumps(item, sort_keys=True), item)
        return list(values.values())


class ValueGenerator:
    """A compiled schema: ``generate(rng)`` returns a value valid against it."""

    def __init__(self, root: _Node, max_depth: int) -> None:
        self._root = root
        self._max_depth = max_depth

    def generate(self, rng: random.Random) -> Any:
        """A value drawn with ``rng`` that validates against the schema."""
        return self._root.generate(rng, self._max_depth)


def compile_schema(schema: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> ValueGenerator:
    """Compile ``schema`` (a JSON Schema dict); raises :class:`JsonSchemaError` if it has no finite value."""
    compiler = _Compiler(schema)
    root = compiler.compile(schema, ())
    _settle_heights(compiler.nodes)
    if root.height == math.inf:
        raise JsonSchemaError("the schema has no finite value: every path recurses forever.")
    return ValueGenerator(root, max_depth)


def _settle_heights(nodes: list[_Node]) -> None:
    """Least fixpoint of the heights (each pass can only lower them; a pass without change ends it)."""
    changed = True
    while changed:
        changed = False
        for node in nodes:
            height = node.compute_height()
            if height < node.height:
                node.height = height
                changed = True


class _Compiler:
    def __init__(self, root_schema: Any) -> None:
        self.root_schema = root_schema
        self.refs: dict[str, _Ref] = {}
        self.nodes: list[_Node] = []

    def compile(self, schema: Any, path: tuple[str, ...]) -> _Node:
        node = self._compile(schema, path)
        self.nodes.append(node)
        return node

    def _compile(self, schema: Any, path: tuple[str, ...]) -> _Node:
        if schema is True:
            schema = {}
        if not isinstance(schema, dict):
            raise JsonSchemaError("a schema must be a JSON object.", path)
        if "$ref" in schema:
            return self._ref(schema["$ref"], path)
        if "const" in schema:
            return _Const(schema["const"])
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list) or not values:
                raise JsonSchemaError("'enum' must be a non-empty array.", path)
            return _Enum(values)
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                branches = schema[keyword]
                if not isinstance(branches, list) or not branches:
                    raise JsonSchemaError(f"'{keyword}' must be a non-empty array.", path)
                return _Choice([self.compile(b, (*path, keyword, str(i))) for i, b in enumerate(branches)])
        if "allOf" in schema:
            return self.compile(_merge_all_of(schema, path), path)
        kind = schema.get("type")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else None
        if isinstance(kind, list):
            if not kind:
                raise JsonSchemaError("'type' must not be an empty array.", path)
            return _Choice([self.compile({**schema, "type": k}, path) for k in kind])
        if kind is None:
            return _Leaf(lambda rng: rng.choice(_WORDS))
        if kind == "object":
            return self._object(schema, path)
        if kind == "array":
            return self._array(schema, path)
        if kind == "string":
            return _Leaf(_string_drawer(schema, path))
        if kind in ("number", "integer"):
            return _Leaf(_number_drawer(schema, kind == "integer", path))
        if kind == "boolean":
            return _Leaf(lambda rng: rng.random() < 0.5)
        if kind == "null":
            return _Const(None)
        raise JsonSchemaError(f"unknown type {kind!r}.", path)

    def _ref(self, pointer: Any, path: tuple[str, ...]) -> _Node:
        if pointer in self.refs:
            return self.refs[pointer]
        if not isinstance(pointer, str) or not (pointer == "#" or pointer.startswith("#/")):
            raise JsonSchemaError(f"only local references ('#/...') are supported, got {pointer!r}.", path)
        target: Any = self.root_schema
        for part in pointer[2:].split("/") if pointer != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                reason = f"reference to component '{pointer}' which was not found in the schema."
                raise JsonSchemaError(reason)
        ref = self.refs[pointer] = _Ref()
        self.nodes.append(ref)
        ref.target = self.compile(target, tuple(pointer[2:].split("/")) if pointer != "#" else ())
        return ref

    def _object(self, schema: dict[str, Any], path: tuple[str, ...]) -> _Node:
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        if not isinstance(properties, dict) or not isinstance(required, list):
            raise JsonSchemaError("'properties' must be an object and 'required' an array.", path)
        missing = [key for key in required if key not in properties]
        if missing and schema.get("additionalProperties") is False:
            raise JsonSchemaError(f"required key {missing[0]!r} is not among the properties.", path)
        compiled = [(key, self.compile(sub, (*path, "properties", key))) for key, sub in properties.items()]
        # A required key without a property schema (additional properties allowed): any string will do.
        compiled += [(key, _Leaf(lambda rng: rng.choice(_WORDS))) for key in missing]
        return _Object(compiled, frozenset(required))

    def _array(self, schema: dict[str, Any], path: tuple[str, ...]) -> _Node:
        min_items = schema.get("minItems", 0)
        max_items = schema.get("maxItems")
        if max_items is not None and max_items < min_items:
            raise JsonSchemaError(f"'maxItems' ({max_items}) is below 'minItems' ({min_items}).", path)
        items = self.compile(schema.get("items", {}), (*path, "items"))
        return _Array(items, min_items, max_items, bool(schema.get("uniqueItems")))


def _merge_all_of(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    merged = {key: value for key, value in schema.items() if key != "allOf"}
    for part in schema["allOf"]:
        if not isinstance(part, dict) or "$ref" in part:
            raise JsonSchemaError("'allOf' is supported only with inline object schemas.", path)
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


_FORMATS: dict[str, Callable[[random.Random], str]] = {
    "date-time": lambda r: (
        f"20{r.randint(10, 29)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T"
        f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z"
    ),
    "date": lambda r: f"20{r.randint(10, 29)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    "time": lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z",
    "duration": lambda r: f"P{r.randint(1, 30)}DT{r.randint(0, 23)}H",
    "email": lambda r: f"{r.choice(_WORDS)}{r.randint(1, 99)}@example.com",
    "hostname": lambda r: f"{r.choice(_WORDS)}.example.com",
    "ipv4": lambda r: ".".join(str(r.randint(1, 254)) for _ in range(4)),
    "ipv6": lambda r: ":".join(f"{r.randint(0, 0xFFFF):x}" for _ in range(8)),
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "uri": lambda r: f"https://{r.choice(_WORDS)}.example.com/{r.choice(_WORDS)}",
}


def _words(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4)))


def _string_drawer(schema: dict[str, Any], path: tuple[str, ...]) -> Callable[[random.Random], str]:
    if "pattern" in schema:
        try:
            return regex_generator(schema["pattern"])
        except ValueError as exc:
            raise JsonSchemaError(f"invalid 'pattern': {exc}.", path) from exc
    fmt = schema.get("format")
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    min_length = schema.get("minLength", 0)
    max_length = schema.get("maxLength")
    if max_length is not None and max_length < min_length:
        raise JsonSchemaError(f"'maxLength' ({max_length}) is below 'minLength' ({min_length}).", path)
    if min_length == 0 and max_length is None:
        return _words

    def draw(rng: random.Random) -> str:
        text = _words(rng)
        while len(text) < min_length:
            text += " " + rng.choice(_WORDS)
        return text if max_length is None else text[:max_length]

    return draw


def _number_drawer(
    schema: dict[str, Any], integer: bool, path: tuple[str, ...]
) -> Callable[[random.Random], Any]:
    low, high = schema.get("minimum"), schema.get("maximum")
    exclusive_low, exclusive_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    step = schema.get("multipleOf", 1 if integer else None)
    if step is not None and (not isinstance(step, (int, float)) or step <= 0):
        raise JsonSchemaError("'multipleOf' must be a positive number.", path)
    if low is None and high is None and exclusive_low is None and exclusive_high is None:
        low, high = 0, 100
    if step is not None:  # a grid of multiples k * step, k in [k_low, k_high]
        k_low = _grid_bound(low, exclusive_low, step, up=True)
        k_high = _grid_bound(high, exclusive_high, step, up=False)
        if k_low is None:
            k_low = k_high - 100 if k_high is not None else 0
        if k_high is None:
            k_high = k_low + 100
        if k_low > k_high:
            raise JsonSchemaError("no number satisfies the bounds and 'multipleOf'.", path)
        as_int = integer or isinstance(step, int)
        return lambda rng: (int if as_int else float)(rng.randint(k_low, k_high) * step)
    lower = low if low is not None else exclusive_low
    upper = high if high is not None else exclusive_high
    lower = upper - 100 if lower is None else lower
    upper = lower + 100 if upper is None else upper
    if lower > upper or (lower == upper and (exclusive_low is not None or exclusive_high is not None)):
        raise JsonSchemaError("no number satisfies the bounds.", path)

    def draw(rng: random.Random) -> float:
        value = round(rng.uniform(lower, upper), 2)
        if not lower <= value <= upper or value in (exclusive_low, exclusive_high):
            value = (lower + upper) / 2
        return value

    return draw


def _grid_bound(inclusive: Any, exclusive: Any, step: float, *, up: bool) -> int | None:
    """The smallest (``up``) or largest multiple index of ``step`` inside the given bound(s)."""
    bounds = []
    if inclusive is not None:
        bounds.append(math.ceil(inclusive / step) if up else math.floor(inclusive / step))
    if exclusive is not None:
        bounds.append(math.floor(exclusive / step) + 1 if up else math.ceil(exclusive / step) - 1)
    if not bounds:
        return None
    return max(bounds) if up else min(bounds)


def check_strict_schema(schema: Any) -> None:
    """Reject ``schema`` like OpenAI's strict mode (object root; every object closed, all keys required)."""
    if not isinstance(schema, dict):
        raise JsonSchemaError("schema must be a JSON object.", None)
    root_type = schema.get("type")
    if root_type != "object":
        got = "None" if root_type is None else json.dumps(root_type)
        raise JsonSchemaError(f"schema must be a JSON Schema of 'type: \"object\"', got 'type: {got}'.", None)
    _check_strict(schema, ())


def _check_strict(schema: Any, path: tuple[str, ...]) -> None:
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            _check_strict(item, (*path, str(index)))
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            raise JsonSchemaError("'additionalProperties' is required to be supplied and to be false.", path)
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        missing = [key for key in properties if key not in required]
        if missing:
            raise JsonSchemaError(
                "'required' is required to be supplied and to be an array including every key in "
                f"properties. Missing '{missing[0]}'.",
                path,
            )
        extra = [key for key in required if key not in properties]
        if extra:
            raise JsonSchemaError(f"Extra required key '{extra[0]}' supplied.", path)
    for key in ("properties", "$defs", "definitions"):
        for name, sub in schema.get(key, {}).items():
            _check_strict(sub, (*path, key, name))
    for key in ("items", "anyOf", "allOf"):
        if key in schema:
            _check_strict(schema[key], (*path, key))
