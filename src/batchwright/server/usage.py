"""Billed tokens read from a response body (chat, completions, responses and embeddings shapes)."""

from __future__ import annotations

from typing import Any

_ZERO = (0, 0, 0, 0)


def _count(mapping: dict[str, Any], key: str) -> int:
    value = mapping.get(key)
    return value if isinstance(value, int) else 0


def _detail(usage: dict[str, Any], section: str, key: str) -> int:
    details = usage.get(section)
    return _count(details, key) if isinstance(details, dict) else 0


def usage_of(body: dict[str, Any]) -> tuple[int, int, int, int]:
    """``(input, output, cached, reasoning)`` tokens of a model response body (zeros when absent)."""
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return _ZERO
    if "input_tokens" in usage:  # Responses API
        return (
            _count(usage, "input_tokens"),
            _count(usage, "output_tokens"),
            _detail(usage, "input_tokens_details", "cached_tokens"),
            _detail(usage, "output_tokens_details", "reasoning_tokens"),
        )
    return (
        _count(usage, "prompt_tokens"),
        _count(usage, "completion_tokens"),
        _detail(usage, "prompt_tokens_details", "cached_tokens"),
        _detail(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def batch_usage(input_tokens: int, output_tokens: int, cached: int, reasoning: int) -> dict[str, Any]:
    """A ``BatchUsage`` object."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }
