"""The task database: pragmas, migrations, version checks, corruption, file modes, the directory lock."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

import pytest

from batchwright.errors import StateError, TaskLockedError
from batchwright.store import DB_NAME, SCHEMA_VERSION, Store, TaskLock


def test_new_database_is_wal_full_sync_with_foreign_keys_and_private(tmp_path):
    task_dir = tmp_path / "task"
    with Store.open(task_dir) as store:
        conn = store.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert len(store.task_id) == 16
    assert stat.S_IMODE(os.stat(task_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(task_dir / DB_NAME).st_mode) == 0o600


def test_reopen_keeps_task_id(tmp_path):
    with Store.open(tmp_path) as store:
        first = store.task_id
    with Store.open(tmp_path) as store:
        assert store.task_id == first


def test_newer_schema_is_refused(tmp_path):
    with Store.open(tmp_path) as store:
        store.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StateError, match=r"knows up to"):
        Store.open(tmp_path)


def test_corrupt_file_is_a_state_error(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StateError, match="corrupt"):
        Store.open(tmp_path)


def test_missing_database_without_create(tmp_path):
    with pytest.raises(StateError, match="No batchwright task database"):
        Store.open(tmp_path, create=False)


def test_transaction_rolls_back_on_error(tmp_path):
    with Store.open(tmp_path) as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.set_meta("x", "1")
            raise RuntimeError("boom")
        assert store.get_meta("x") is None
        with store.transaction(), store.transaction():  # nested joins the outer one
            store.set_meta("x", "2")
        assert store.get_meta("x") == "2"


def test_lock_names_holder_pid_host_and_since(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from batchwright.store import TaskLock; "
         "TaskLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(TaskLockedError) as info:
            TaskLock(tmp_path).acquire()
        message = str(info.value)
        assert f"pid {holder.pid}" in message and socket.gethostname() in message and "since" in message
    finally:
        holder.kill()
        holder.wait()
    lock = TaskLock(tmp_path)  # a dead holder releases the lock
    lock.acquire()
    lock.release()
