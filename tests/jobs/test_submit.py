"""`batchwright submit`: batch-format JSONL files run as one resumable job on the local server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from batchwright.errors import ExitCode
from batchwright.jobs.batchfile import BatchFileError
from batchwright.jobs.file_job import BatchFileTask, submit_batch_files

from .support import chat_line, cli, read_jsonl, server_flags, write_jsonl


def _files(tmp_path: Path) -> list[Path]:
    first = [chat_line(f"q{i}", f"Question {i}?", max_completion_tokens=200) for i in range(12)]
    first[5] = chat_line("q5", "Bad one", n=0)  # the model answers 400: fails for good
    second = [chat_line(f"r{i}", f"Other {i}", max_completion_tokens=150) for i in range(8)]
    return [write_jsonl(tmp_path / "part1.jsonl", first), write_jsonl(tmp_path / "part2.jsonl", second)]


def _billed(server: Any) -> int:
    return len([r for r in server.ledger()["requests"] if r["kind"] == "batch"])


def test_submit_resume_and_never_pay_twice(
    local_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _files(tmp_path)
    job = tmp_path / "job"
    argv = [
        "submit",
        *map(str, files),
        "--dir",
        str(job),
        *server_flags(local_server),
        "--max-batch-requests",
        "4",
    ]
    assert cli(*argv, "--session-max-requests", "6") == ExitCode.WORK_LEFT
    partial = read_jsonl(job / "results.jsonl")
    assert 0 < len(partial) <= 6 and _billed(local_server) == len(partial)
    assert cli(*argv, "--results-per-file") == ExitCode.DONE
    assert "results:" in capsys.readouterr().out
    results = read_jsonl(job / "results.jsonl")
    per_file = [read_jsonl(tmp_path / f"part{n}.output.jsonl") for n in (1, 2)]
    assert sorted(r["custom_id"] for r in per_file[0]) == sorted(f"q{i}" for i in range(12))
    assert sorted(r["custom_id"] for r in per_file[1]) == sorted(f"r{i}" for i in range(8))
    assert sorted(per_file[0] + per_file[1], key=str) == sorted(results, key=str)
    by_id = {row["custom_id"]: row for row in results}
    assert len(results) == 20 and set(by_id) == {f"q{i}" for i in range(12)} | {f"r{i}" for i in range(8)}
    assert all(set(row) == {"custom_id", "response", "error"} for row in results)
    ok = by_id["q3"]
    assert ok["error"] is None and ok["response"]["status_code"] == 200
    assert ok["response"]["body"]["object"] == "chat.completion" and ok["response"]["body"]["choices"]
    bad = by_id["q5"]
    assert (
        bad["response"] is None
        and bad["error"]["code"] == "integer_below_min_value"
        and bad["error"]["message"]
    )
    assert _billed(local_server) == 20  # the first run's answers were never asked again
    # --wipe-failed: only the failed line is sent again; it fails again, still one row for it
    assert cli(*argv, "--wipe-failed", "--yes") == ExitCode.DONE
    assert _billed(local_server) == 21
    again = read_jsonl(job / "results.jsonl")
    assert len(again) == 20 and [r["custom_id"] for r in again if r["error"]] == ["q5"]
    # a longer input file later: only the new lines are sent
    write_jsonl(files[1], [*read_jsonl(files[1]), chat_line("r8", "New one")])
    assert cli(*argv) == ExitCode.DONE
    assert _billed(local_server) == 22 and len(read_jsonl(job / "results.jsonl")) == 21


def test_python_api_direct_path(local_server: Any, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [chat_line(f"c{i}", max_completion_tokens=99) for i in range(5)])
    report = submit_batch_files(
        [path],
        tmp_path / "job",
        base_url=local_server.base_url,
        api_key=local_server.api_key,
        force_direct=True,
    )
    assert report.complete and report.exports == [tmp_path / "job" / "results.jsonl"]
    assert sorted(r["custom_id"] for r in read_jsonl(report.exports[0])) == [f"c{i}" for i in range(5)]
    ledger = local_server.ledger()
    assert ledger["batches"] == [] and ledger["tokens"]["direct"]["requests"] == 5


def test_dry_run_sends_and_writes_nothing(
    local_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [chat_line(f"c{i}") for i in range(7)])
    job = tmp_path / "job"
    assert cli("submit", str(path), "--dir", str(job), *server_flags(local_server), "--dry-run") == 0
    assert "Dry run" in capsys.readouterr().out
    assert not job.exists() and local_server.ledger()["files"] == []


def test_bad_input_rejected_up_front(
    local_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = write_jsonl(tmp_path / "one.jsonl", [chat_line(f"c{i}") for i in range(3)])
    dup = write_jsonl(tmp_path / "dup.jsonl", [chat_line("d0"), chat_line("c1")])
    job = tmp_path / "job"
    flags = ["--dir", str(job), *server_flags(local_server)]
    assert cli("submit", str(one), str(dup), *flags) == ExitCode.BAD_INPUT
    err = " ".join(capsys.readouterr().err.split())
    assert "dup.jsonl, line 2" in err and "'c1' repeats" in err
    embed = {
        "custom_id": "e",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "m", "input": "x"},
    }
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [embed])
    assert cli("submit", str(one), str(mixed), *flags) == ExitCode.BAD_INPUT
    assert "mix endpoints" in capsys.readouterr().err
    assert cli("submit", str(tmp_path / "nope.jsonl"), *flags) == ExitCode.BAD_INPUT
    assert cli("submit", str(one), "--results", "out.pkl", *flags) == ExitCode.BAD_INPUT
    assert not job.exists() and local_server.ledger()["files"] == []
    with pytest.raises(BatchFileError):
        submit_batch_files([write_jsonl(tmp_path / "x.jsonl", ["{"])], job)


def test_a_body_no_longer_cached_is_read_again_from_its_file(tmp_path: Path) -> None:
    lines = [chat_line(f"c{i}", f"text {i}") for i in range(4)]
    path = write_jsonl(tmp_path / "a.jsonl", lines)
    task = BatchFileTask([path])
    task.check()
    items = list(task.items())
    fresh = BatchFileTask([path])  # nothing cached: every body comes from the file at its offset
    assert [fresh.request(item) for item in reversed(items)] == [line["body"] for line in reversed(lines)]
    assert [task.request(item) for item in items] == [line["body"] for line in lines]
    write_jsonl(path, lines[1:])  # the file changed under the job: another request at that offset
    with pytest.raises(BatchFileError, match="'c1' is no longer there"):
        fresh.request(items[1])
    path.write_text("", "utf-8")
    with pytest.raises(BatchFileError, match="'c2' is no longer there"):
        fresh.request(items[2])


@pytest.mark.parametrize("crash_at", ["after_create:2", "before_commit:2"])
def test_kill_9_mid_job_then_resume_pays_once(local_server: Any, tmp_path: Path, crash_at: str) -> None:
    lines = [chat_line(f"k{i}", f"Kill test {i}", max_completion_tokens=300) for i in range(9)]
    path = write_jsonl(tmp_path / "k.jsonl", lines)
    job = tmp_path / "job"
    argv = ["submit", str(path), "--dir", str(job), *server_flags(local_server), "--max-batch-requests", "3"]
    env = {**os.environ, "BATCHWRIGHT_TEST_CRASH_AT": crash_at}
    command = [str(Path(sys.executable).parent / "batchwright"), *argv]
    killed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert cli(*argv) == ExitCode.DONE
    results = read_jsonl(job / "results.jsonl")
    assert sorted(r["custom_id"] for r in results) == sorted(line["custom_id"] for line in lines)
    assert all(r["error"] is None for r in results)
    assert _billed(local_server) == 9  # every line answered and billed exactly once
    assert len(local_server.ledger()["batches"]) == 3
