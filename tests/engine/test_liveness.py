"""A server that gives no answer at all stops the run with a clear error instead of silent back-off."""

from __future__ import annotations

import socket
import time

import pytest

from batchwright.engine import Engine
from batchwright.engine.liveness import Liveness, api_location
from batchwright.errors import RemoteError
from batchwright.providers.base import ProviderError

from .engine_support import chat, settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _silent() -> ProviderError:
    return ProviderError("connection failed: Connection refused", ambiguous=True)


def test_silence_stops_only_after_enough_calls_and_time() -> None:
    clock = FakeClock()
    liveness = Liveness(60, "http://127.0.0.1:9/v1", clock=clock)
    for _ in range(5):
        liveness.failed(_silent())
        clock.now += 10
        liveness.check()  # 5 calls, but at most 50 s of silence
    clock.now += 30
    with pytest.raises(RemoteError, match=r"http://127\.0\.0\.1:9/v1 has given no answer for 80 s"):
        liveness.check()


def test_any_answer_resets_the_silence() -> None:
    clock = FakeClock()
    liveness = Liveness(60, "x", clock=clock)
    for _ in range(3):
        liveness.failed(_silent())
    clock.now += 100
    liveness.failed(ProviderError("HTTP 503: busy", status_code=503, ambiguous=True))  # it answered
    liveness.check()
    assert liveness.silent_failures == 0
    liveness.failed(_silent())
    clock.now += 100
    liveness.check()  # one silent call is not enough


def test_api_location_leaves_credentials_out(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert (
        api_location(settings(base_url="http://user:secret@127.0.0.1:8000/v1")) == "http://127.0.0.1:8000/v1"
    )
    assert api_location(settings()) == "https://api.openai.com/v1"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_base_url_stops_the_batch_path_with_a_clear_error(tmp_path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    config = settings(base_url=url, api_key="sk-test", unreachable_after=1.0, timeout=2.0)
    started = time.monotonic()
    with Engine(tmp_path / "task", config) as engine:
        engine.add_requests(chat(i) for i in range(3))
        with pytest.raises(RemoteError, match="has given no answer") as caught:
            engine.run()
        counts = engine.counts()
    assert url in str(caught.value) and "--base-url" in str(caught.value)
    assert time.monotonic() - started < 60
    assert counts["requests"].get("pending", 0) + counts["requests"].get("active", 0) == 3, counts
