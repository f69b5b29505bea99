"""Input token counting for request bodies (first version: text content only; see issue 4)."""

from __future__ import annotations

from typing import Any

from batchwright.tokens.vocab import get_encoding


def _texts(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for key in ("content", "text", "input", "prompt", "instructions"):
            if key in value:
                yield from _texts(value[key])


def count_input_tokens(url: str, body: dict[str, Any]) -> int:
    """Input tokens of the request ``body`` sent to endpoint ``url``, as the API bills them."""
    encoding = get_encoding("o200k_base")
    messages = body.get("messages")
    if isinstance(messages, list):
        return 3 + sum(3 + sum(len(encoding.encode(t)) for t in _texts(m)) for m in messages)
    return sum(len(encoding.encode(t)) for t in _texts(body))
