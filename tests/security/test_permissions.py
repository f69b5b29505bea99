"""Files batchwright creates are 0600 and directories 0700: task directories (nested ones included),
the database and its journal files, the lock, exports in every format, and the local server's data dir."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from batchwright.cli import run_app
from batchwright.errors import ExitCode

TASK = f"{Path(__file__).parents[1] / 'badinput' / 'corpus_tasks.py'}:Good"


def modes(root: Path, *, below: Path) -> dict[str, str]:
    """``path -> octal mode`` of ``root`` and everything in it, plus the directories between ``below``
    and ``root`` (created by batchwright too)."""
    found = {str(p): oct(stat.S_IMODE(p.lstat().st_mode)) for p in [root, *root.rglob("*")]}
    for parent in root.parents:
        if parent == below:
            break
        found[str(parent)] = oct(stat.S_IMODE(parent.lstat().st_mode))
    return found


def wrong_modes(found: dict[str, str]) -> dict[str, str]:
    return {
        path: mode for path, mode in found.items() if mode != ("0o700" if Path(path).is_dir() else "0o600")
    }


@pytest.fixture
def loose_umask() -> Any:
    """The most permissive umask a user could have: nothing may rely on it."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_task_dir_database_lock_and_exports_are_private(
    tmp_path: Path, local_server: Any, loose_umask: Any
) -> None:
    pytest.importorskip("pyarrow")
    task_dir = tmp_path / "nested" / "deeper" / "task"
    outside = tmp_path / "exports" / "new" / "out.jsonl"
    code = run_app([
        "run", TASK, "-d", str(task_dir), "--base-url", local_server.base_url, "--api-key",
        local_server.api_key, "--min-batch-requests", "1", "--poll-interval", "0.05", "--progress", "quiet",
        "-o", "out.jsonl", "-o", "out.csv", "-o", "out.json", "-o", "out.parquet", "-o", str(outside),
        "-o", "parts.jsonl", "--export-max-entries", "2",
    ])  # fmt: skip
    assert code == ExitCode.DONE
    found = modes(task_dir, below=tmp_path)
    names = {Path(p).name for p in found}
    assert {"batchwright.sqlite3", "batchwright.lock", "out.parquet", "parts.part003of003.jsonl"} <= names
    assert wrong_modes(found) == {}
    assert wrong_modes(modes(outside.parent, below=tmp_path)) == {}
    # Opening it again (and the -wal/-shm files SQLite makes while it is open) stays private too.
    assert run_app(["status", str(task_dir)]) == ExitCode.DONE
    assert wrong_modes(modes(task_dir, below=tmp_path)) == {}


def test_server_data_dir_is_private(tmp_path: Path, loose_umask: Any) -> None:
    from openai import OpenAI

    from batchwright.server import INSTANT, ServerConfig, run_server

    data_dir = tmp_path / "srv" / "data"
    with run_server(ServerConfig(data_dir=data_dir, speed=INSTANT)) as server:
        client = OpenAI(base_url=server.base_url, api_key=server.api_key)
        line = (
            b'{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": '
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}\n'
        )
        uploaded = client.files.create(file=("in.jsonl", line), purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert batch.id
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        found = modes(data_dir, below=tmp_path)
    assert sum(1 for p in found if Path(p).is_file()) >= 2
    assert wrong_modes(found) == {}
