"""Billed tokens read from a response body (chat, completions, responses and embeddings shapes)."""

from __future__ import annotations

from typing import Any


def _int(mapping: Any, *keys: str) -> int:
    for key in keys:
        if not isinstance(mapping, dict):
            return 0
        mapping = mapping.get(key)
    return mapping if isinstance(mapping, int) else 0


def usage_of(body: dict[str, Any]) -> tuple[int, int, int, int]:
    """``(input, output, cached, reasoning)`` tokens of a model response body (zeros when absent)."""
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return 0, 0, 0, 0
    if "input_tokens" in usage:  # Responses API
        return (
            _int(usage, "input_tokens"),
            _int(usage, "output_tokens"),
            _int(usage, "input_tokens_details", "cached_tokens"),
            _int(usage, "output_tokens_details", "reasoning_tokens"),
        )
    return (
        _int(usage, "prompt_tokens"),
        _int(usage, "completion_tokens"),
        _int(usage, "prompt_tokens_details", "cached_tokens"),
        _int(usage, "completion_tokens_details", "reasoning_tokens"),
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
