"""Image input tokens: the tile and patch rules, and image sizes from data URLs or (optionally) the network.

Rules (OpenAI "Images and vision" guide, "Calculating costs"; per-model constants in
:mod:`batchwright.tokens.models`):

* Tile rule, ``detail: high``: fit within 2048×2048 keeping the aspect ratio, then scale down so the shortest
  side is at most 768 px (images are never scaled up: a 128×64 image bills one tile), count 512-px tiles;
  tokens = base + tiles × per-tile. ``detail: low``: base only. ``detail: auto`` (the default) and
  ``original`` are counted as ``high``: the API decides ``auto`` itself, and high is the upper bound.
* Patch rule: 32-px patches; above the cap the image is scaled down (aspect ratio kept, then to whole
  patches) exactly as the guide's algorithm; tokens = ceil(patches × multiplier). ``detail`` is ignored.

When an image's size is unknown (an http(s) URL while fetching is off, a failed fetch, a ``file_id``), the
estimate is the **largest** the rule allows: tile rule high detail → 768×2048 → 8 tiles (gpt-4o: 85 + 8×170 =
1445); patch rule → the cap (gpt-4.1-mini: ceil(1536 × 1.62) = 2489). Budgets built on these never
under-estimate.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import os
import sqlite3
import threading
from collections import OrderedDict
from fractions import Fraction
from typing import Protocol

import httpx

from batchwright.errors import InputError
from batchwright.tokens.image_headers import Size, UnknownImageFormat, image_size
from batchwright.tokens.models import ImageRule, PatchRule, TileRule

logger = logging.getLogger(__name__)

MAX_TILE_TOKENS_TILES = 8
"""Tiles of the largest high-detail image after resizing (768×2048 → 2×4)."""


def tile_tokens(rule: TileRule, size: Size | None, detail: str) -> int:
    """Tokens of one image under the tile rule (``size`` ``None`` = unknown: the maximum)."""
    if detail == "low":
        return rule.base
    if size is None:
        return rule.base + MAX_TILE_TOKENS_TILES * rule.per_tile
    width, height = size
    longest = max(width, height)
    if longest > 2048:
        width, height = width * 2048 // longest, height * 2048 // longest
    shortest = min(width, height)
    if shortest > 768:
        width, height = width * 768 // shortest, height * 768 // shortest
    tiles = math.ceil(width / 512) * math.ceil(height / 512)
    return rule.base + tiles * rule.per_tile


def patch_count(size: Size, cap: int) -> int:
    """32-px patches of an image after the guide's scale-down to at most ``cap`` patches."""
    width, height = size
    raw = -(-width // 32) * -(-height // 32)
    if raw <= cap:
        return raw
    shrink = math.sqrt(32 * 32 * cap / (width * height))
    # Scale further so one side is a whole number of patches (exact arithmetic: no 1407.9999 → 1408 issues).
    scale = min(
        Fraction(math.floor(width * shrink / 32) * 32, width),
        Fraction(math.floor(height * shrink / 32) * 32, height),
    )
    return min(cap, math.ceil(width * scale / 32) * math.ceil(height * scale / 32))


def patch_tokens(rule: PatchRule, size: Size | None) -> int:
    """Tokens of one image under the patch rule (``size`` ``None`` = unknown: the cap)."""
    patches = rule.cap if size is None else patch_count(size, rule.cap)
    return math.ceil(patches * Fraction(str(rule.multiplier)))


def image_tokens(rule: ImageRule, size: Size | None, detail: str | None) -> int:
    """Tokens of one image with the given rule, size (``None`` = unknown) and ``detail``."""
    if isinstance(rule, PatchRule):
        return patch_tokens(rule, size)
    return tile_tokens(rule, size, detail or "auto")


def data_url_size(url: str) -> Size:
    """``(width, height)`` of the image in a ``data:image/...;base64,`` URL, decoding only its header."""
    header, _, payload = url.partition(",")
    if not header.endswith(";base64") or not payload:
        raise InputError(
            f"The image data URL {header[:60]!r} is not base64-encoded image data.",
            remedy="Use the form data:image/png;base64,<data>.",
        )
    length = 256  # bytes of the image to decode; grows until its header yields the size
    while True:
        chars = -(-length // 3) * 4  # base64 characters holding at least ``length`` bytes
        complete = chars >= len(payload)
        try:
            head = base64.b64decode(payload if complete else payload[:chars], validate=True)
            size = image_size(head)
        except UnknownImageFormat as exc:
            raise InputError(
                f"The image in a data URL cannot be read: {exc}.",
                remedy="OpenAI accepts PNG, JPEG, WebP and non-animated GIF images; send one of these.",
            ) from None
        except (binascii.Error, ValueError):  # binascii.Error is a ValueError too
            raise InputError(
                "An image data URL holds invalid base64.", remedy="Encode the image with standard base64."
            ) from None
        if size is not None:
            return size
        if complete:
            raise InputError("The image in a data URL is truncated.", remedy="Send the complete image file.")
        length *= 8


class ImageSizes(Protocol):
    """Where image sizes come from: ``size_of(url)`` returns ``(width, height)`` or ``None`` if unknown."""

    def size_of(self, url: str) -> Size | None: ...


class DataUrlImageSizes:
    """Sizes from ``data:`` URLs only (the default); http(s) URLs are unknown (the conservative maximum)."""

    def size_of(self, url: str) -> Size | None:
        if url.startswith("data:"):
            return data_url_size(url)
        return None


class FetchingImageSizes(DataUrlImageSizes):
    """Also fetches http(s) images — only their first bytes — with a timeout, a size cap and a bounded cache.

    The in-memory cache keeps ``max_entries`` sizes (least recently used dropped); with ``cache_path``
    the sizes also persist in a small SQLite file (same bound) so a restart does not fetch again. A failed or
    oversized fetch gives ``None`` (the conservative maximum) and a warning; it is not cached.
    """

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        max_bytes: int = 1 << 20,
        max_entries: int = 10_000,
        cache_path: str | os.PathLike[str] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._memory: OrderedDict[str, Size] = OrderedDict()
        self._lock = threading.Lock()
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=True)
        self._db: sqlite3.Connection | None = None
        if cache_path is not None:
            self._db = _open_cache(os.fspath(cache_path))

    def size_of(self, url: str) -> Size | None:
        if not url.startswith(("http://", "https://")):
            return super().size_of(url)
        with self._lock:
            size = self._cached(url)
        if size is None:
            size = self._fetch(url)
            if size is not None:
                with self._lock:
                    self._remember(url, size)
        return size

    def _cached(self, url: str) -> Size | None:
        if url in self._memory:
            self._memory.move_to_end(url)
            return self._memory[url]
        if self._db is not None:
            row = self._db.execute("SELECT width, height FROM image_size WHERE url = ?", (url,)).fetchone()
            if row is not None:
                self._memory[url] = (row[0], row[1])
                return self._memory[url]
        return None

    def _remember(self, url: str, size: Size) -> None:
        self._memory[url] = size
        while len(self._memory) > self.max_entries:
            self._memory.popitem(last=False)
        if self._db is not None:
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO image_size (url, width, height) VALUES (?, ?, ?)", (url, *size)
                )
                self._db.execute(
                    "DELETE FROM image_size WHERE rowid <= (SELECT MAX(rowid) FROM image_size) - ?",
                    (self.max_entries,),
                )

    def _fetch(self, url: str) -> Size | None:
        try:
            with self._client.stream("GET", url, timeout=self.timeout) as response:
                response.raise_for_status()
                head = b""
                for chunk in response.iter_bytes():
                    head += chunk
                    size = image_size(head)
                    if size is not None:
                        return size
                    if len(head) >= self.max_bytes:
                        logger.warning("image %s: no size in its first %d bytes", url, self.max_bytes)
                        return None
        except (httpx.HTTPError, UnknownImageFormat) as exc:
            logger.warning("image %s: size unknown (%s); assuming the largest size", url, exc)
        return None

    def close(self) -> None:
        """Close the HTTP client and the cache file."""
        self._client.close()
        if self._db is not None:
            self._db.close()


def _open_cache(path: str) -> sqlite3.Connection:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    db = sqlite3.connect(path, check_same_thread=False)
    db.execute("CREATE TABLE IF NOT EXISTS image_size (url TEXT PRIMARY KEY, width INTEGER, height INTEGER)")
    return db
