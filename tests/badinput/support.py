"""Shared pieces of the bad-input tests: the corpus task file, command builders, state fingerprints."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from batchwright.store.db import DB_NAME

TASKS = Path(__file__).parent / "corpus_tasks.py"


def run(task: str, *extra: str) -> tuple[str, ...]:
    """``batchwright run`` of ``corpus_tasks.py:<task>`` on ``{dir}`` against the tests' local server."""
    return (
        "run", f"{{tasks}}:{task}", "-d", "{dir}", "--base-url", "{url}", "--api-key", "{key}",
        "--progress", "plain", "--min-batch-requests", "1", "--poll-interval", "0.05", *extra,
    )  # fmt: skip


@contextlib.contextmanager
def read_only_mount(task_dir: Path) -> Iterator[None]:
    """Put the task directory (as it is) on a read-only tmpfs: root can write through chmod, not
    through a read-only mount. Skips where mounting is not permitted (unprivileged CI)."""
    source = task_dir.with_name("unmounted")
    if task_dir.exists():
        task_dir.rename(source)
    task_dir.mkdir()
    mounted = (
        shutil.which("mount") is not None
        and not subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(task_dir)], capture_output=True
        ).returncode
    )
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)")
    try:
        if source.exists():
            shutil.copytree(source, task_dir, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(task_dir)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(task_dir)], check=True)


def db_fingerprint(task_dir: Path) -> dict[str, str | None]:
    """SHA-256 of the database, its write-ahead log (missing = empty) and the exports."""
    prints: dict[str, str | None] = {}
    for name in (DB_NAME, f"{DB_NAME}-wal", "output.jsonl"):
        path = task_dir / name
        data = path.read_bytes() if path.is_file() else b""
        prints[name] = hashlib.sha256(data).hexdigest() if data or name == DB_NAME else None
    return prints


def fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every ``{name}`` placeholder replaced by its value."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text
