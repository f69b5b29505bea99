"""Image width and height from the first bytes of a PNG, JPEG, GIF or WebP file (the formats OpenAI accepts).

Only headers are read, so an image's size is known without decoding it (and without Pillow). Layouts:
PNG IHDR chunk (ISO/IEC 15948 §11.2.2), GIF logical screen descriptor (GIF89a spec §18), WebP ``VP8 ``/
``VP8L``/``VP8X`` chunks (RFC 9649 §2.5–2.7), JPEG start-of-frame segment (ITU T.81 §B.2.2).
"""

from __future__ import annotations

import struct


class UnknownImageFormat(ValueError):
    """The bytes start like none of PNG, JPEG, GIF or WebP."""


Size = tuple[int, int]

# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset([0x01, *range(0xD0, 0xD8)])


def image_size(head: bytes) -> Size | None:
    """``(width, height)`` read from ``head``, or ``None`` when more bytes are needed.

    Raises :class:`UnknownImageFormat` when ``head`` is not a PNG, JPEG, GIF or WebP image.
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(head)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", head[6:10]) if len(head) >= 10 else None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(head)
    if head[:2] == b"\xff\xd8":
        return _jpeg(head)
    if len(head) < 12 and any(
        signature.startswith(head[: len(signature)])
        for signature in (b"\x89PNG\r\n\x1a\n", b"GIF8", b"RIFF", b"\xff\xd8")
    ):
        return None
    raise UnknownImageFormat("not a PNG, JPEG, GIF or WebP image")


def _png(head: bytes) -> Size | None:
    if len(head) < 24:
        return None
    if head[12:16] != b"IHDR":
        raise UnknownImageFormat("PNG without an IHDR chunk")
    return struct.unpack(">II", head[16:24])


def _webp(head: bytes) -> Size | None:
    if len(head) < 30:
        return None
    chunk = head[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    raise UnknownImageFormat("WebP with an unknown first chunk")


def _jpeg(head: bytes) -> Size | None:
    position = 2
    while True:
        while position < len(head) and head[position] == 0xFF:  # fill bytes before a marker
            position += 1
        if position >= len(head):
            return None
        marker = head[position]
        position += 1
        if marker in _STANDALONE_MARKERS:
            continue
        if position + 2 > len(head):
            return None
        (length,) = struct.unpack(">H", head[position : position + 2])
        if marker in _SOF_MARKERS:
            if position + 7 > len(head):
                return None
            height, width = struct.unpack(">HH", head[position + 3 : position + 7])
            return width, height
        if length < 2:
            raise UnknownImageFormat("JPEG segment with an invalid length")
        position += length
        if position < len(head) and head[position] != 0xFF:
            raise UnknownImageFormat("JPEG segments out of sync")
