"""Bad input that is not a one-line error: exports interrupted mid-write (in-process and by SIGKILL),
a duplicate item key far apart in the stream, and a task directory on a read-only medium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchwright.cli import run_app
from batchwright.errors import ExitCode
from batchwright.store.db import DB_NAME
from batchwright.tasks.export import ExportSpec, export_rows

from .support import TASKS, db_fingerprint, fill, read_only_mount, run

ROWS = [{"key": f"k{i}", "n": i, "tags": ["a", "b"]} for i in range(50)]


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_an_export_interrupted_mid_write_leaves_the_previous_one(tmp_path: Path, suffix: str) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    target = tmp_path / f"out{suffix}"
    export_rows(lambda: ROWS[:3], ExportSpec(target))
    before = target.read_bytes()

    def interrupted() -> Iterator[dict[str, Any]]:
        yield from ROWS[:20]
        raise KeyboardInterrupt  # Ctrl+C while the export is being written

    with pytest.raises(KeyboardInterrupt):
        export_rows(interrupted, ExportSpec(target))
    assert target.read_bytes() == before
    assert temp_files(tmp_path) == []
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def test_an_export_killed_mid_write_is_rewritten_by_the_next_run(
    tmp_path: Path, template: Path, corpus_server: Any
) -> None:
    """SIGKILL while the export's temp file is half written: the previous export stays intact (never a
    torn file under the final name); the next run re-derives it from the database, which that run does
    not change, and removes the dead export's temp file."""
    task_dir = tmp_path / "task"
    shutil.copytree(template, task_dir)
    target = task_dir / "output.jsonl"
    complete = target.read_bytes()
    ready = tmp_path / "half-written"
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from batchwright.tasks.export import ExportSpec, export_rows

        def rows():
            for i in range(100):
                yield {{"key": f"junk{{i}}"}}
                if i == 50:
                    Path({str(ready)!r}).write_text("now")
                    sys.stdin.read()  # blocks until killed

        export_rows(rows, ExportSpec(Path({str(target)!r}), max_entries=None))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the exporter never got half way"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert target.read_bytes() == complete  # the old export, untouched
    assert len(temp_files(task_dir)) == 1  # the dead export's half-written temp file
    target.write_bytes(complete[: len(complete) // 2])  # and a user's tool truncated the export too
    before = db_fingerprint(task_dir)
    values = {"tasks": str(TASKS), "dir": str(task_dir), "url": corpus_server.base_url,
              "key": corpus_server.api_key}  # fmt: skip
    assert run_app([fill(arg, values) for arg in run("Good")]) == ExitCode.DONE
    assert target.read_bytes() == complete
    assert temp_files(task_dir) == []
    after = db_fingerprint(task_dir)
    assert after[DB_NAME] == before[DB_NAME] and after[f"{DB_NAME}-wal"] == before[f"{DB_NAME}-wal"]


def test_a_key_repeated_in_a_later_chunk_is_requested_once(
    tmp_path: Path, corpus_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items are checked in chunks; a key repeated after the first chunk must not get a second
    request (it would be paid twice and give two output rows)."""
    task_file = tmp_path / "dups.py"
    task_file.write_text(
        textwrap.dedent("""
            import sys
            sys.path.insert(0, %r)
            from corpus_tasks import Good, Item

            class Dups(Good):
                def items(self):
                    for i in range(2_100):
                        yield Item(f"k{i:05d}", {"i": i})
                    yield Item("k00000", {"i": 0})
        """)
        % str(TASKS.parent),
        encoding="utf-8",
    )
    task_dir = tmp_path / "task"
    code = run_app([
        "run", f"{task_file}:Dups", "-d", str(task_dir), "--base-url", corpus_server.base_url,
        "--api-key", corpus_server.api_key, "--max-remote-batches", "0", "--min-batch-requests", "1",
        "--progress", "quiet",
    ])  # fmt: skip
    assert code == ExitCode.WORK_LEFT  # prepared locally, nothing sent
    with sqlite3.connect(task_dir / DB_NAME) as conn:
        total, distinct = conn.execute("SELECT count(*), count(DISTINCT item_key) FROM requests").fetchone()
    assert (total, distinct) == (2_100, 2_100)


def test_status_of_a_task_on_a_read_only_medium(
    tmp_path: Path, template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A finished task archived on read-only media can still be inspected (SQLite cannot create its
    ``-shm`` there), while running it is refused with a clear message (see the corpus)."""
    task_dir = tmp_path / "task"
    shutil.copytree(template, task_dir)
    with read_only_mount(task_dir):
        capsys.readouterr()
        assert run_app(["status", str(task_dir), "--json"]) == ExitCode.DONE
        data = json.loads(capsys.readouterr().out)
        assert data["items"] == {"succeeded": 6} and data["task_name"] == "corpus"
