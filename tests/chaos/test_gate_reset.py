"""Regression (found by the chaos soak): an injected hang then reset, after the client already gave up."""

from __future__ import annotations

import logging
import time

import openai
import pytest


def test_reset_after_the_client_gave_up_is_quiet(local_server, caplog):
    """The client times out before the hang ends: resetting the already-closed socket must not raise
    (uvloop's socket with fd -1 raised ValueError, logged as 'Exception in ASGI application')."""
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.addHandler(caplog.handler)
    try:
        local_server.set_faults(
            {"http": [{"endpoint": "GET /v1/batches", "kind": "timeout", "when": "after", "seconds": 0.5}]}
        )
        client = openai.OpenAI(base_url=local_server.base_url, api_key=local_server.api_key, max_retries=0,
                               timeout=0.1)  # fmt: skip
        with pytest.raises(openai.APITimeoutError):
            client.batches.list()
        running = local_server._server.server_state.tasks  # uvicorn's in-flight request handlers
        deadline = time.monotonic() + 10
        while running and time.monotonic() < deadline:  # until the hang ended and the reset ran
            time.sleep(0.02)
        assert not running
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    finally:
        uvicorn_logger.removeHandler(caplog.handler)
