"""Per-model constants for token estimation: the tiktoken encoding and the image rule of each family.

Sources (every constant below comes from one of these; see ``docs/tokens-and-costs.md``):

* **Encodings** — tiktoken's own model table (``tiktoken/model.py``): ``gpt-4o``, ``gpt-4.1``, ``gpt-4.5``,
  ``gpt-5*``, ``o1``/``o3``/``o4-mini`` and ``chatgpt-4o`` use ``o200k_base``; ``gpt-4``/``gpt-4-turbo``,
  ``gpt-3.5-turbo``, ``text-embedding-*``, ``davinci-002`` and ``babbage-002`` use ``cl100k_base``.
  ``gpt-oss`` uses ``o200k_harmony``: ``o200k_base`` plus special tokens, identical for ordinary text.
* **Tile rule** (OpenAI "Images and vision" guide, section "Calculating costs", GPT-4o/4.1/4.5/o/gpt-5):
  fit within 2048×2048, scale the shortest side down to 768 px, count 512-px tiles, tokens = base + tiles ×
  per-tile; ``detail: low`` costs base only. Per-model (base, per tile): gpt-5 and gpt-5-chat-latest 70/140;
  gpt-4o, gpt-4.1, gpt-4.5 (and gpt-4-turbo vision) 85/170; gpt-4o-mini 2833/5667 (the "4o-mini multiplier":
  its lower token price is offset by ~33× more image tokens); o1, o1-pro, o3 75/150; computer-use-preview
  65/129.
* **Patch rule** (same guide, GPT-4.1-mini/nano, o4-mini, gpt-5-mini/nano): count 32-px patches, scale the
  image down to at most 1536 patches, multiply by a per-model factor. Factors: gpt-4.1-mini 1.62,
  gpt-4.1-nano 2.46, o4-mini 1.72 (guide); codex-mini 1.72 (same model family as o4-mini). For gpt-5-mini and
  gpt-5-nano the guide says 1.62/2.46 but OpenAI's pricing-page calculator uses 1.2/1.5, and community
  measurements of billed usage (OpenAI developer forum, "GPT-5-mini image input token calculation
  discrepancy", 2025–2026) match the calculator: we use 1.2 and 1.5. Newer gpt-5.N models (N ≥ 2) were
  measured at ×1.2 with up to 2500 patches (forum thread on GPT-5.4 mini/nano, 2026-03); we use that.
  Patch models ignore ``detail`` (measured: low and high bill the same).
* **Unknown and non-OpenAI models** use ``o200k_base`` and the gpt-4o tile constants (85/170): the most common
  current encoding and the most common image rule. :func:`model_profile` marks them ``known=False`` so callers
  can warn.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TileRule:
    """The 512-px tile image rule: ``base + tiles × per_tile`` tokens (``base`` only for low detail)."""

    base: int
    per_tile: int


@dataclass(frozen=True)
class PatchRule:
    """The 32-px patch image rule: ``ceil(min(patches, cap) × multiplier)`` tokens, whatever the detail."""

    multiplier: float
    cap: int = 1536


ImageRule = TileRule | PatchRule


@dataclass(frozen=True)
class ModelProfile:
    """Everything the estimator needs to know about one model."""

    model: str
    encoding_name: str
    image_rule: ImageRule
    known: bool
    """False when the model matched no known family and the documented fallback is used."""
    tokens_per_message: int = 3
    """Per-message overhead (``<|start|>{role}<|message|>...<|end|>``), OpenAI cookbook "How to count tokens
    with tiktoken"."""
    tokens_per_name: int = 1
    """Extra tokens when a message has a ``name`` (same cookbook)."""
    reply_priming: int = 3
    """Every reply is primed with ``<|start|>assistant<|message|>`` (same cookbook)."""


GPT4O_TILES = TileRule(85, 170)
GPT4O_MINI_TILES = TileRule(2833, 5667)
O_SERIES_TILES = TileRule(75, 150)
GPT5_TILES = TileRule(70, 140)
COMPUTER_USE_TILES = TileRule(65, 129)

FALLBACK_ENCODING = "o200k_base"
FALLBACK_IMAGE_RULE = GPT4O_TILES

# Ordered: the first pattern that matches the start of the model name wins (most specific first).
_IMAGE_RULES: tuple[tuple[re.Pattern[str], ImageRule], ...] = tuple(
    (re.compile(pattern), rule)
    for pattern, rule in (
        (r"gpt-4\.1-mini", PatchRule(1.62)),
        (r"gpt-4\.1-nano", PatchRule(2.46)),
        (r"o4-mini", PatchRule(1.72)),
        (r"codex-mini", PatchRule(1.72)),
        (r"gpt-5-mini", PatchRule(1.2)),
        (r"gpt-5-nano", PatchRule(1.5)),
        (r"gpt-5\.([2-9]|\d\d)", PatchRule(1.2, cap=2500)),
        (r"gpt-5", GPT5_TILES),
        (r"(gpt-4o-mini|ft:gpt-4o-mini)", GPT4O_MINI_TILES),
        (
            r"(gpt-4o|chatgpt-4o|ft:gpt-4o|gpt-4\.1|ft:gpt-4\.1|gpt-4\.5|gpt-4-turbo|gpt-4-vision)",
            GPT4O_TILES,
        ),
        (r"(o1|o3)(?!-mini)", O_SERIES_TILES),
        (r"computer-use-preview", COMPUTER_USE_TILES),
    )
)

_KNOWN_WITHOUT_IMAGES = re.compile(
    r"(gpt-4|gpt-3\.5|gpt-35|o1-mini|o3-mini|text-embedding|davinci-002|babbage-002|gpt-oss|omni-moderation"
    r"|ft:gpt-3\.5|ft:davinci-002|ft:babbage-002)"
)
_CL100K = re.compile(
    r"(gpt-4(?![o.])|gpt-3\.5|gpt-35|text-embedding|davinci-002|babbage-002"
    r"|ft:gpt-4(?![o.])|ft:gpt-3\.5|ft:davinci-002|ft:babbage-002)"
)


def _bare_name(model: str) -> str:
    """``openai/gpt-4o`` → ``gpt-4o``; lower case."""
    return model.strip().lower().rsplit("/", 1)[-1]


def encoding_name_for_model(model: str) -> str:
    """The tiktoken encoding of ``model``: ``cl100k_base`` for the gpt-4/3.5 and embedding generation,
    ``o200k_base`` for every newer model and, as the documented fallback,
    for unknown and non-OpenAI models."""
    return "cl100k_base" if _CL100K.match(_bare_name(model)) else FALLBACK_ENCODING


@functools.lru_cache(maxsize=1024)
def model_profile(model: str) -> ModelProfile:
    """The estimator's constants for ``model`` (dated names such as ``gpt-4o-mini-2024-07-18`` included)."""
    name = _bare_name(model)
    encoding = encoding_name_for_model(name)
    for pattern, rule in _IMAGE_RULES:
        if pattern.match(name):
            return ModelProfile(model=model, encoding_name=encoding, image_rule=rule, known=True)
    known = bool(_KNOWN_WITHOUT_IMAGES.match(name))
    return ModelProfile(model=model, encoding_name=encoding, image_rule=FALLBACK_IMAGE_RULE, known=known)
