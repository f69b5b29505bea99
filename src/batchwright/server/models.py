"""What the local server knows about models: the ``GET /v1/models`` list and per-family facts.

Unknown model names are accepted everywhere (the server is a local emulator); the facts below only shape
the fake model's answers (reasoning tokens, embedding sizes).
"""

from __future__ import annotations

import re
from typing import Any

_CATALOGUE: tuple[tuple[str, int, str], ...] = (
    ("gpt-4o", 1715367049, "system"),
    ("gpt-4o-mini", 1721172741, "system"),
    ("gpt-4.1", 1744316542, "system"),
    ("gpt-4.1-mini", 1744318173, "system"),
    ("gpt-4.1-nano", 1744321707, "system"),
    ("gpt-5", 1754425777, "system"),
    ("gpt-5-mini", 1754425928, "system"),
    ("gpt-5-nano", 1754426384, "system"),
    ("o3", 1744225308, "system"),
    ("o4-mini", 1744225351, "system"),
    ("gpt-4-turbo", 1712361441, "system"),
    ("gpt-3.5-turbo", 1677610602, "openai"),
    ("gpt-3.5-turbo-instruct", 1692901427, "system"),
    ("davinci-002", 1692634301, "system"),
    ("text-embedding-3-small", 1705948997, "system"),
    ("text-embedding-3-large", 1705953180, "system"),
    ("text-embedding-ada-002", 1671217299, "openai-internal"),
)

EMBEDDING_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
"""Native vector sizes; other embedding model names get 1536."""

_REASONING = re.compile(r"^(o\d|gpt-5|gpt-oss)")
_CONTEXT_WINDOWS = (  # first match wins; tokens of prompt + completion (embeddings: per input)
    (re.compile(r"^gpt-4\.1"), 1_047_576),
    (re.compile(r"^gpt-5"), 400_000),
    (re.compile(r"^o\d"), 200_000),
    (re.compile(r"^(gpt-4o|chatgpt-4o|gpt-4-turbo|gpt-4\.5)"), 128_000),
    (re.compile(r"^gpt-4"), 8_192),
    (re.compile(r"^gpt-3\.5-turbo-instruct"), 4_096),
    (re.compile(r"^gpt-3\.5"), 16_385),
    (re.compile(r"^text-embedding"), 8_192),
)


def models_list() -> dict[str, Any]:
    """The body of ``GET /v1/models``: a ``list`` of ``model`` objects."""
    data = [{"id": m, "object": "model", "created": c, "owned_by": o} for m, c, o in _CATALOGUE]
    return {"object": "list", "data": data}


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` spends reasoning tokens (o-series, gpt-5 family, gpt-oss)."""
    return _REASONING.match(model) is not None


def embedding_dimensions(model: str) -> int:
    """The native embedding size of ``model``."""
    return EMBEDDING_DIMENSIONS.get(model, 1536)


def supports_dimensions(model: str) -> bool:
    """Whether ``model`` accepts the ``dimensions`` parameter (text-embedding-3 and later, not ada-002)."""
    return model != "text-embedding-ada-002"


def context_window(model: str) -> int | None:
    """The context window of ``model`` in tokens (per input for embeddings); None when unknown."""
    return next((size for pattern, size in _CONTEXT_WINDOWS if pattern.match(model)), None)
