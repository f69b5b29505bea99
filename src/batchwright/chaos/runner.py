"""The soak's runner process: the chaos task run through :func:`~batchwright.tasks.run.run_task`.

The driver starts it as ``python -m batchwright.chaos.runner run|cleanup TASK_DIR SETTINGS_JSON N`` with the
API key in ``OPENAI_API_KEY`` (never on the command line), kills it at random moments and starts it again.
``run`` adds the task's items on its first start, runs until done and exports ``output.jsonl``; it prints
``running`` once the engine starts running and ``complete`` when every item is final. ``cleanup`` sweeps
remote files and batches of the task that the database does not know.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from batchwright.config import EngineSettings
from batchwright.engine import Engine
from batchwright.tasks import Item, Result, Task, TaskError, TaskMeta
from batchwright.tasks.run import run_task

EXPORT_NAME = "output.jsonl"
REJECT_EVERY = 61
"""About one answer in this many is rejected by the task (a retryable task error), keyed on its text."""


class ChaosTask(Task):
    """``n`` chat items; output rows carry the item number, success flag and, for failures, the error."""

    name = "chaos-soak"
    default_meta = TaskMeta(model="gpt-4o-mini", max_completion_tokens=120, temperature=0.7)
    exports = (EXPORT_NAME,)

    def __init__(self, n: int) -> None:
        self.n = n

    def items(self) -> Iterator[Item]:
        for i in range(self.n):
            yield Item(item_key(i), i)

    def request(self, item: Item) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": f"Chaos item {item.data}: say something short."}]}

    def process(self, item: Item, result: Result) -> dict[str, Any]:
        text = result.text or ""
        if zlib.crc32(text.encode()) % REJECT_EVERY == 0:
            raise TaskError("the chaos task rejected this answer")
        return {"i": item.data, "ok": True, "chars": len(text)}

    def failed(self, item: Item, error: str) -> dict[str, Any]:
        return {"i": item.data, "ok": False, "error": error}


def item_key(i: int) -> str:
    """The key of item number ``i``."""
    return f"c{i:06d}"


def load_settings(path: Path) -> EngineSettings:
    """The engine settings the driver wrote (no API key in the file)."""
    return EngineSettings(**json.loads(path.read_text(encoding="utf-8")))


@contextlib.contextmanager
def _announce(_task_dir: Path) -> Iterator[None]:
    print("running", flush=True)
    yield


def main(argv: list[str]) -> int:
    """Entry point; returns the process exit code (0 only when the task is complete)."""
    # The driver's SIGINT must count at every moment, also before the engine runs: a driver started as a
    # background job of a non-interactive shell starts its runners with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    command, task_dir, settings_path, n = argv
    settings = load_settings(Path(settings_path))
    if command == "cleanup":
        with Engine(task_dir, settings, task_name=ChaosTask.task_name()) as engine:
            print(f"cleanup {engine.cleanup()}", flush=True)
        return 0
    report = run_task(ChaosTask(int(n)), task_dir, settings, monitor=_announce)
    assert report.summary is not None
    print(report.summary.one_line(), flush=True)
    if report.complete:
        print("complete", flush=True)
        return 0
    return int(report.exit_code) or 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
