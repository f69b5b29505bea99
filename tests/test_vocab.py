"""tiktoken works offline: vocabularies are seeded from the verified offline copy."""

from __future__ import annotations

import hashlib
import os

import pytest

from batchwright.errors import TokenizerUnavailableError
from batchwright.tokens import vocab


def test_encodings_load_offline_from_an_empty_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    for name in ("cl100k_base", "o200k_base"):
        vocab.seed_vocabulary(name)
    cached = sorted(os.listdir(tmp_path))
    assert len(cached) == 2
    digests = {hashlib.sha256((tmp_path / entry).read_bytes()).hexdigest() for entry in cached}
    assert digests == set(vocab.PINNED_SHA256.values())


def test_get_encoding_counts_like_tiktoken() -> None:
    encoding = vocab.get_encoding("o200k_base")
    assert encoding.encode("Hello, world!") == [13225, 11, 2375, 0]


def test_corrupt_cached_vocabulary_is_replaced(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    vocab.seed_vocabulary("cl100k_base")
    (cached,) = list(tmp_path.iterdir())
    cached.write_bytes(b"garbage")
    vocab.seed_vocabulary("cl100k_base")
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == vocab.PINNED_SHA256["cl100k_base"]


def test_tampered_offline_copy_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(vocab, "_bundled_vocabulary", lambda name: b"not the vocabulary")
    with pytest.raises(TokenizerUnavailableError, match="pinned SHA-256"):
        vocab.seed_vocabulary("o200k_base")
    assert list(tmp_path.iterdir()) == []
