"""`batchwright run` and `batchwright status` for real, on the local server, through run_app."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from batchwright.cli import run_app
from batchwright.errors import ExitCode
from batchwright.monitor.snapshot import read_snapshot

TASK = "tests/tasks/sample_tasks.py:Words"


@pytest.fixture
def cli(local_server: Any, tmp_path: Path):
    """run_app with the task dir and the local server's address filled in."""

    def invoke(*argv: str, task: str = TASK, command: str = "run") -> int:
        base = [command, task] if command == "run" else [command]
        return run_app([
            *base, "-d", str(tmp_path / "t"), "--base-url", local_server.base_url,
            "--api-key", local_server.api_key, "--poll-interval", "0.05", "--poll-interval-max", "0.2",
            "--min-batch-requests", "1", "--progress", "plain", *argv,
        ])  # fmt: skip

    return invoke


def batch_sizes(task_dir: Path) -> list[int]:
    with sqlite3.connect(task_dir / "batchwright.sqlite3") as conn:
        return [n for (n,) in conn.execute("SELECT n_requests FROM batches ORDER BY id")]


def output_rows(task_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (task_dir / "output.jsonl").read_text("utf-8").splitlines()]


def test_run_to_completion_and_status(cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("--max-batch-requests", "5") == ExitCode.DONE
    out = capsys.readouterr()
    assert "output:" in out.out and "task complete" in out.out
    assert "items 12/12 done" in out.err  # the plain progress log
    assert batch_sizes(tmp_path / "t")[:3] == [5, 5, 2]
    assert len(output_rows(tmp_path / "t")) == 12
    assert run_app(["status", str(tmp_path / "t")]) == 0
    status = capsys.readouterr().out
    for heading in ("Items", "Requests", "Batches", "Tokens and cost", "Task budgets"):
        assert heading in status
    assert run_app(["status", str(tmp_path / "t"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["items"] == {"succeeded": 12} and data["task_name"] == "words"


def test_force_direct(
    cli: Any, local_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("--force-direct", "--max-rpm", "6000") == ExitCode.DONE
    err = capsys.readouterr().err
    assert "direct " in err and "/6,000 RPM" in err  # live direct-path rates in the progress log
    ledger = local_server.ledger()
    assert ledger["batches"] == [] and ledger["tokens"]["direct"]["requests"] == 16
    assert len(output_rows(tmp_path / "t")) == 12


def test_dry_run_then_no_run(
    cli: Any, local_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("--dry-run") == ExitCode.DONE
    assert "Dry run" in capsys.readouterr().out and local_server.ledger()["files"] == []
    assert cli("--no-run") == ExitCode.DONE
    assert "Items" in capsys.readouterr().out and read_snapshot(tmp_path / "t").requests == {}


def test_limits_leave_work_and_only_process_collects(cli: Any, tmp_path: Path) -> None:
    assert cli("--max-remote-batches", "0") == ExitCode.WORK_LEFT
    assert read_snapshot(tmp_path / "t").requests == {"pending": 12}
    assert cli("--only-process") == ExitCode.WORK_LEFT  # nothing in flight, nothing submitted
    assert read_snapshot(tmp_path / "t").requests == {"pending": 12}
    assert cli() == ExitCode.DONE


def test_session_budget_stops_with_work_left(cli: Any, tmp_path: Path) -> None:
    assert cli("--session-max-requests", "5", "--max-batch-requests", "5") == ExitCode.WORK_LEFT
    assert sum(batch_sizes(tmp_path / "t")) == 5
    assert cli() == ExitCode.DONE


def test_pass_ratio_safety_stop(cli: Any) -> None:
    # 4 of 12 first answers are rejected: 67% < 90% with one bad batch allowed in a row.
    assert cli("--min-pass-ratio", "0.9", "--max-pass-failures", "1") == ExitCode.SAFETY_STOP


def test_failed_batches_stop_unless_processed(cli: Any, local_server: Any) -> None:
    local_server.set_faults({"batches": [{"kind": "fail_validation", "first": 1}]})
    assert cli() == ExitCode.SAFETY_STOP
    assert cli("--process-failed-batches", "1") == ExitCode.DONE


def test_max_retries_zero_fails_rejected_items(cli: Any, tmp_path: Path) -> None:
    assert cli("--max-retries", "0") == ExitCode.DONE
    failed = [row for row in output_rows(tmp_path / "t") if "error" in row]
    assert sorted(row["key"] for row in failed) == ["w000", "w003", "w006", "w009"]


def test_retry_fatal(cli: Any, local_server: Any, tmp_path: Path) -> None:
    local_server.set_faults({"requests": [{"status": 400, "first": 2}]})
    assert cli("--retry-fatal") == ExitCode.DONE
    assert read_snapshot(tmp_path / "t").items == {"succeeded": 12}


def test_precedence_flag_env_config(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bw.yaml"
    config.write_text("max_batch_requests: 6\nmax_retries: 4\n", encoding="utf-8")
    monkeypatch.setenv("BATCHWRIGHT_MAX_BATCH_REQUESTS", "4")
    assert cli("--config", str(config), "--no-wait") in (ExitCode.DONE, ExitCode.WORK_LEFT)
    assert batch_sizes(tmp_path / "t")[:3] == [4, 4, 4]  # env beats the config file
    monkeypatch.setenv("BATCHWRIGHT_CONFIG", str(config))
    monkeypatch.delenv("BATCHWRIGHT_MAX_BATCH_REQUESTS")
    assert cli("--wipe-task", "--yes", "--max-batch-requests", "3") == ExitCode.DONE
    assert batch_sizes(tmp_path / "t")[:4] == [3, 3, 3, 3]  # the flag beats everything


def test_bad_config_file_exits_2_untouched(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "bw.yaml"
    config.write_text("max_batch_request: 6\n", encoding="utf-8")
    assert cli("--config", str(config)) == ExitCode.BAD_INPUT
    assert not (tmp_path / "t").exists()


def test_destructive_options_need_yes(cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli() == ExitCode.DONE
    db = tmp_path / "t" / "batchwright.sqlite3"
    before = read_snapshot(tmp_path / "t")
    for flag in ("--wipe-task", "--wipe-requests", "--wipe-failed"):
        assert cli(flag) == ExitCode.BAD_INPUT  # no terminal to ask on: refuse, never block
        assert "--yes" in capsys.readouterr().err
    after = read_snapshot(tmp_path / "t")
    assert (after.items, after.outputs) == (before.items, before.outputs) and db.exists()
    assert cli("--wipe-task", "--yes", "--no-run") == ExitCode.DONE
    assert read_snapshot(tmp_path / "t").items == {}


def test_metadata_flags_and_reinit(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("--temperature", "0.9", "--no-run") == ExitCode.DONE
    assert read_snapshot(tmp_path / "t").meta["temperature"] == 0.9
    monkeypatch.setenv("BATCHWRIGHT_TEMPERATURE", "0.90")  # the same value, as text: not a change
    assert cli("--no-run") == ExitCode.DONE
    monkeypatch.delenv("BATCHWRIGHT_TEMPERATURE")
    assert cli("--model", "gpt-4o") == ExitCode.BAD_INPUT
    assert read_snapshot(tmp_path / "t").meta["model"] == "gpt-4o-mini"
    assert cli("--model", "gpt-4o", "--reinit-meta", "--no-run") == ExitCode.DONE
    assert read_snapshot(tmp_path / "t").meta["model"] == "gpt-4o"


def test_exports_from_the_command_line(cli: Any, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    code = cli(
        "--export", "out.jsonl", "--export", "out.csv", "-o", "out.parquet", "--export-max-entries", "5"
    )
    assert code == ExitCode.DONE
    names = sorted(p.name for p in (tmp_path / "t").iterdir() if p.name.startswith("out"))
    assert names == ["out.csv", "out.parquet", *(f"out.part00{i}of003.jsonl" for i in (1, 2, 3))]


def test_prices_flags_change_the_cost(cli: Any, tmp_path: Path) -> None:
    free = ["--cost-input-batch-mtoken", "0", "--cost-output-batch-mtoken", "0"]
    assert cli(*free, "--cost-input-direct-mtoken", "0", "--cost-output-direct-mtoken", "0") == ExitCode.DONE
    assert read_snapshot(tmp_path / "t").cost == 0.0


def test_direct_verbose_prints_requests(cli: Any, capfd: pytest.CaptureFixture[str]) -> None:
    assert cli("--force-direct", "--direct-verbose", "always") == ExitCode.DONE
    captured = capfd.readouterr()
    assert "Give word number 11" in captured.out + captured.err


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("tests/tasks/sample_tasks.py", "no ':TaskName' part"),
        ("tests/tasks/missing.py:Words", "does not exist"),
        ("tests/tasks/sample_tasks.py:Word", "is the class Word, not a subclass of batchwright.Task"),
        ("tests.tasks.nothing_here:Words", "No module named"),
    ],
)
def test_bad_task_specs_exit_2(
    cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], task: str, message: str
) -> None:
    assert cli(task=task) == ExitCode.BAD_INPUT
    assert message in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "t").exists()


def test_directory_of_another_task(cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli() == ExitCode.DONE
    assert cli(task="tests/tasks/sample_tasks.py:OtherWords") == ExitCode.BAD_INPUT
    assert "belongs to task 'words'" in " ".join(capsys.readouterr().err.split())


def test_status_of_a_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["status", str(tmp_path / "nope")]) == ExitCode.ERROR
    assert "No batchwright task database" in capsys.readouterr().err


def test_dry_run_shows_sample_requests(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli("--dry-run", "--force-direct", "--direct-verbose", "always", "--session-max-requests", "2")
    assert code == ExitCode.DONE
    out = capsys.readouterr().out
    assert "request for w000" in out and "request for w001" in out and "w002" not in out
    assert '"model": "gpt-4o-mini"' in out and "Give word number 1." in out


def test_status_shows_batches_in_flight(
    cli: Any,
    local_server: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local_server.set_faults({"batches": [{"kind": "stall"}]})
    assert cli("--no-wait") == ExitCode.WORK_LEFT
    snap = read_snapshot(tmp_path / "t")
    assert snap.requests == {"active": 12} and len(snap.open_batches) == 1
    status = snap.open_batches[0]["remote_status"]
    assert status in ("validating", "in_progress")
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "200")
    assert run_app(["status", str(tmp_path / "t")]) == 0
    text = capsys.readouterr().out
    assert "Open batches" in text and "submitted" in text and status in text
