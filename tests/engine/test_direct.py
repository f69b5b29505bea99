"""The direct path against the local server: exactly once, limits held at the server, faults absorbed.

Every test talks to a real local server over loopback through the official SDK, with a real task database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any

import pydantic
import pytest

from batchwright.config import EngineSettings
from batchwright.engine import Engine, RequestSpec, StopReason
from batchwright.engine.budgets import Budgets, limits_from_settings
from batchwright.engine.direct import DirectReport, DirectRunner, direct_groups
from batchwright.errors import RemoteError
from batchwright.providers.openai import OpenAIProvider
from batchwright.server import INSTANT, ServerConfig, run_server
from batchwright.store.db import Store

MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"


def chat(i: int, *, model: str = MODEL, max_tokens: int = 200, **extra: Any) -> RequestSpec:
    """Item ``n<i>``: one small chat request."""
    body = {"model": model, "messages": [{"role": "user", "content": f"Say the number {i}"}], **extra}
    body["max_completion_tokens"] = max_tokens
    return RequestSpec(f"n{i}", CHAT, body)


def latency(seconds: float) -> dict[str, Any]:
    """A fault plan that only slows chat completions down."""
    return {"http": [{"endpoint": "POST /v1/chat/completions", "kind": "latency", "seconds": seconds}]}


def direct_settings(server: Any, **values: Any) -> EngineSettings:
    base: dict[str, Any] = {"base_url": server.base_url, "api_key": server.api_key, "force_direct": True}
    base.update(values)
    return EngineSettings(**base)


def run_direct(engine: Engine, **options: Any) -> tuple[DirectReport, DirectRunner]:
    """Run the engine's pending requests through a DirectRunner built from the engine's own parts."""

    async def go() -> tuple[DirectReport, DirectRunner]:
        provider = OpenAIProvider(engine.settings)
        try:
            parts = (engine.store, engine.settings, provider, engine.committer, engine.costs, engine.models)
            runner = DirectRunner(*parts, **options)
            return await runner.run(), runner
        finally:
            await provider.aclose()

    return asyncio.run(go())


def attempts(store: Store) -> list[tuple[Any, ...]]:
    """``(request id, custom id, mode, outcome, error code)`` of every attempt."""
    return store.conn.execute(
        "SELECT request_id, custom_id, mode, outcome, error_code FROM attempts ORDER BY id"
    ).fetchall()


def max_in_window(times: list[float], window: float) -> int:
    return max((bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def arrivals(ledger: dict[str, Any]) -> list[float]:
    return sorted(r["arrived_at"] for r in ledger["requests"] if r["kind"] == "direct")


# --- exactly once, modes ----------------------------------------------------------------------------------


def test_force_direct_sends_every_request_once_and_records_it(local_server: Any, tmp_path: Path) -> None:
    local_server.set_faults(latency(0.02))
    settings = direct_settings(local_server, direct_concurrency=16)
    with Engine(tmp_path / "task", settings) as engine:
        engine.add_requests(chat(i) for i in range(120))
        summary = engine.run()
        assert summary.reason is StopReason.DONE, summary.one_line()
        assert summary.requests_succeeded == 120
        assert engine.counts()["requests"] == {"succeeded": 120}
        rows = attempts(engine.store)
        assert (
            len(rows) == 120 and {r[2] for r in rows} == {"direct"} and {r[3] for r in rows} == {"succeeded"}
        )
        usage = engine.store.conn.execute(
            "SELECT requests_sent, results FROM usage WHERE mode = 'direct' AND model = ?", (MODEL,)
        ).fetchone()
        assert usage == (120, 120)
        learned = engine.store.conn.execute("SELECT samples FROM ratios WHERE model = ?", (MODEL,)).fetchone()
        assert learned == (120,)  # direct results teach the completion ratio like batch results
        sent = sorted(r["client_request_id"] for r in local_server.ledger()["requests"])
        assert sent == sorted(r[1] for r in rows)  # one call per attempt, each tied to its attempt


def test_small_groups_go_direct_and_large_groups_are_batched(local_server: Any, tmp_path: Path) -> None:
    settings = direct_settings(local_server, force_direct=False, min_batch_requests=25, poll_interval=0.05)
    with Engine(tmp_path / "task", settings) as engine:
        engine.add_requests(chat(i, model="gpt-4o-mini") for i in range(10))
        engine.add_requests(chat(100 + i, model="gpt-4.1-mini") for i in range(30))
        dry = engine.run(dryrun=True)
        assert "direct: 10 requests" in dry.message and len(dry.plan) == 1 and dry.plan[0].requests == 30
        assert engine.store.conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 0
        assert engine.run().reason is StopReason.DONE
        modes = dict(
            engine.store.conn.execute(
                "SELECT r.model, GROUP_CONCAT(DISTINCT a.mode) FROM attempts a JOIN requests r "
                "ON r.id = a.request_id GROUP BY r.model"
            ).fetchall()
        )
        assert modes == {"gpt-4o-mini": "direct", "gpt-4.1-mini": "batch"}
    assert len(local_server.ledger()["refused"]) == 0


def test_direct_groups_rules() -> None:
    groups = [("/u", "a", 5), ("/u", "b", 500), ("/u", "c", 2000)]
    assert direct_groups(EngineSettings(), groups) == [("/u", "a")]
    assert direct_groups(EngineSettings(direct_tail_requests=500), groups) == [("/u", "a"), ("/u", "b")]
    assert direct_groups(EngineSettings(force_direct=True), groups) == [("/u", "a"), ("/u", "b"), ("/u", "c")]
    assert direct_groups(EngineSettings(min_batch_requests=1), groups) == []


# --- rate limits, measured at the server ------------------------------------------------------------------


def test_rpm_limit_holds_at_the_server_and_is_used_to_the_full(local_server: Any, tmp_path: Path) -> None:
    limit = 600
    local_server.set_faults(
        {
            "rate_limits": {"rpm": limit},
            "http": [{"endpoint": "POST /v1/chat/completions", "kind": "latency", "seconds": 0.05}],
        }
    )
    settings = direct_settings(local_server, max_rpm=limit, direct_concurrency=16)
    n = 70
    with Engine(tmp_path / "task", settings) as engine:
        engine.add_requests(chat(i) for i in range(n))
        assert engine.run().reason is StopReason.DONE
        assert engine.counts()["requests"] == {"succeeded": n}
    ledger = local_server.ledger()
    assert ledger["refused"] == []  # not a single 429 from the server's limiter
    times = arrivals(ledger)
    assert len(times) == n
    assert max_in_window(times, 60.0) <= limit
    # Paced, not bursty: any L seconds at the server hold at most L seconds' share plus a half-second burst,
    # so no 60 s window can ever exceed the limit, however long the run.
    burst = limit / 60 * 0.5 + 1
    for seconds in (0.5, 1.0, 2.0, 4.0):
        assert max_in_window(times, seconds) <= limit / 60 * seconds + burst
    rate = (n - 1) / (times[-1] - times[0]) * 60
    assert rate >= 0.8 * limit  # and the limit is used


def test_limits_learned_from_server_headers_are_honoured(local_server: Any, tmp_path: Path) -> None:
    local_server.set_faults({"rate_limits": {"rpm": 240}})
    settings = direct_settings(local_server, direct_concurrency=4)  # no client-side limit configured
    with Engine(tmp_path / "task", settings) as engine:
        engine.add_requests(chat(i) for i in range(24))
        report, runner = run_direct(engine)
        assert report.reason is StopReason.DONE and report.commits.succeeded == 24
        assert runner.stats().rpm_limit == 240  # adopted from x-ratelimit-limit-requests
    ledger = local_server.ledger()
    assert ledger["refused"] == []
    times = arrivals(ledger)
    # After the first answers the sends are paced at about 4 per second.
    assert max_in_window(times[4:], 2.0) <= 240 / 60 * 2.5 + 1


def test_429_5xx_timeouts_and_resets_are_absorbed_without_using_retries(
    local_server: Any, tmp_path: Path
) -> None:
    endpoint = "POST /v1/chat/completions"
    local_server.set_faults(
        {
            "seed": 3,
            "http": [
                {"endpoint": endpoint, "kind": "error", "status": 429, "retry_after": 0.3, "first": 3},
                {"endpoint": endpoint, "kind": "error", "status": 503, "count": 4},
                {"endpoint": endpoint, "kind": "error", "status": 500, "probability": 0.15},
                {"endpoint": endpoint, "kind": "error", "status": 502, "probability": 0.05},
                {"endpoint": endpoint, "kind": "reset", "probability": 0.05},
                {"endpoint": endpoint, "kind": "timeout", "seconds": 0.2, "count": 2},
            ],
        }
    )
    settings = direct_settings(local_server, direct_concurrency=8, max_retries=0, timeout=5)
    n = 60
    with Engine(tmp_path / "task", settings) as engine:
        engine.add_requests(chat(i) for i in range(n))
        report, runner = run_direct(engine)
        assert report.reason is StopReason.DONE
        assert engine.counts()["requests"] == {"succeeded": n}  # max_retries=0, yet nothing failed
        assert engine.store.conn.execute("SELECT MAX(retries), COUNT(*) FROM requests").fetchone() == (0, n)
        assert len(attempts(engine.store)) == n  # transient retries stay inside one attempt
        stats = runner.stats()
        assert stats.rate_limited == 3
        assert stats.transient_errors >= 3 + 4 + 2
    assert len(local_server.ledger()["requests"]) == n  # faults answer before the model: nothing billed twice


# --- stops: bad key, unreachable server, budgets, interruption ---------------------------------------------


def test_wrong_api_key_stops_without_failing_anything(local_server: Any, tmp_path: Path) -> None:
    settings = direct_settings(local_server, api_key="sk-wrong-key-123456")
    with Engine(tmp_path / "task", settings) as engine:
        engine.add_requests(chat(i) for i in range(10))
        with pytest.raises(RemoteError, match="API key was refused") as caught:
            engine.run()
        assert "sk-wrong-key-123456" not in str(caught.value)
        assert engine.counts()["requests"] == {"pending": 10}
        assert engine.store.conn.execute("SELECT MAX(retries) FROM requests").fetchone()[0] == 0


def test_unreachable_server_stops_and_leaves_requests_pending(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = EngineSettings(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-x", force_direct=True, max_transient_retries=2
    )
    with Engine(tmp_path / "task", settings) as engine:
        engine.add_requests(chat(i) for i in range(5))
        with pytest.raises(RemoteError, match="no answer"):
            engine.run()
        assert engine.counts()["requests"] == {"pending": 5}
        outcomes = {r[3] for r in attempts(engine.store)}
        assert outcomes == {"requeued"}


def test_session_budget_stops_new_requests(local_server: Any, tmp_path: Path) -> None:
    settings = direct_settings(local_server, direct_concurrency=4, session_max_requests=10)
    with Engine(tmp_path / "task", settings) as engine:
        engine.add_requests(chat(i) for i in range(30))
        report, _ = run_direct(engine, budgets=Budgets(limits_from_settings(settings)))
        assert report.reason is StopReason.BUDGET and "session_max_requests" in report.message
        assert engine.counts()["requests"] == {"succeeded": 10, "pending": 20}


def test_stop_event_ends_the_run_with_nothing_lost(local_server: Any, tmp_path: Path) -> None:
    local_server.set_faults(latency(0.05))
    settings = direct_settings(local_server, direct_concurrency=4)
    with Engine(tmp_path / "task", settings) as engine:
        engine.add_requests(chat(i) for i in range(200))

        def stop_after_some(stats: Any) -> None:
            if stats.succeeded >= 20:
                stop.set()

        stop = asyncio.Event()
        report, _ = run_direct(engine, stop=stop, on_progress=stop_after_some)
        assert report.reason is StopReason.INTERRUPTED
        counts = engine.counts()["requests"]
        assert counts.get("active", 0) == 0 and counts["succeeded"] >= 20
        assert counts["succeeded"] + counts["pending"] == 200
        assert (
            engine.store.conn.execute("SELECT COUNT(*) FROM attempts WHERE state = 'open'").fetchone()[0] == 0
        )


# --- verbose output ---------------------------------------------------------------------------------------


def test_direct_verbose_error_prints_only_failed_exchanges(local_server: Any, tmp_path: Path) -> None:
    settings = direct_settings(local_server, direct_verbose="error", max_retries=0)
    lines: list[str] = []
    with Engine(tmp_path / "task", settings) as engine:
        engine.add_requests([chat(1), chat(2, max_tokens=1)])  # the second is cut: "truncated"
        run_direct(engine, echo=lines.append)
    assert len(lines) == 1
    assert "Say the number 2" in lines[0] and "retry" in lines[0] and "Say the number 1" not in lines[0]


# --- same outcomes as the batch path ------------------------------------------------------------------------


class Number(pydantic.BaseModel):
    value: int


def mixed_requests() -> list[RequestSpec]:
    """Requests whose outcomes differ: success, truncation (retryable), 400 (fatal), structured output."""
    specs = [chat(i) for i in range(6)]
    specs += [chat(10 + i, max_tokens=1) for i in range(3)]
    specs += [chat(20 + i, frobnicate=True) for i in range(3)]  # an unknown parameter: 400
    specs += [
        RequestSpec(
            f"s{i}", CHAT, {"model": MODEL, "messages": [{"role": "user", "content": f"n {i}"}]}, Number
        )
        for i in range(4)
    ]
    return specs


def outcomes(engine: Engine) -> dict[str, tuple[Any, ...]]:
    rows = engine.store.conn.execute(
        "SELECT r.item_key, r.state, r.retries, r.attempts, a.error_code FROM requests r "
        "JOIN attempts a ON a.request_id = r.id AND a.custom_id = r.id || '-' || r.attempts"
    ).fetchall()
    return {key: tuple(rest) for key, *rest in rows}


def test_outcomes_match_the_batch_path(tmp_path: Path) -> None:
    results = {}
    for mode, values in (("direct", {"force_direct": True}), ("batch", {"min_batch_requests": 1})):
        config = ServerConfig(data_dir=tmp_path / f"server-{mode}", speed=INSTANT, seed=11)
        with run_server(config) as server:
            settings = direct_settings(server, max_retries=1, poll_interval=0.05, **values)
            settings = settings.replace(force_direct=values.get("force_direct", False))
            with Engine(tmp_path / mode, settings, response_models=[Number]) as engine:
                engine.add_requests(mixed_requests())
                assert engine.run().reason is StopReason.DONE
                modes = {r[2] for r in attempts(engine.store)}
                assert modes == {mode}
                results[mode] = outcomes(engine)
    assert results["direct"] == results["batch"]
    states = {key: value[0] for key, value in results["direct"].items()}
    assert states["n0"] == "succeeded" and states["s0"] == "succeeded"
    assert results["direct"]["n10"] == ("failed", 1, 2, "truncated")
    assert results["direct"]["n20"][0] == "failed" and results["direct"]["n20"][2] == 1  # fatal: no retry


# --- kill -9 mid-run ----------------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from batchwright.config import EngineSettings
    from batchwright.engine import Engine

    def hook(ctx):
        text = ctx.result.body["choices"][0]["message"]["content"]
        ctx.write_output({"key": ctx.result.item_key, "text": text})

    task_dir, base_url, api_key = sys.argv[1:4]
    settings = EngineSettings(base_url=base_url, api_key=api_key, force_direct=True, direct_concurrency=8)
    with Engine(task_dir, settings, result_hook=hook) as engine:
        engine.run()
    """
)


def test_kill_9_mid_run_then_restart_completes_every_request_exactly_once(
    local_server: Any, tmp_path: Path
) -> None:
    local_server.set_faults(latency(0.1))
    task_dir = tmp_path / "task"
    n = 150
    settings = direct_settings(local_server, direct_concurrency=8)

    def hook(ctx: Any) -> None:
        ctx.write_output(
            {"key": ctx.result.item_key, "text": ctx.result.body["choices"][0]["message"]["content"]}
        )

    with Engine(task_dir, settings, result_hook=hook) as engine:
        engine.add_requests(chat(i) for i in range(n))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(task_dir), local_server.base_url, local_server.api_key], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert child.poll() is None, "the run finished before it could be killed"
            with Store.open(task_dir, readonly=True) as store:
                done = store.conn.execute(
                    "SELECT COUNT(*) FROM requests WHERE state = 'succeeded'"
                ).fetchone()[0]
            if done >= 40:
                break
            assert time.monotonic() < deadline, "the child made no progress"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    with Store.open(task_dir, readonly=True) as store:
        killed_with = dict(
            store.conn.execute("SELECT state, COUNT(*) FROM requests GROUP BY state").fetchall()
        )
    assert killed_with.get("active", 0) > 0 and killed_with.get("pending", 0) > 0  # truly mid-run

    with Engine(task_dir, settings, result_hook=hook) as engine:  # restart: requeues lost, finishes the rest
        assert engine.run().reason is StopReason.DONE
        assert engine.counts()["requests"] == {"succeeded": n}
        conn = engine.store.conn
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT item_key) FROM outputs").fetchone() == (n, n)
        per_request = conn.execute(
            "SELECT MIN(c), MAX(c) FROM (SELECT COUNT(*) AS c FROM attempts WHERE outcome = 'succeeded' "
            "GROUP BY request_id)"
        ).fetchone()
        assert per_request == (1, 1)
        rows = attempts(engine.store)
        lost = [r for r in rows if r[3] == "requeued"]
        assert 0 < len(lost) <= 2 * 8  # at most the requests in flight (and queued) at the kill
        assert conn.execute("SELECT MAX(retries) FROM requests").fetchone()[0] == 0
    sent = [r["client_request_id"] for r in local_server.ledger()["requests"]]
    assert len(sent) == len(set(sent))  # every attempt reached the server at most once
    succeeded = {r[1] for r in rows if r[3] == "succeeded"}
    assert succeeded <= set(sent)
    assert len(sent) <= n + len(lost)


@pytest.mark.slow
def test_a_full_minute_at_the_limit_never_gets_a_429(local_server: Any, tmp_path: Path) -> None:
    """More requests than the limit allows per minute: the server's own 60 s window must never refuse one."""
    limit = 120
    local_server.set_faults({"rate_limits": {"rpm": limit}})
    settings = direct_settings(local_server, max_rpm=limit, direct_concurrency=8)
    n = limit + 30  # about 76 s at the limit
    with Engine(tmp_path / "task", settings) as engine:
        engine.add_requests(chat(i) for i in range(n))
        assert engine.run().reason is StopReason.DONE
        assert engine.counts()["requests"] == {"succeeded": n}
    ledger = local_server.ledger()
    assert ledger["refused"] == []
    times = arrivals(ledger)
    assert max_in_window(times, 60.0) <= limit
    assert times[-1] - times[0] >= 60.0 * (n - limit) / limit  # it really had to wait for the window
