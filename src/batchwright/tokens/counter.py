"""The per-request counting context shared by the endpoint modules: one model's encoding and image rule."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from batchwright.errors import InputError
from batchwright.tokens.images import DataUrlImageSizes, ImageSizes, image_tokens
from batchwright.tokens.models import model_profile
from batchwright.tokens.schemas import (
    FUNCTIONS_BLOCK_OVERHEAD,
    HIDDEN_MESSAGE_OVERHEAD,
    render_functions,
    render_response_format,
)
from batchwright.tokens.vocab import get_encoding

DEFAULT_IMAGE_SIZES: ImageSizes = DataUrlImageSizes()


def _encoded_length(encoding_name: str, text: str) -> int:
    return len(get_encoding(encoding_name).encode_ordinary(text))


_short_length = functools.lru_cache(maxsize=8192)(_encoded_length)
"""Roles and names: few distinct, very frequent."""
_section_length = functools.lru_cache(maxsize=256)(_encoded_length)
"""Rendered tools/response-format sections: usually the same for every request of a task."""


def entries(value: Any, field: str) -> list[Any]:
    """``value`` as a list (``None`` → empty); anything else is an :class:`InputError` naming ``field``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"'{field}' must be a list, not {type(value).__name__}.")
    return value


class TokenCounter:
    """Counts text, images and hidden sections for one model.

    Text is encoded with ``encode_ordinary``: the API treats special-token text such as ``<|endoftext|>`` in
    user content as plain text, and so do we.
    """

    __slots__ = ("_encode", "encoding_name", "image_sizes", "profile")

    def __init__(self, model: str, image_sizes: ImageSizes | None = None) -> None:
        self.profile = model_profile(model)
        self.encoding_name = self.profile.encoding_name
        self._encode = get_encoding(self.encoding_name).encode_ordinary
        self.image_sizes = image_sizes or DEFAULT_IMAGE_SIZES

    def text(self, text: str) -> int:
        """Tokens of ``text`` (an :class:`InputError` if it is not a string)."""
        if not isinstance(text, str):
            raise InputError(
                f"Expected a string in the request body, found {type(text).__name__}: {text!r:.60}."
            )
        return len(self._encode(text)) if text else 0

    def short(self, text: str) -> int:
        """Tokens of a short, often repeated string (roles, names), from a cache."""
        return _short_length(self.encoding_name, text)

    def any_text(self, value: Any) -> int:
        """Tokens of a string, or of the compact JSON of anything else (unknown parts, tool outputs)."""
        if isinstance(value, str):
            return self.text(value)
        if value is None:
            return 0
        return self.text(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    def image(self, url: str | None, detail: str | None) -> int:
        """Tokens of one image (``url`` ``None``, e.g. a file id: size unknown, the rule's maximum)."""
        if url is not None and not isinstance(url, str):
            raise InputError(f"An image URL must be a string, not {type(url).__name__}.")
        size = self.image_sizes.size_of(url) if url else None
        return image_tokens(self.profile.image_rule, size, detail)

    def hidden_sections(
        self, functions: list[Mapping[str, Any]], response_format: Mapping[str, Any] | None, has_system: bool
    ) -> int:
        """Tokens of the tools namespace and the response-format section the API adds to the prompt.

        ``response_format`` is ``{"name", "description", "schema"}`` of a JSON-schema format, or ``None``.
        """
        total = 0
        if functions:
            rendered = render_functions(functions)
            total += _section_length(self.encoding_name, rendered) + FUNCTIONS_BLOCK_OVERHEAD
            if has_system:
                total -= HIDDEN_MESSAGE_OVERHEAD
        if response_format is not None:
            name = str(response_format.get("name") or "response")
            rendered = render_response_format(
                name, response_format.get("description"), response_format.get("schema")
            )
            total += _section_length(self.encoding_name, rendered)
            if not has_system and not functions:
                total += HIDDEN_MESSAGE_OVERHEAD
        return total

    def tool_choice(self, choice: Any) -> int:
        """Tokens of a forced tool choice (hmarr: ``none`` adds 1; a named function adds its name + 4)."""
        if choice == "none":
            return 1
        if isinstance(choice, dict):
            function = choice.get("function")
            name = choice.get("name") or (function.get("name") if isinstance(function, dict) else None)
            if isinstance(name, str):
                return self.short(name) + 4
        return 0
