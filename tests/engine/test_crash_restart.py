"""Crash safety: SIGKILL the runner at every step boundary, restart, and prove exactly-once; signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.engine.engine_support import assert_exactly_once, remote_leftovers, settings

from batchwright.engine import Engine, StopReason
from batchwright.store import Store

RUNNER = Path(__file__).with_name("crash_runner.py")
STEPS = [
    "after_cut", "after_upload", "after_file_recorded", "after_create", "after_batch_recorded",
    "after_download", "before_commit", "after_commit", "after_upload:2", "after_create:3", "before_commit:2",
]  # fmt: skip


def runner(task_dir, server, n=7, crash_at=None, **popen):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("BATCHWRIGHT_TEST_CRASH_AT", None)
    if crash_at:
        env["BATCHWRIGHT_TEST_CRASH_AT"] = crash_at
    args = [sys.executable, str(RUNNER), str(task_dir), server.base_url, server.api_key, str(n)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_every_step_then_restart_completes_exactly_once(local_server, tmp_path, step):
    proc = runner(tmp_path / "task", local_server, crash_at=step)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (out, err)
    with Engine(tmp_path / "task", settings(local_server, max_batch_requests=3)) as engine:
        summary = engine.run()
        assert summary.reason is StopReason.DONE, summary.one_line()
        assert engine.counts()["requests"] == {"succeeded": 7}
        ledger = local_server.ledger()
        assert_exactly_once(engine, ledger)
        assert len(ledger["batches"]) == 3  # one remote batch per local batch, whatever the crash point
        assert remote_leftovers(ledger) == []


def test_sigint_stops_cleanly_with_a_one_line_summary_and_restart_collects(local_server, tmp_path):
    local_server.set_faults({"batches": [{"kind": "stall", "after_requests": 1, "first": 1}]})
    proc = runner(tmp_path / "task", local_server, n=3)
    assert proc.stdout.readline().strip() == "running"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the batch is submitted
        with Store.open(tmp_path / "task", readonly=True) as store:
            if store.conn.execute("SELECT COUNT(*) FROM batches WHERE state = 'submitted'").fetchone()[0]:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, (out, err)  # work left
    assert out.strip().splitlines()[-1].startswith("interrupted:"), out
    local_server.set_faults(None)
    with Engine(tmp_path / "task", settings(local_server)) as engine:
        (remote_id,) = [r[0] for r in engine.store.conn.execute("SELECT remote_id FROM batches")]
        import openai

        openai.OpenAI(base_url=local_server.base_url, api_key=local_server.api_key).batches.cancel(remote_id)
        summary = engine.run()
        assert summary.reason is StopReason.DONE, summary.one_line()
        assert_exactly_once(engine, local_server.ledger())


def test_second_sigint_exits_at_once_and_state_stays_consistent(local_server, tmp_path):
    local_server.set_faults({"http": [{"endpoint": "GET /v1/batches/*", "kind": "latency", "seconds": 20}]})
    proc = runner(tmp_path / "task", local_server, n=3)
    assert proc.stdout.readline().strip() == "running"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the runner is stuck in a slow poll
        with Store.open(tmp_path / "task", readonly=True) as store:
            if store.conn.execute("SELECT COUNT(*) FROM batches WHERE state = 'submitted'").fetchone()[0]:
                break
        time.sleep(0.05)
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)  # first: stop after the current step (the 20 s poll)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)  # second: now
    proc.communicate(timeout=15)
    assert time.monotonic() - started < 10
    assert proc.returncode not in (0, 3)
    local_server.set_faults(None)
    with Engine(tmp_path / "task", settings(local_server)) as engine:
        assert engine.run().reason is StopReason.DONE
        assert_exactly_once(engine, local_server.ledger())
