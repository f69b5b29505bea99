"""Run existing batch-format JSONL files as one resumable batchwright task.

Every line becomes one item (its ``custom_id`` is the item key) with exactly the line's request; the
engine packs, submits, retries and collects them, never paying twice, and the results are exported as
batch-output JSONL (``{"custom_id", "response": {"status_code", "body"}, "error"}``), one line per
request, in ``results.jsonl``::

    report = submit_batch_files(["part1.jsonl", "part2.jsonl"], "my-job", max_batch_requests=5000)
"""

from __future__ import annotations

import contextlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from batchwright.config import EngineSettings
from batchwright.errors import InputError
from batchwright.jobs.batchfile import BatchLine, check_batch_files, read_batch_files, read_line_at
from batchwright.jobs.outputs import export_task_rows, iter_task_rows
from batchwright.tasks.api import Item, Result, Row, Task
from batchwright.tasks.export import ExportFormat, atomic_writer
from batchwright.tasks.run import TaskRunReport, run_task

RESULTS_NAME = "results.jsonl"
SOURCE = "source_file"
"""Column of the stored rows naming the batch file a request came from (not exported)."""
_CACHE = 8_192
"""Bodies kept between yielding an item and building its request (the task layer asks for requests
chunk by chunk, a few thousand items at a time; a body evicted earlier is re-read from its file)."""


class BatchFileTask(Task):
    """The requests of batch-format JSONL files, one item per line, keyed by ``custom_id``.

    :meth:`check` reads every line once (syntax, fields, unique ids) before anything is sent; all
    lines must use one endpoint (the Batch API takes one endpoint per batch).
    """

    name = "batch-files"
    exports = ()

    def __init__(self, paths: Iterable[str | Path]) -> None:
        self.paths = [Path(p).absolute() for p in paths]
        self._bodies: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.requests = 0

    def check(self) -> None:
        """Check every line; raise :class:`BatchFileError` at the first problem."""
        if not self.paths:
            raise InputError("No batch files given.", remedy="Name one or more .jsonl files.")
        summary = check_batch_files(self.paths)
        if summary.requests == 0:
            raise InputError("The batch files hold no requests.", remedy="Check the input files.")
        if len(summary.urls) > 1:
            raise InputError(
                f"The batch files mix endpoints ({', '.join(sorted(summary.urls))}).",
                remedy="Run the files of each endpoint as a separate job (another --dir).",
            )
        self.endpoint = summary.urls.pop()  # type: ignore[misc]
        self.requests = summary.requests

    def items(self) -> Iterator[Item]:
        for line in read_batch_files(self.paths):
            self._bodies[line.custom_id] = line.body
            if len(self._bodies) > _CACHE:
                self._bodies.popitem(last=False)
            yield Item(line.custom_id, {"file": str(line.path), "line": line.lineno, "offset": line.offset})

    def request(self, item: Item) -> dict[str, Any]:
        body = self._bodies.pop(item.key, None)
        if body is None:
            body = self._reread(item).body
        return body

    @staticmethod
    def _reread(item: Item) -> BatchLine:
        data = item.data
        return read_line_at(Path(data["file"]), data["line"], data["offset"], item.key)

    def process(self, item: Item, result: Result) -> Row:
        response = {"status_code": 200, "body": result.body}
        return {"custom_id": item.key, "response": response, "error": None, SOURCE: item.data["file"]}

    def failed(self, item: Item, error: str) -> Row:
        code, _, message = error.partition(": ")
        failure = {"code": code, "message": message or error}
        return {"custom_id": item.key, "response": None, "error": failure, SOURCE: item.data["file"]}


def submit_batch_files(
    paths: Iterable[str | Path],
    task_dir: str | Path,
    settings: EngineSettings | None = None,
    *,
    results: str | Path | None = None,
    per_file: bool = False,
    **options: Any,
) -> TaskRunReport:
    """Run the requests of batch files through the engine in ``task_dir`` and export the results.

    ``results`` is the results file (default ``task_dir/results.jsonl``; ``.csv``/``.json``/``.parquet``
    work too); ``per_file`` also writes each file's results next to it (:func:`output_path_for`).
    Other keywords go to :func:`~batchwright.run_task` (``dry_run``, ``wait``, engine settings...).
    Running it again resumes: requests answered before are never sent again.
    """
    check_results_path(results)
    task = BatchFileTask(paths)
    task.check()
    report = run_task(task, task_dir, settings, **options)
    export_results(report, results)
    if per_file:
        export_results_per_file(report, task.paths)
    return report


def export_results(
    report: TaskRunReport, results: str | Path | None = None, *, drop: tuple[str, ...] = ("key", SOURCE)
) -> None:
    """Write the results file of a run (default ``results.jsonl``; relative paths are in the task
    directory) without the ``drop`` columns, and add it to ``report.exports``. Dry runs and runs that
    did not run write nothing."""
    if not _ran(report):
        return
    target = Path(results) if results is not None else Path(RESULTS_NAME)
    if not target.is_absolute():
        target = report.task_dir / target
    report.exports.extend(export_task_rows(report.task_dir, target, drop=drop))


def check_results_path(results: str | Path | None) -> None:
    """Refuse a results file of unknown format before anything runs."""
    if results is not None:
        ExportFormat.from_path(Path(results))


def _ran(report: TaskRunReport) -> bool:
    return report.summary is not None and report.new_items is None


def output_path_for(path: Path) -> Path:
    """Where the results of batch file ``path`` go: ``a/shard-000-of-079.output.jsonl`` for
    ``a/shard-000-of-079.jsonl``."""
    return path.with_name(f"{path.stem}.output.jsonl")


def export_results_per_file(report: TaskRunReport, paths: Iterable[str | Path]) -> None:
    """Write each batch file's results next to it (:func:`output_path_for`), in one pass over the
    stored rows, each file atomically; adds them to ``report.exports``."""
    if not _ran(report):
        return
    targets = {str(Path(p).absolute()): output_path_for(Path(p).absolute()) for p in paths}
    with contextlib.ExitStack() as stack:
        handles = {source: stack.enter_context(atomic_writer(target)) for source, target in targets.items()}
        for row in iter_task_rows(report.task_dir, drop=("key",)):
            handle = handles.get(row.pop(SOURCE, None))
            if handle is not None:
                handle.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    report.exports.extend(targets.values())
