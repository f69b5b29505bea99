"""Image sizes from file headers: every format OpenAI accepts, truncated and foreign data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchwright.tokens.image_headers import UnknownImageFormat, image_size

from .image_bytes import gif, jpeg, png, webp_vp8, webp_vp8l, webp_vp8x

MAKERS = [png, gif, webp_vp8x, webp_vp8l, webp_vp8, jpeg]


@pytest.mark.parametrize("make", MAKERS, ids=lambda make: make.__name__)
@pytest.mark.parametrize("size", [(1, 1), (640, 480), (4096, 8192), (16383, 3)])
def test_every_format_gives_its_size(make, size):
    assert image_size(make(*size)) == size


@given(st.sampled_from(MAKERS), st.integers(1, 16383), st.integers(1, 16383), st.data())
def test_truncated_headers_ask_for_more_bytes_never_a_wrong_size(make, width, height, data):
    blob = make(width, height)
    cut = data.draw(st.integers(0, len(blob)))
    assert image_size(blob[:cut]) in (None, (width, height))


def test_jpeg_size_after_large_metadata_segments():
    assert image_size(jpeg(1800, 2400, exif_bytes=200_000)) == (1800, 2400)


@pytest.mark.parametrize(
    "blob", [b"BM6\x00\x00\x00", b"hello world, not an image", b"RIFF\x00\x00\x00\x00WAVEfmt "]
)
def test_other_formats_are_rejected(blob):
    with pytest.raises(UnknownImageFormat):
        image_size(blob)
