"""Running a task: open its directory, fix its metadata, generate requests for new items, run, export.

:func:`run_task` is the whole lifecycle in one call, for Python users and for the CLI alike::

    report = batchwright.run_task(MyTask(), "my-task", max_batch_requests=1000)
    print(report.summary.one_line(), report.exports)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from batchwright.config import EngineSettings
from batchwright.engine import Engine
from batchwright.engine.crashpoints import signalpoint
from batchwright.engine.types import RequestSpec, RunSummary
from batchwright.errors import BatchwrightError, ConfigError, ExitCode, InputError, TaskDefinitionError
from batchwright.store.db import DB_NAME, Store
from batchwright.store.lock import LOCK_NAME
from batchwright.tasks.api import Item, OpinionTask, Row, Task, TaskMeta
from batchwright.tasks.export import ExportFormat, ExportSpec, export_rows
from batchwright.tasks.results import TaskResultHook, request_spec, resume_specs

_CHUNK = 2_000
Monitor = Callable[[Path], contextlib.AbstractContextManager[Any]]


@dataclass
class DryRunEstimate:
    """Requests that new items would get, with predicted tokens and cost (batch prices)."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    cost_direct: float = 0.0
    """The same requests' predicted cost through the direct API."""
    samples: list[tuple[str, str]] = field(default_factory=list)
    """``(item key, request body JSON)`` of the first requests that would be sent."""


@dataclass
class TaskRunReport:
    """What :func:`run_task` did: the engine's summary (None with ``run=False``), requests added,
    exports written, whether the task is complete, and for dry runs the new items' estimate."""

    task_dir: Path
    task_name: str
    meta: TaskMeta
    summary: RunSummary | None = None
    requests_added: int = 0
    exports: list[Path] = field(default_factory=list)
    complete: bool = False
    wiped: dict[str, int] = field(default_factory=dict)
    new_items: DryRunEstimate | None = None
    plan_direct_costs: list[float] = field(default_factory=list)
    """Dry runs: the predicted cost of each planned batch's requests through the direct API."""
    rejected: int = 0
    """Results the task rejected this run (retried as task errors)."""

    @property
    def exit_code(self) -> ExitCode:
        """The CLI exit code: the run's, or DONE when nothing ran."""
        return ExitCode.DONE if self.summary is None else self.summary.exit_code


def export_specs(
    task: Task,
    task_dir: Path,
    exports: Sequence[str | Path | ExportSpec] | None = None,
    *,
    max_entries: int | None = None,
    max_bytes: int | None = None,
) -> list[ExportSpec]:
    """The exports of a run (the task's defaults unless given); relative paths are in ``task_dir``
    (made absolute, so the result can be passed through again unchanged).

    Validated up front, so a bad name fails before anything runs. Part limits apply to JSONL exports.
    """
    for limit in (max_entries, max_bytes):
        if limit is not None and limit < 1:
            raise ConfigError(
                f"Export part limits must be positive, got {limit}.",
                remedy="Give --export-max-entries/--export-max-bytes 1 or more.",
            )
    specs = []
    task_dir = task_dir.absolute()
    for entry in task.exports if exports is None else exports:
        spec = entry if isinstance(entry, ExportSpec) else ExportSpec(Path(entry))
        path = spec.path if spec.path.is_absolute() else task_dir / spec.path
        if path.is_dir():
            raise ConfigError(
                f"The export path {str(path)!r} is a directory.",
                remedy="Give a file name ending in .jsonl, .json, .csv or .parquet.",
            )
        fmt = spec.resolved_format()
        split = fmt is ExportFormat.JSONL
        specs.append(
            ExportSpec(
                path,
                fmt,
                spec.max_entries or (max_entries if split else None),
                spec.max_bytes or (max_bytes if split else None),
            )
        )
    return specs


def run_task(
    task: Task,
    task_dir: str | Path,
    settings: EngineSettings | None = None,
    *,
    meta: Mapping[str, Any] | None = None,
    reinit_meta: bool = False,
    run: bool = True,
    dry_run: bool = False,
    only_process: bool = False,
    wait: bool = True,
    wipe_requests: bool = False,
    wipe_failed: bool = False,
    wipe_task: bool = False,
    exports: Sequence[str | Path | ExportSpec] | None = None,
    monitor: Monitor | None = None,
    engine_options: Mapping[str, Any] | None = None,
    samples: int = 0,
    **settings_values: Any,
) -> TaskRunReport:
    """Run ``task`` in ``task_dir`` until done or a stop condition, then export its output.

    ``settings`` (or keyword settings values) configure the engine. ``meta`` overrides fields of the
    task's ``default_meta`` when the directory is created (or with ``reinit_meta``); on an existing
    directory a differing value is an error. ``run=False`` only applies wipes and metadata;
    ``dry_run`` sends and writes nothing. ``monitor(task_dir)`` wraps the engine run (progress view);
    when what it enters has a ``direct_progress(stats)`` method, it gets the direct path's live numbers.
    ``engine_options`` are passed to :class:`~batchwright.engine.Engine` (e.g. ``provider_factory``).
    A dry run collects the bodies of the first ``samples`` requests it would send.
    """
    task.check_definition()
    task_dir = Path(task_dir).absolute()
    if settings is None:
        settings = EngineSettings(**settings_values)
    elif settings_values:
        settings = settings.replace(**settings_values)
    overrides = dict(meta or {})
    specs = export_specs(task, task_dir, exports)
    hook = TaskResultHook(task)
    options = dict(engine_options or {})
    name = task.task_name()

    def open_engine(current: EngineSettings) -> Engine:
        models = [task.response_model] if task.response_model is not None else []
        return Engine(task_dir, current, task_name=name, result_hook=hook, response_models=models, **options)

    check_owner(task_dir, name)
    if run and not dry_run and "provider_factory" not in options:
        from batchwright.providers.openai import require_api_key  # the SDK loads only when needed

        require_api_key(settings)  # before the task directory is created or changed
    existed, new_task = task_dir.exists(), not (task_dir / DB_NAME).exists()
    engine = open_engine(settings)
    sent = discard = False
    try:
        wiped: dict[str, int] = {}
        if wipe_task:
            engine.wipe_task()
            engine.store.set_meta("task_name", name)
            wiped["task"] = 1
        task_meta = _resolve_meta(task, engine, overrides, reinit_meta, write=not dry_run)
        task.bind_meta(task_meta)
        if task_meta.completion_ratio != settings.completion_ratio:
            settings = settings.replace(completion_ratio=task_meta.completion_ratio)
            engine.close()
            engine = open_engine(settings)
        if wipe_requests:
            wiped["requests"] = engine.wipe_requests()
        if wipe_failed:
            wiped["failed"] = engine.wipe_failed()
        report = TaskRunReport(task_dir, name, task_meta, wiped=wiped)
        if not run:
            return report
        if dry_run:
            discard = new_task  # a dry run writes nothing, not even a new task directory
            report.new_items = _estimate_new(engine, task, samples)
            report.summary = engine.run(dryrun=True)
            report.plan_direct_costs = [
                engine.costs.cost(b.model, "direct", b.pred_input_tokens, 0, b.pred_output_tokens)
                for b in report.summary.plan
            ]
            return report
        if not only_process:
            for chunk in _new_requests(engine, task):
                report.requests_added += engine.add_requests(chunk)
            if not report.requests_added and not sum(engine.counts()["items"].values()):
                raise InputError(
                    f"{type(task).__name__}.items() yielded no items: there is nothing to do.",
                    remedy="Check the task's input (an empty input file?); items() must yield Item objects.",
                )
        sent = True
        with monitor(task_dir) if monitor is not None else contextlib.nullcontext() as view:
            engine.on_direct_progress = getattr(view, "direct_progress", None)
            signalpoint("before_run")  # test hook (see crashpoints), a no-op outside tests
            report.summary = engine.run(only_process=only_process, wait=wait)
        report.rejected = hook.rejected
        counts = engine.counts()
        unfinished = counts["items"].get("pending", 0) + counts["items"].get("committed", 0)
        report.complete = unfinished == 0 and sum(counts["items"].values()) > 0
        rows = _rows_of(engine)
        for spec in specs:
            report.exports.extend(export_rows(rows, spec))
        if report.complete and engine.store.get_meta("completed") is None:
            task.on_complete(rows())
            engine.store.set_meta("completed", "1")
        return report
    except BaseException:
        discard = new_task and not sent  # bad input stopped a new task before anything was sent
        raise
    finally:
        engine.close()
        if discard:
            _discard_new_task_dir(task_dir, existed)


def _discard_new_task_dir(task_dir: Path, existed: bool) -> None:
    """Remove what opening a new task directory created (nothing was sent from it)."""
    for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", LOCK_NAME):
        (task_dir / name).unlink(missing_ok=True)
    if not existed:
        with contextlib.suppress(OSError):
            task_dir.rmdir()


def check_owner(task_dir: Path, name: str) -> None:
    """Refuse, before touching anything, a directory that another task (not ``name``) created."""
    if not (task_dir / DB_NAME).exists():
        return
    with Store.open(task_dir, readonly=True) as store:
        stored = store.get_meta("task_name")
    if stored is not None and stored != name:
        raise InputError(
            f"{task_dir} belongs to task {stored!r}, not {name!r}; nothing was changed.",
            remedy="Use another --task-dir for this task (or the task that created the directory).",
        )


def _rows_of(engine: Engine) -> Callable[[], Iterator[Row]]:
    def rows() -> Iterator[Row]:
        return (row for _, _, row in engine.iter_outputs())

    return rows


def _resolve_meta(
    task: Task, engine: Engine, overrides: dict[str, Any], reinit: bool, *, write: bool
) -> TaskMeta:
    """The stored metadata; made from defaults + overrides for a new task or with ``reinit`` (and
    stored unless ``write`` is false, as in a dry run)."""
    meta_cls = type(task.default_meta)
    stored = engine.task_meta
    if stored is None or reinit:
        values = {**task.default_meta.model_dump(), **overrides}
        try:
            meta = meta_cls(**values)
        except ValueError as error:
            raise ConfigError(f"Invalid task metadata: {error}", remedy="Fix the metadata flags.") from None
        meta.opinion_policy()  # validates min/max opinions and confidence together
        try:
            stored_meta = meta.model_dump(mode="json")
        except ValueError as error:  # pydantic's serialisation error: a field that JSON cannot hold
            raise TaskDefinitionError(
                f"The task metadata cannot be stored as JSON: {error}",
                remedy="Give the task's default_meta only JSON values: str, number, bool, list, dict.",
            ) from None
        if write:
            engine.set_task_meta(stored_meta)
        return meta
    try:  # compare validated values: "0.7" from the environment equals a stored 0.7
        asked = meta_cls(**{**stored, **overrides}).model_dump(mode="json")
    except ValueError as error:
        raise ConfigError(f"Invalid task metadata: {error}", remedy="Fix the metadata flags.") from None
    differing = {key: asked[key] for key in overrides if stored.get(key) != asked[key]}
    if differing:
        shown = ", ".join(f"{k}={v!r} (stored: {stored.get(k)!r})" for k, v in differing.items())
        raise ConfigError(
            f"Task metadata is fixed when the task is created; the run asks for {shown}.",
            remedy="Add --reinit-meta to replace the stored metadata, or drop those options.",
        )
    return meta_cls(**stored)


def _task_items(task: Task) -> Iterator[Item]:
    """The task's items; an exception raised by its ``items()`` becomes a task definition error."""
    try:
        yield from task.items()
    except BatchwrightError:
        raise
    except Exception as error:
        raise TaskDefinitionError(
            f"{type(task).__name__}.items() raised {type(error).__name__}: {error}",
            remedy="Fix the task's items() or its input (run with --debug for the traceback).",
        ) from error


def _chunks(task: Task) -> Iterator[list[Item]]:
    """The task's items in chunks, checked: each an :class:`Item`, keys unique within a chunk (a key
    repeated across chunks is known by then and ignored)."""
    iterator = _task_items(task)
    while chunk := list(islice(iterator, _CHUNK)):
        keys: set[str] = set()
        for item in chunk:
            if not isinstance(item, Item) or not isinstance(item.key, str) or not item.key:
                raise ConfigError(
                    f"items() yielded {item!r}, not a batchwright.Item with a non-empty string key.",
                    remedy="Yield Item(key=..., data=...) objects from items().",
                )
            if item.key in keys:
                raise ConfigError(
                    f"items() yields the key {item.key!r} more than once.",
                    remedy="Give every item a unique key.",
                )
            keys.add(item.key)
        yield chunk


def _new_requests(engine: Engine, task: Task) -> Iterator[list[RequestSpec]]:
    """Requests for items the task directory has not seen, and for items left without requests
    (their open requests were wiped): one list per chunk of items, to be committed before the next
    chunk is looked up, so a key repeated in a later chunk is known by then and never requested twice."""
    counts = engine.counts()
    open_requests = counts["requests"].get("pending", 0) + counts["requests"].get("active", 0)
    stalled: dict[str, Any] = {}
    if open_requests == 0:
        stalled = {key: state for key, _, state, _ in engine.items(["pending", "committed"])}
    initial = task.meta.opinion_policy().initial_requests() if isinstance(task, OpinionTask) else 1
    for chunk in _chunks(task):
        known = engine.known_item_keys([item.key for item in chunk])
        specs: list[RequestSpec] = []
        for item in chunk:
            if item.key not in known:
                specs.extend(request_spec(task, item, requested=initial) for _ in range(initial))
            elif item.key in stalled:
                state = stalled.pop(item.key)
                if isinstance(task, OpinionTask):
                    specs.extend(resume_specs(task, item, state))
                else:
                    specs.append(request_spec(task, item))
        yield specs


def _estimate_new(engine: Engine, task: Task, samples: int) -> DryRunEstimate:
    """Predict the requests new items would get, writing nothing; keep the first ``samples`` bodies
    (requests already waiting in the database first)."""
    estimate = DryRunEstimate()
    if samples:
        estimate.samples = engine.store.conn.execute(
            "SELECT item_key, body FROM requests WHERE state = 'pending' ORDER BY id LIMIT ?", (samples,)
        ).fetchall()
    initial = task.meta.opinion_policy().initial_requests() if isinstance(task, OpinionTask) else 1
    for chunk in _chunks(task):
        known = engine.known_item_keys(item.key for item in chunk)
        for item in chunk:
            if item.key in known:
                continue
            row = engine.intake.prepare(request_spec(task, item, requested=initial))
            body, tokens_in, tokens_out, cost = row[3], row[7], row[8], row[9]
            if len(estimate.samples) < samples:
                estimate.samples.append((item.key, body))
            estimate.requests += initial
            estimate.input_tokens += tokens_in * initial
            estimate.output_tokens += tokens_out * initial
            estimate.cost += cost * initial
            estimate.cost_direct += engine.costs.cost(row[2], "direct", tokens_in, 0, tokens_out) * initial
    return estimate
