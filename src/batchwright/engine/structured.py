"""Structured outputs: pydantic models in, strict JSON-schema formats out, responses parsed back.

The strict schema comes from the SDK's public ``openai.lib.type_to_response_format_param`` (no private
module). Models are registered by name so results can be parsed back after a restart.
"""

from __future__ import annotations

from typing import Any

import pydantic
from openai.lib import type_to_response_format_param

from batchwright.errors import ConfigError, InputError


class ResponseModels:
    """The pydantic response models known to an engine, by schema name."""

    def __init__(self) -> None:
        self._models: dict[str, type[pydantic.BaseModel]] = {}
        self._formats: dict[str, dict[str, Any]] = {}

    def register(self, model: type[pydantic.BaseModel]) -> str:
        """Register ``model`` and return its schema name (two different classes may not share a name)."""
        name = model.__name__
        known = self._models.get(name)
        if known is None:
            if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
                raise InputError(f"response_model {model!r} is not a pydantic model class.")
            self._models[name] = model
            self._formats[name] = type_to_response_format_param(model)  # type: ignore[assignment]
        elif known is not model:
            raise InputError(
                f"Two different response models are both named {name!r}.",
                remedy="Rename one of the classes: the class name is the schema name sent to the API.",
            )
        return name

    def get(self, name: str) -> type[pydantic.BaseModel]:
        """The model registered as ``name``; ``ConfigError`` if this session does not know it."""
        try:
            return self._models[name]
        except KeyError:
            raise ConfigError(
                f"Results need the response model {name!r}, which this run has not registered.",
                remedy="Pass it to Engine(response_models=[...]) (the task layer does this for its models).",
            ) from None

    def apply(self, name: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``body`` with the strict output format of model ``name`` set for endpoint ``url``."""
        fmt = self._formats[name]
        if url == "/v1/chat/completions":
            if "response_format" in body:
                raise InputError("A request sets both response_model and body['response_format'].")
            return {**body, "response_format": fmt}
        if url == "/v1/responses":
            text = dict(body.get("text") or {})
            if "format" in text:
                raise InputError("A request sets both response_model and body['text']['format'].")
            text["format"] = {"type": "json_schema", **fmt["json_schema"]}
            return {**body, "text": text}
        raise InputError(f"response_model is only supported on chat completions and responses, not {url}.")


def output_text(url: str, body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The model's text output of a response ``body`` and a problem code (``truncated``/``empty``/None)."""
    if url == "/v1/chat/completions":
        choices = body.get("choices") or []
        if not choices:
            return None, "empty"
        choice = choices[0]
        message = choice.get("message") or {}
        content = message.get("content")
        if choice.get("finish_reason") == "length":
            return content, "truncated"
        if not content and not message.get("tool_calls") and not message.get("function_call"):
            return None, "refusal" if message.get("refusal") else "empty"
        return content, None
    if url == "/v1/responses":
        if body.get("status") == "incomplete":
            return None, "truncated"
        texts = [
            part.get("text", "")
            for item in body.get("output") or []
            if item.get("type") == "message"
            for part in item.get("content") or []
            if part.get("type") == "output_text"
        ]
        if not texts:
            has_calls = any(item.get("type") == "function_call" for item in body.get("output") or [])
            return None, None if has_calls else "empty"
        return "".join(texts), None
    if url == "/v1/completions":
        choices = body.get("choices") or []
        if not choices:
            return None, "empty"
        if choices[0].get("finish_reason") == "length":
            return choices[0].get("text"), "truncated"
        return choices[0].get("text"), None if choices[0].get("text") else "empty"
    if url == "/v1/embeddings":
        return None, None if body.get("data") else "empty"
    return None, None


def parse_output(model: type[pydantic.BaseModel], text: str | None) -> pydantic.BaseModel:
    """Parse ``text`` into ``model``; raises ``ValueError`` (JSON) or ``pydantic.ValidationError``."""
    if text is None:
        raise ValueError("no text output to parse")
    return model.model_validate_json(text)
