"""Input tokens of a chat completions request (``/v1/chat/completions``).

Rules (OpenAI cookbook "How to count tokens with tiktoken", ``num_tokens_from_messages``): every message
costs 3 tokens plus its role and content, a ``name`` adds its tokens plus 1, and every reply is primed
with 3 tokens.
Function-calling adjustments from hmarr/openai-chat-tokens (fitted against the API): with functions present
the first system message gains a trailing newline; a ``function`` role message costs 2 fewer; a legacy
``function_call`` in an assistant message costs its name, arguments and 3 (we apply the same to each entry
of ``tool_calls``). Tools and ``response_format`` schemas: :mod:`batchwright.tokens.schemas`.

Content parts: ``text`` and ``refusal`` parts count their text (each part encoded separately); ``image_url``
parts count by the image rule; ``input_audio`` and ``file`` parts are recognised and count 0 here (the API
bills audio as audio tokens and extracts file text server-side: neither is knowable from the request);
unknown part types count the tokens of their JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchwright.errors import InputError
from batchwright.tokens.counter import TokenCounter, entries

SYSTEM_ROLES = frozenset(("system", "developer"))
_UNCOUNTED_PARTS = frozenset(("input_audio", "file"))


def content_tokens(counter: TokenCounter, content: Any) -> int:
    """Tokens of a message's ``content``: a string, ``None`` or a list of parts."""
    if isinstance(content, str):
        return counter.text(content)
    if content is None:
        return 0
    if not isinstance(content, list):
        raise InputError(
            f"A message content must be a string or a list of parts, not {type(content).__name__}.",
            remedy="See the chat completions API reference for the message format.",
        )
    total = 0
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            total += counter.text(part.get("text") or "")
        elif kind == "image_url":
            image = part.get("image_url")
            image = image if isinstance(image, dict) else {"url": image}
            total += counter.image(image.get("url"), image.get("detail"))
        elif kind == "refusal":
            total += counter.text(part.get("refusal") or "")
        elif kind not in _UNCOUNTED_PARTS:
            total += counter.any_text(part)
    return total


def chat_functions(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The function definitions of ``tools`` (function tools) and the legacy ``functions`` parameter."""
    functions = [
        tool["function"]
        for tool in entries(body.get("tools"), "tools")
        if isinstance(tool, dict)
        and tool.get("type", "function") == "function"
        and isinstance(tool.get("function"), dict)
    ]
    functions.extend(f for f in entries(body.get("functions"), "functions") if isinstance(f, dict))
    return functions


def chat_response_format(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``{"name", "description", "schema"}`` of a ``json_schema`` response format, else ``None``."""
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema")
        return schema if isinstance(schema, dict) else {}
    return None


def count_chat_input(counter: TokenCounter, body: Mapping[str, Any]) -> int:
    """Prompt tokens of a chat completions request body."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InputError(
            "A chat completions request needs a non-empty 'messages' list.",
            remedy="Add at least one message, e.g. {'role': 'user', 'content': '...'}.",
        )
    profile = counter.profile
    functions = chat_functions(body)
    pad_system = bool(functions)
    has_system = False
    total = profile.reply_priming
    for message in messages:
        if not isinstance(message, dict):
            raise InputError("Every entry of 'messages' must be an object with a 'role'.")
        role = message.get("role")
        if not isinstance(role, str):
            raise InputError("A message has no 'role'.", remedy="Give every message a role such as 'user'.")
        content = message.get("content")
        if role in SYSTEM_ROLES:
            has_system = True
            if pad_system and isinstance(content, str):
                content, pad_system = content + "\n", False
        total += profile.tokens_per_message + counter.short(role) + content_tokens(counter, content)
        name = message.get("name")
        if isinstance(name, str):
            total += counter.short(name) + profile.tokens_per_name
        if role == "function":
            total -= 2
        if isinstance(message.get("refusal"), str):
            total += counter.text(message["refusal"])
        calls = [message["function_call"]] if isinstance(message.get("function_call"), dict) else []
        for call in entries(message.get("tool_calls"), "tool_calls"):
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                calls.append(call["function"])
        for call in calls:
            total += counter.short(str(call.get("name", ""))) + counter.any_text(call.get("arguments")) + 3
    total += counter.hidden_sections(functions, chat_response_format(body), has_system)
    total += counter.tool_choice(body.get("tool_choice", body.get("function_call")))
    return total
