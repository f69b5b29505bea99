"""Image tokens pinned to OpenAI's documented rules, for every family, detail level and size class."""

from __future__ import annotations

import pytest

from batchwright.errors import InputError
from batchwright.tokens import count_input_tokens
from batchwright.tokens.images import DataUrlImageSizes, data_url_size, image_tokens, patch_count
from batchwright.tokens.models import PatchRule, TileRule, model_profile

from .image_bytes import data_url, gif, jpeg, png, webp_vp8x

CHAT = "/v1/chat/completions"


def image_request(model: str, url: str, detail: str | None = None) -> dict:
    image = {"url": url} if detail is None else {"url": url, "detail": detail}
    return {
        "model": model,
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": image}]}],
    }


def image_only_tokens(model: str, url: str, detail: str | None = None) -> int:
    """The image alone: the request minus reply priming (3) and one message with role 'user' (3 + 1)."""
    return count_input_tokens(CHAT, image_request(model, url, detail)) - 7


# --- tile rule: the guide's own examples ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "detail", "expected"),
    [
        ((1024, 1024), "high", 765),  # 768×768 → 4 tiles: 85 + 4×170
        ((2048, 4096), "high", 1105),  # → 1024×2048 → 768×1536 → 6 tiles: 85 + 6×170
        ((4096, 8192), "low", 85),  # low detail: base only, whatever the size
        ((128, 64), "high", 255),  # small images are not scaled up: 1 tile
        ((512, 512), "high", 255),  # exactly one tile
        ((513, 512), "high", 425),  # one pixel more: 2 tiles
        ((1000, 3000), "high", 1445),  # → 682×2048 → 2×4 tiles (the maximum)
        ((1024, 1024), "auto", 765),  # auto is counted as high
        ((1024, 1024), None, 765),  # detail absent = auto
        ((1024, 1024), "original", 765),  # counted as high
    ],
)
def test_gpt4o_tile_rule_examples(size, detail, expected):
    assert image_only_tokens("gpt-4o-2024-08-06", data_url(png(*size)), detail) == expected


@pytest.mark.parametrize(
    ("model", "base", "per_tile"),
    [
        ("gpt-4o", 85, 170),
        ("gpt-4.1-2025-04-14", 85, 170),
        ("gpt-4.5-preview", 85, 170),
        ("chatgpt-4o-latest", 85, 170),
        ("gpt-4-turbo-2024-04-09", 85, 170),
        ("gpt-4o-mini-2024-07-18", 2833, 5667),
        ("o1-2024-12-17", 75, 150),
        ("o1-pro", 75, 150),
        ("o3", 75, 150),
        ("gpt-5", 70, 140),
        ("gpt-5-chat-latest", 70, 140),
        ("computer-use-preview", 65, 129),
    ],
)
def test_tile_constants_per_family(model, base, per_tile):
    url = data_url(png(1024, 1024))
    assert image_only_tokens(model, url, "high") == base + 4 * per_tile
    assert image_only_tokens(model, url, "low") == base


def test_gpt4o_mini_multiplier_makes_images_cost_the_same_as_gpt4o():
    """The "4o-mini multiplier": ~33× the tokens at ~1/16.7 of the price (OpenAI pricing page)."""
    url = data_url(png(1024, 1024))
    assert image_only_tokens("gpt-4o-mini", url, "high") == 2833 + 4 * 5667 == 25501


# --- patch rule -------------------------------------------------------------------------------------------


def test_patch_count_matches_the_guides_examples():
    assert patch_count((1024, 1024), 1536) == 1024
    assert patch_count((1800, 2400), 1536) == 1452  # scaled to 1056×1408 = 33×44 patches


@pytest.mark.parametrize(
    ("model", "size", "expected"),
    [
        ("gpt-4.1-mini", (1024, 1024), 1659),  # ceil(1024 × 1.62)
        ("gpt-4.1-mini-2025-04-14", (1800, 2400), 2353),  # ceil(1452 × 1.62)
        ("gpt-4.1-nano", (1800, 2400), 3572),  # ceil(1452 × 2.46)
        ("o4-mini-2025-04-16", (1024, 1024), 1762),  # ceil(1024 × 1.72)
        ("gpt-5-mini", (256, 256), 77),  # measured: 64 patches → 77
        ("gpt-5-mini", (512, 512), 308),  # measured: 256 patches → 308
        ("gpt-5-mini-2025-08-07", (1024, 1024), 1229),  # measured: 1024 patches → 1229
        ("gpt-5-mini", (2048, 768), 1844),  # measured: 1536 patches (the cap) → 1844
        ("gpt-5-nano", (1024, 1024), 1536),  # 1024 × 1.5
        ("gpt-4.1-mini", (128, 64), 13),  # 4×2 patches → ceil(8 × 1.62); no tile minimum
    ],
)
def test_patch_rule_per_model(model, size, expected):
    assert image_only_tokens(model, data_url(png(*size))) == expected


def test_patch_models_ignore_detail():
    url = data_url(png(1024, 1024))
    assert {image_only_tokens("gpt-4.1-mini", url, detail) for detail in ("low", "high", "auto")} == {1659}


def test_newer_gpt5_models_use_the_larger_patch_cap():
    assert model_profile("gpt-5.4-mini").image_rule == PatchRule(1.2, cap=2500)
    assert image_only_tokens("gpt-5.4", data_url(png(1600, 1600))) == 3000  # 50×50 patches × 1.2


# --- unknown sizes: the conservative maximum ------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "detail", "expected"),
    [
        ("gpt-4o", "high", 85 + 8 * 170),
        ("gpt-4o", "auto", 85 + 8 * 170),
        ("gpt-4o", "low", 85),
        ("gpt-4o-mini", "high", 2833 + 8 * 5667),
        ("gpt-4.1-mini", "high", 2489),  # ceil(1536 × 1.62)
    ],
)
def test_http_images_without_fetching_count_as_the_largest_size(model, detail, expected):
    assert image_only_tokens(model, "https://example.com/cat.png", detail) == expected


def test_the_documented_tile_rule_is_not_monotonic_in_size():
    """Taller can be cheaper: 1025×513 keeps 3×2 tiles, 1025×769 is scaled to 1023×768 → 2×2 tiles."""
    assert image_only_tokens("gpt-4o", data_url(png(1025, 513))) == 85 + 6 * 170
    assert image_only_tokens("gpt-4o", data_url(png(1025, 769))) == 85 + 4 * 170


def test_the_maximum_is_an_upper_bound_of_every_size():
    rule = TileRule(85, 170)
    largest = image_tokens(rule, None, "high")
    sizes = [
        (w, h)
        for w in (1, 300, 512, 767, 768, 1024, 2047, 2048, 5000)
        for h in (1, 511, 768, 1536, 4096, 9000)
    ]
    assert max(image_tokens(rule, size, "high") for size in sizes) == largest
    assert all(patch_count(size, 1536) <= 1536 for size in sizes)


# --- sizes from data URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blob", "mime"),
    [
        (png(321, 123), "image/png"),
        (gif(321, 123), "image/gif"),
        (webp_vp8x(321, 123), "image/webp"),
        (jpeg(321, 123, exif_bytes=300_000), "image/jpeg"),
    ],
)
def test_data_url_sizes_for_every_format(blob, mime):
    assert data_url_size(data_url(blob, mime)) == (321, 123)
    assert DataUrlImageSizes().size_of(data_url(blob, mime)) == (321, 123)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("data:image/png;base64,", "not base64-encoded"),
        ("data:image/png,rawbytes", "not base64-encoded"),
        (data_url(b"BM not an image at all, a bitmap header"), "cannot be read"),
        (data_url(png(10, 10)[:20]), "truncated"),
        ("data:image/png;base64,@@@@", "invalid base64"),
    ],
)
def test_bad_data_urls_are_input_errors(url, problem):
    with pytest.raises(InputError, match=problem):
        count_input_tokens(CHAT, image_request("gpt-4o", url))
