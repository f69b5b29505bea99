"""Test-wide setup: offline tiktoken vocabularies in a private cache, no real API keys."""

from __future__ import annotations

import os
import tempfile

import pytest

# Every test run starts from an empty tiktoken cache: the vocabularies must come from the offline copy.
os.environ["TIKTOKEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="batchwright-test-tiktoken-")
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("OPENAI_BASE_URL", None)


@pytest.fixture
def local_server(tmp_path):
    """A local batch server in instant mode on a free 127.0.0.1 port with a fresh data dir.

    Yields a :class:`batchwright.server.RunningServer` (``base_url``, ``api_key``, ``ledger()``,
    ``set_faults(plan)``, ``restart()``).
    """
    from batchwright.server import INSTANT, ServerConfig, run_server

    with run_server(ServerConfig(data_dir=tmp_path / "server", speed=INSTANT)) as server:
        yield server
