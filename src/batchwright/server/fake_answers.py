"""What the fake model says: plain text, JSON for a schema or ``json_object``, or a tool call.

:class:`AnswerPlanner` reads a chat-completions or Responses body once, decides the kind of answer (a tool
call when the tool choice requires one, or by a coin toss under ``auto``; otherwise schema JSON, a JSON
object or text) and returns a function drawing one answer from a ``random.Random``. Compiled schemas are
cached, so repeated schemas cost nothing to compile; a schema OpenAI would reject answers 400 with the real
message.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from batchwright.server.api_errors import APIError
from batchwright.server.json_schema_values import (
    JsonSchemaError,
    ValueGenerator,
    check_strict_schema,
    compile_schema,
)

_VOCABULARY = (
    "the",
    "batch",
    "model",
    "answer",
    "request",
    "token",
    "output",
    "input",
    "result",
    "value",
    "system",
    "data",
    "local",
    "server",
    "quiet",
    "river",
    "stone",
    "light",
    "field",
    "garden",
    "window",
    "morning",
    "paper",
    "signal",
    "number",
    "record",
    "table",
    "reply",
    "clear",
    "simple",
    "careful",
    "steady",
    "useful",
    "small",
    "large",
    "early",
    "later",
    "every",
    "other",
    "first",
    "last",
    "many",
    "few",
)
_SCHEMA_CACHE_SIZE = 1024
_EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class Answer:
    """One drawn answer: ``text`` is the message content, or the JSON arguments of tool ``tool_name``."""

    text: str
    tool_name: str | None = None


@dataclass(frozen=True)
class _Tool:
    name: str
    parameters: dict[str, Any]
    strict: bool
    param: str


class AnswerPlanner:
    """Turns request bodies into answer drawers, caching compiled schemas."""

    def __init__(self, *, echo: bool = False) -> None:
        self._echo = echo
        self._schemas: dict[str, ValueGenerator | JsonSchemaError] = {}

    def plan(self, url: str, body: dict[str, Any], rng: random.Random) -> Callable[[random.Random], Answer]:
        """The drawer for ``body`` (``rng`` decides between tool call and text under ``tool_choice=auto``)."""
        responses = url == "/v1/responses"
        tools = _function_tools(body, responses)
        tool = _chosen_tool(tools, body.get("tool_choice"), _after_tool_result(body, responses), rng)
        if tool is not None:
            generator = self._compile(
                tool.parameters, tool.strict, f"function '{tool.name}'", tool.param, True
            )
            return lambda r: Answer(_dump(generator.generate(r)), tool.name)
        fmt = _response_format(body, responses)
        if fmt.get("type") == "json_schema":
            name = fmt.get("name", "response")
            schema = fmt.get("schema", _EMPTY_OBJECT_SCHEMA)
            param = "text.format.schema" if responses else "response_format"
            generator = self._compile(
                schema, fmt.get("strict") is True, f"response_format '{name}'", param, False
            )
            return lambda r: Answer(_dump(generator.generate(r)))
        if fmt.get("type") == "json_object":
            return lambda r: Answer(
                _dump({word: _sentence(r) for word in r.sample(_VOCABULARY, r.randint(1, 4))})
            )
        if self._echo:
            echoed = _last_user_text(body, responses)
            return lambda r: Answer(echoed)
        return lambda r: Answer(pseudo_text(r))

    def _compile(self, schema: Any, strict: bool, what: str, param: str, is_tool: bool) -> ValueGenerator:
        key = repr((schema, strict))  # unambiguous for JSON values; cheaper than canonical JSON
        compiled = self._schemas.get(key)
        if compiled is None:
            try:
                if strict:
                    check_strict_schema(schema)
                compiled = compile_schema(schema)
            except JsonSchemaError as exc:
                compiled = exc
            if len(self._schemas) >= _SCHEMA_CACHE_SIZE:
                self._schemas.pop(next(iter(self._schemas)))
            self._schemas[key] = compiled
        if isinstance(compiled, JsonSchemaError):
            code = "invalid_function_parameters" if is_tool else "invalid_json_schema"
            raise APIError(400, f"Invalid schema for {what}: {compiled.message}", param=param, code=code)
        return compiled


def pseudo_text(rng: random.Random) -> str:
    """Deterministic filler prose: two to six sentences of five to thirteen common words."""
    random_float = rng.random
    lengths = [5 + int(random_float() * 9) for _ in range(2 + int(random_float() * 5))]
    words = rng.choices(_VOCABULARY, k=sum(lengths))
    sentences, start = [], 0
    for length in lengths:
        sentences.append(" ".join(words[start : start + length]).capitalize() + ".")
        start += length
    return " ".join(sentences)


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(_VOCABULARY, k=5 + int(rng.random() * 9))).capitalize() + "."


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _function_tools(body: dict[str, Any], responses: bool) -> list[_Tool]:
    tools = []
    for index, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue
        spec = tool if responses else tool.get("function", {})
        param = f"tools[{index}].parameters" if responses else f"tools[{index}].function.parameters"
        parameters = spec.get("parameters") or _EMPTY_OBJECT_SCHEMA
        tools.append(_Tool(str(spec.get("name", "")), parameters, spec.get("strict") is True, param))
    return tools


def _chosen_tool(tools: list[_Tool], choice: Any, after_result: bool, rng: random.Random) -> _Tool | None:
    """The tool to call: forced by the choice, or under ``auto`` a coin toss (never right after a result)."""
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        name = choice.get("name") or choice.get("function", {}).get("name")
        return next((tool for tool in tools if tool.name == name), None)
    if choice == "required" or (not after_result and rng.random() < 0.5):
        return tools[rng.randrange(len(tools))]
    return None


def _after_tool_result(body: dict[str, Any], responses: bool) -> bool:
    """Whether the conversation ends with a tool's result (then ``auto`` answers in text, as models do)."""
    items = body.get("input") if responses else body.get("messages")
    if not isinstance(items, list) or not items or not isinstance(items[-1], dict):
        return False
    last = items[-1]
    return last.get("type") == "function_call_output" if responses else last.get("role") == "tool"


def _response_format(body: dict[str, Any], responses: bool) -> dict[str, Any]:
    if responses:
        fmt = (body.get("text") or {}).get("format") or {}
        return fmt if isinstance(fmt, dict) else {}
    fmt = body.get("response_format") or {}
    if not isinstance(fmt, dict):
        return {}
    if fmt.get("type") == "json_schema":  # chat nests name/schema/strict one level deeper
        return {"type": "json_schema", **(fmt.get("json_schema") or {})}
    return fmt


def _last_user_text(body: dict[str, Any], responses: bool) -> str:
    items = body.get("input") if responses else body.get("messages")
    if isinstance(items, str):
        return items
    for item in reversed(items or []):
        if isinstance(item, dict) and item.get("role") == "user":
            return _text_of(item.get("content"))
    return ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""
