"""Pydantic response models → strict JSON-schema formats (public SDK helper) and back."""

from __future__ import annotations

import pydantic
import pytest

from batchwright.engine.structured import ResponseModels
from batchwright.errors import ConfigError, InputError


class Inner(pydantic.BaseModel):
    value: int


class Record(pydantic.BaseModel):
    name: str
    tags: list[str]
    inner: Inner | None = None


def test_chat_format_is_strict_json_schema():
    models = ResponseModels()
    name = models.register(Record)
    body = models.apply(name, "/v1/chat/completions", {"model": "m", "messages": []})
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"name", "tags", "inner"}  # strict mode: every property required
    assert "Inner" in schema["$defs"]


def test_responses_format_goes_into_text_format():
    models = ResponseModels()
    name = models.register(Record)
    body = models.apply(name, "/v1/responses", {"model": "m", "input": "x", "text": {"verbosity": "low"}})
    assert body["text"]["verbosity"] == "low"
    assert body["text"]["format"]["type"] == "json_schema" and body["text"]["format"]["name"] == "Record"


def test_conflicts_and_unsupported_endpoints_are_input_errors():
    models = ResponseModels()
    name = models.register(Record)
    with pytest.raises(InputError, match="both"):
        models.apply(name, "/v1/chat/completions", {"model": "m", "response_format": {"type": "text"}})
    with pytest.raises(InputError, match="only supported"):
        models.apply(name, "/v1/embeddings", {"model": "m", "input": "x"})
    other = type("Record", (pydantic.BaseModel,), {"__annotations__": {"x": int}})
    with pytest.raises(InputError, match="named 'Record'"):
        models.register(other)
    with pytest.raises(ConfigError, match="has not registered"):
        ResponseModels().get("Record")
