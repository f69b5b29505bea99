"""Schema-valid value generation: property-based over varied strict schemas, plus hand-written hard cases."""

from __future__ import annotations

import json
import random
import re

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchwright.server.json_schema_values import (
    DEFAULT_MAX_DEPTH,
    JsonSchemaError,
    check_strict_schema,
    compile_schema,
)
from batchwright.server.regex_values import regex_generator

from .schema_strategies import strict_object, strict_root_schemas

VALIDATOR = jsonschema.Draft202012Validator
FORMAT_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


def assert_generates_valid(schema: dict, draws: int = 20, seed: int = 0) -> list:
    generator = compile_schema(schema)
    validator = VALIDATOR(schema, format_checker=FORMAT_CHECKER)
    rng = random.Random(seed)
    values = []
    for _ in range(draws):
        value = generator.generate(rng)
        errors = list(validator.iter_errors(value))
        assert not errors, f"{json.dumps(value)} violates {json.dumps(schema)}: {errors[0].message}"
        values.append(value)
    return values


# ---- property-based: varied strict schemas -------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=strict_root_schemas(), seed=st.integers(0, 2**32))
def test_generated_values_validate_against_varied_strict_schemas(schema, seed):
    check_strict_schema(schema)
    assert_generates_valid(schema, draws=5, seed=seed)


# ---- hand-written cases ----------------------------------------------------------------------------------


def test_nested_defs_and_refs():
    schema = strict_object(
        {"owner": {"$ref": "#/$defs/person"}, "pets": {"type": "array", "items": {"$ref": "#/$defs/pet"}}}
    )
    schema["$defs"] = {
        "person": strict_object({"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}}),
        "address": strict_object(
            {"city": {"type": "string"}, "zip": {"type": "string", "pattern": r"^\d{5}$"}}
        ),
        "pet": strict_object(
            {"kind": {"enum": ["cat", "dog"]}, "age": {"type": "integer", "minimum": 0, "maximum": 30}}
        ),
    }
    check_strict_schema(schema)
    values = assert_generates_valid(schema, draws=50)
    assert {pet["kind"] for value in values for pet in value["pets"]} == {"cat", "dog"}


def depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def test_recursive_tree_is_finite_and_varied():
    node = strict_object(
        {"label": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}
    )
    schema = strict_object({"root": {"$ref": "#/$defs/node"}})
    schema["$defs"] = {"node": node}
    values = assert_generates_valid(schema, draws=200)
    depths = [depth(value) for value in values]
    assert max(depths) <= DEFAULT_MAX_DEPTH + 2  # bounded by the depth cap
    assert len(set(depths)) > 2  # and not always the same shape


def test_recursive_linked_list_via_anyof_and_root_ref():
    schema = strict_object(
        {"value": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}
    )
    values = assert_generates_valid(schema, draws=100)
    assert any(value["next"] is not None for value in values)
    assert any(value["next"] is None for value in values)


def test_recursion_without_finite_value_is_rejected():
    schema = strict_object({"next": {"$ref": "#"}})
    with pytest.raises(JsonSchemaError, match="no finite value"):
        compile_schema(schema)


def test_anyof_branches_are_all_used():
    schema = strict_object(
        {"x": {"anyOf": [{"type": "integer"}, {"type": "string", "format": "uuid"}, {"type": "null"}]}}
    )
    values = assert_generates_valid(schema, draws=60)
    assert {type(value["x"]).__name__ for value in values} == {"int", "str", "NoneType"}


def test_array_bounds_unique_items_and_const():
    schema = strict_object(
        {
            "tags": {
                "type": "array",
                "items": {"enum": ["a", "b", "c", "d"]},
                "minItems": 2,
                "maxItems": 3,
                "uniqueItems": True,
            },
            "version": {"const": 2},
            "empty": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
        }
    )
    values = assert_generates_valid(schema, draws=50)
    assert {len(value["tags"]) for value in values} == {2, 3}


def test_numbers_respect_bounds_and_multiples():
    schema = strict_object(
        {
            "pct": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "even": {"type": "integer", "multipleOf": 2, "minimum": 3, "maximum": 9},
            "neg": {"type": "integer", "maximum": -5},
            "half": {"type": "number", "multipleOf": 0.5, "minimum": 1, "maximum": 2},
        }
    )
    values = assert_generates_valid(schema, draws=100)
    assert {value["even"] for value in values} == {4, 6, 8}


def test_unsatisfiable_bounds_are_rejected():
    with pytest.raises(JsonSchemaError):
        compile_schema({"type": "integer", "minimum": 5, "maximum": 3})
    with pytest.raises(JsonSchemaError):
        compile_schema({"type": "integer", "multipleOf": 10, "minimum": 1, "maximum": 9})


def test_non_strict_schema_optional_properties_and_allof():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "required": ["a"],
        "allOf": [{"properties": {"c": {"type": "boolean"}}, "required": ["c"]}],
    }
    values = assert_generates_valid(schema, draws=40)
    assert any("b" in value for value in values) and any("b" not in value for value in values)


@pytest.mark.parametrize(
    "pattern",
    [r"^\d{3}-\d{4}$", r"^[A-Z][a-z]+ (Jr|Sr)\.?$", r"[^abc]{2,5}x", r"^#[0-9a-fA-F]{6}$", r"^\S+\s\W$"],
)
def test_regex_generator_matches(pattern):
    draw = regex_generator(pattern)
    rng = random.Random(3)
    assert all(re.search(pattern, draw(rng)) for _ in range(100))


def test_invalid_pattern_is_a_schema_error():
    with pytest.raises(JsonSchemaError, match="pattern"):
        compile_schema({"type": "string", "pattern": "(unclosed"})


def test_missing_reference_is_a_schema_error():
    with pytest.raises(JsonSchemaError, match="#/\\$defs/nope"):
        compile_schema(strict_object({"x": {"$ref": "#/$defs/nope"}}))


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            "In context=(), 'additionalProperties' is required to be supplied and to be false.",
        ),
        (
            strict_object(
                {"inner": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": []}}
            ),
            "In context=('properties', 'inner'), 'additionalProperties' is required",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {}, "b": {}},
                "required": ["a"],
                "additionalProperties": False,
            },
            "an array including every key in properties. Missing 'b'.",
        ),
        (
            {"type": "array", "items": {"type": "string"}},
            "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"array\"'.",
        ),
        (
            {
                **strict_object({"x": {"$ref": "#/$defs/d"}}),
                "$defs": {"d": {"type": "object", "properties": {}}},
            },
            "In context=('$defs', 'd'), 'additionalProperties'",
        ),
    ],
)
def test_strict_mode_rejections(schema, expected):
    with pytest.raises(JsonSchemaError) as caught:
        check_strict_schema(schema)
    assert expected in caught.value.message


def test_same_seed_same_value_different_seed_different():
    schema = strict_object(
        {
            "a": {"type": "string"},
            "b": {"type": "number"},
            "c": {"type": "array", "items": {"type": "integer"}},
        }
    )
    generator = compile_schema(schema)
    assert generator.generate(random.Random(7)) == generator.generate(random.Random(7))
    assert len({json.dumps(generator.generate(random.Random(seed))) for seed in range(20)}) > 15
