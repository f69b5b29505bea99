"""Fixtures of the bad-input tests: one local server and one completed template task per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchwright.cli import run_app
from batchwright.errors import ExitCode

from .support import TASKS, fill, run


@pytest.fixture(scope="session")
def corpus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local batch server (instant mode) shared by the bad-input tests."""
    from batchwright.server import INSTANT, ServerConfig, run_server

    with run_server(ServerConfig(data_dir=tmp_path_factory.mktemp("corpus-server"), speed=INSTANT)) as server:
        yield server


@pytest.fixture(scope="session")
def template(corpus_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A completed ``corpus`` task directory, copied for every case that starts from an existing task."""
    task_dir = tmp_path_factory.mktemp("corpus-template") / "task"
    values = {"tasks": str(TASKS), "dir": str(task_dir), "url": corpus_server.base_url,
              "key": corpus_server.api_key}  # fmt: skip
    assert run_app([fill(arg, values) for arg in run("Good")]) == ExitCode.DONE
    assert (task_dir / "output.jsonl").read_text("utf-8").count("\n") == 6
    return task_dir
