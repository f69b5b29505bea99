"""Test-wide setup: offline tiktoken vocabularies in a private cache, no real API keys."""

from __future__ import annotations

import os
import tempfile

# Every test run starts from an empty tiktoken cache: the vocabularies must come from the offline copy.
os.environ["TIKTOKEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="batchwright-test-tiktoken-")
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("OPENAI_BASE_URL", None)
