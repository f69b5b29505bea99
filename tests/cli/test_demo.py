"""`batchwright demo`: both demos end to end on the in-process local server, resume, and real targets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from batchwright.cli import run_app
from batchwright.errors import ExitCode
from batchwright.monitor.snapshot import read_snapshot


def output_rows(task_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (task_dir / "output.jsonl").read_text("utf-8").splitlines()]


def batchwright(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATCHWRIGHT_"))}
    return subprocess.run(
        [str(Path(sys.executable).parent / "batchwright"), *argv],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_unicode_demo_from_any_directory_then_resume(tmp_path: Path) -> None:
    began = time.monotonic()
    first = batchwright("demo", "--progress", "plain", cwd=tmp_path)
    took = time.monotonic() - began
    assert first.returncode == 0, first.stderr
    task_dir = tmp_path / "batchwright-demo-unicode"
    assert "output.jsonl" in first.stdout and "task complete" in first.stdout
    assert took < 60
    snap = read_snapshot(task_dir)
    assert snap.items_total > 1000 and snap.items_done == snap.items_total
    # The fake model answers at random: a real mix of first-time successes, retries and failures.
    assert snap.retries > 100 and 0 < snap.items.get("failed", 0) < snap.items["succeeded"]
    rows = output_rows(task_dir)
    assert len(rows) == snap.items_total == len({r["key"] for r in rows})  # one row per item
    assert all(r["key"] == f"U+{ord(r['char']):04X}" for r in rows)
    failed = [r for r in rows if "error" in r]
    assert len(failed) == snap.items["failed"] and all("task_rejected" in r["error"] for r in failed)
    assert "items" in first.stderr and "done" in first.stderr  # plain progress log
    again = batchwright("demo", "--progress", "plain", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 succeeded" in again.stdout and output_rows(task_dir) == rows


def test_emotions_demo_interrupted_with_batches_in_flight_resumes(tmp_path: Path) -> None:
    task_dir = tmp_path / "emo"
    base = ["demo", "--task", "emotions", "--dir", str(task_dir), "--progress", "quiet"]
    assert run_app([*base, "--no-wait"]) == ExitCode.WORK_LEFT
    assert read_snapshot(task_dir).requests.get("active", 0) > 0  # left in flight on the local server
    assert run_app(base) == ExitCode.DONE
    rows = output_rows(task_dir)
    assert len(rows) == 45 and all(3 <= r["opinions"] <= 5 for r in rows)


def test_demo_through_the_direct_path(tmp_path: Path) -> None:
    task_dir = tmp_path / "emo"
    assert (
        run_app(["demo", "--task", "emotions", "-d", str(task_dir), "--force-direct", "--progress", "quiet"])
        == 0
    )
    snap = read_snapshot(task_dir)
    assert {row.mode for row in snap.usage} == {"direct"} and snap.batches == {}
    assert len(output_rows(task_dir)) == 45


def test_demo_against_another_endpoint(tmp_path: Path, local_server: Any) -> None:
    argv = ["demo", "--task", "emotions", "-d", str(tmp_path / "e"), "--base-url", local_server.base_url,
            "--api-key", local_server.api_key, "--poll-interval", "0.05", "--progress", "quiet"]  # fmt: skip
    assert (
        run_app(argv) == ExitCode.BAD_INPUT
    )  # costs money on a real endpoint: needs --yes without a terminal
    assert local_server.ledger()["requests"] == []
    assert run_app([*argv, "--yes"]) == ExitCode.DONE
    assert len(local_server.ledger()["requests"]) >= 135


def test_demo_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["demo", "--task", "nope", "-d", str(tmp_path / "x")]) == ExitCode.BAD_INPUT
    assert "Unknown demo task 'nope'" in capsys.readouterr().err
    assert run_app(["demo", "--real", "--base-url", "http://127.0.0.1:9/v1", "-d", str(tmp_path / "x")]) == 2
    assert "contradict" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_real_needs_a_key_and_confirmation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    argv = ["demo", "--real", "--task", "emotions", "-d", str(tmp_path / "r")]
    assert run_app(argv) == ExitCode.BAD_INPUT and not (tmp_path / "r").exists()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")
    assert run_app(argv) == ExitCode.BAD_INPUT  # plan shown, then refused: no terminal and no --yes
    assert not (tmp_path / "r").exists()  # the plan was a dry run: it left nothing behind


def test_ctrl_c_then_resume(tmp_path: Path) -> None:
    """SIGINT mid-run stops cleanly (exit 3, work left); the same command finishes the task."""
    import signal

    task_dir = tmp_path / "emo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATCHWRIGHT_"))}
    executable = str(Path(sys.executable).parent / "batchwright")
    command = [executable, "demo", "--task", "emotions", "-d", str(task_dir), "--progress", "plain"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until a batch is in flight
        if (task_dir / "batchwright.sqlite3").exists() and read_snapshot(task_dir).requests.get("active", 0):
            break
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("no batch went in flight")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == ExitCode.WORK_LEFT, err
    assert read_snapshot(task_dir).items_done < read_snapshot(task_dir).items_total
    again = batchwright(
        "demo", "--task", "emotions", "-d", str(task_dir), "--progress", "quiet", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    snap = read_snapshot(task_dir)
    assert snap.items_done == snap.items_total and len(output_rows(task_dir)) == snap.items_total


def test_demo_bad_input_and_dry_run_leave_no_trace(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("max_batch_request: 1\n", encoding="utf-8")
    assert run_app(["demo", "-d", str(tmp_path / "a"), "--config", str(config)]) == ExitCode.BAD_INPUT
    assert run_app(["demo", "-d", str(tmp_path / "b"), "--dry-run"]) == ExitCode.DONE
    assert run_app(["demo", "-d", str(tmp_path / "c"), "--wipe-task"]) == ExitCode.BAD_INPUT  # no --yes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_demo_refuses_another_demos_directory(tmp_path: Path) -> None:
    task_dir = tmp_path / "d"
    assert run_app(["demo", "--task", "emotions", "-d", str(task_dir), "--no-run"]) == ExitCode.DONE
    before = sorted(p.name for p in task_dir.iterdir())
    assert run_app(["demo", "--task", "unicode", "-d", str(task_dir)]) == ExitCode.BAD_INPUT
    assert sorted(p.name for p in task_dir.iterdir()) == before
