"""Input tokens of a Responses API request (``/v1/responses``).

The Responses API renders into the same chat format as chat completions, so the same rules apply
(:mod:`batchwright.tokens.chat`):

* ``instructions`` is a developer message, a string ``input`` one user message; each input item costs the
  per-message overhead of 3 plus its role and content;
* ``function_call`` items cost name + arguments + 3, ``function_call_output`` items their output + 3,
  ``reasoning`` items the text of their summaries + 3 (encrypted reasoning content is not knowable);
* content parts: ``input_text``/``output_text``/``refusal`` count their text, ``input_image`` the image rule
  (a ``file_id`` image counts as the largest size), ``input_file`` and ``input_audio`` count 0 (see the chat
  module), other parts the tokens of their JSON;
* function tools and ``text.format`` JSON schemas are rendered like chat's ``tools`` and ``response_format``;
  built-in tools (web search, file search, ...) add hidden prompts that are not published and count 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchwright.errors import InputError
from batchwright.tokens.chat import SYSTEM_ROLES
from batchwright.tokens.counter import TokenCounter, entries

_TEXT_PARTS = {"input_text": "text", "output_text": "text", "refusal": "refusal", "text": "text"}
_UNCOUNTED_PARTS = frozenset(("input_file", "input_audio"))


def _content_tokens(counter: TokenCounter, content: Any) -> int:
    if isinstance(content, str):
        return counter.text(content)
    if not isinstance(content, list):
        return counter.any_text(content)
    total = 0
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS:
            total += counter.text(part.get(_TEXT_PARTS[kind]) or "")
        elif kind == "input_image":
            total += counter.image(part.get("image_url"), part.get("detail"))
        elif kind not in _UNCOUNTED_PARTS:
            total += counter.any_text(part)
    return total


def _item_tokens(counter: TokenCounter, item: Any) -> int:
    per_message = counter.profile.tokens_per_message
    if not isinstance(item, dict):
        raise InputError("Every entry of a Responses 'input' list must be an object (an input item).")
    kind = item.get("type", "message")
    if kind == "message" or ("role" in item and "type" not in item):
        role = str(item.get("role", "user"))
        return per_message + counter.short(role) + _content_tokens(counter, item.get("content"))
    if kind == "function_call":
        return (
            counter.short(str(item.get("name", ""))) + counter.any_text(item.get("arguments")) + per_message
        )
    if kind in ("function_call_output", "custom_tool_call_output"):
        return counter.any_text(item.get("output")) + per_message
    if kind == "reasoning":
        summary = entries(item.get("summary"), "summary")
        return sum(counter.text(s.get("text") or "") for s in summary if isinstance(s, dict)) + per_message
    if kind == "item_reference":
        return per_message
    return (
        counter.any_text({k: v for k, v in item.items() if k not in ("id", "call_id", "status")})
        + per_message
    )


def _functions(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        t for t in entries(body.get("tools"), "tools") if isinstance(t, dict) and t.get("type") == "function"
    ]


def _response_format(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return fmt
    return None


def count_responses_input(counter: TokenCounter, body: Mapping[str, Any]) -> int:
    """Input tokens of a Responses API request body."""
    profile = counter.profile
    instructions = body.get("instructions")
    items = body.get("input")
    if items is None and not instructions:
        raise InputError("A Responses request needs 'input' (a string or a list of input items).")
    total = profile.reply_priming
    has_system = bool(instructions)
    if isinstance(instructions, str) and instructions:
        total += profile.tokens_per_message + counter.short("developer") + counter.text(instructions)
    if isinstance(items, str):
        total += profile.tokens_per_message + counter.short("user") + counter.text(items)
    elif isinstance(items, list):
        for item in items:
            total += _item_tokens(counter, item)
            has_system = has_system or (isinstance(item, dict) and item.get("role") in SYSTEM_ROLES)
    elif items is not None:
        raise InputError("A Responses 'input' must be a string or a list of input items.")
    total += counter.hidden_sections(_functions(body), _response_format(body), has_system)
    total += counter.tool_choice(body.get("tool_choice"))
    return total
