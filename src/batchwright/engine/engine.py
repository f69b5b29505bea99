"""The public engine: a sync facade over the asyncio core, owning one locked task directory."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pydantic

from batchwright.config import EngineSettings
from batchwright.engine.collect import BatchCollector
from batchwright.engine.commit import OutcomeCommitter, ResultHook
from batchwright.engine.crashpoints import signalpoint
from batchwright.engine.direct import DirectRunner, DirectStats, direct_groups, plan_direct
from batchwright.engine.intake import RequestIntake
from batchwright.engine.liveness import Liveness, WatchedProvider, api_location
from batchwright.engine.maintenance import FinalResult, Maintenance
from batchwright.engine.planner import BatchPlanner
from batchwright.engine.predict import CostModel
from batchwright.engine.push import BatchPusher
from batchwright.engine.runner import Runner, load_budgets
from batchwright.engine.structured import ResponseModels
from batchwright.engine.types import RequestSpec, RunSummary, StopReason
from batchwright.errors import InputError, StateError, os_error_reason
from batchwright.private_files import make_private_dir
from batchwright.providers.base import Provider
from batchwright.store.db import DB_NAME, Store
from batchwright.store.lock import TaskLock

ProviderFactory = Callable[[EngineSettings], Provider]
_ADD_CHUNK = 10_000
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _default_provider(settings: EngineSettings) -> Provider:
    from batchwright.providers.openai import OpenAIProvider

    return OpenAIProvider(settings)


class Engine:
    """A task directory opened for running: exclusive lock, database, and the batch engine.

    Use as a context manager (or call :meth:`close`). ``result_hook`` is called inside the committing
    transaction for every success candidate and every final failure (see :class:`ResultContext`).
    """

    def __init__(
        self,
        task_dir: str | Path,
        settings: EngineSettings | None = None,
        *,
        task_name: str | None = None,
        result_hook: ResultHook | None = None,
        response_models: Iterable[type[pydantic.BaseModel]] = (),
        provider_factory: ProviderFactory = _default_provider,
    ) -> None:
        self.task_dir = Path(task_dir)
        self.settings = settings if settings is not None else EngineSettings()
        self._lock = TaskLock(self.task_dir)
        try:
            make_private_dir(self.task_dir)
            self._lock.acquire()
        except OSError as error:
            raise InputError(
                f"Cannot use {self.task_dir} as the task directory: {os_error_reason(error)}.",
                remedy="Choose a task directory (--task-dir) that can be created and written.",
            ) from None
        try:
            self.store = Store.open(self.task_dir)
            self._check_task_name(task_name)
        except BaseException:
            self._lock.release()
            raise
        self.work_dir = self.task_dir / "tmp"
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir.mkdir(mode=0o700)
        self.models = ResponseModels()
        for model in response_models:
            self.models.register(model)
        self._hook = result_hook
        self._provider_factory = provider_factory
        self._build()
        self.maintenance.recover_direct_attempts()
        self._stop: asyncio.Event | None = None
        self.on_direct_progress: Callable[[DirectStats], None] | None = None
        """Called with live direct-path numbers (RPM/TPM, in flight) after each commit (progress views)."""
        self._loop: asyncio.AbstractEventLoop | None = None

    def _build(self) -> None:
        self.costs = CostModel(self.settings)
        for model, *samples in self.store.conn.execute(
            "SELECT model, samples, max_output_tokens, output_tokens FROM ratios"
        ):
            self.costs.observe(model, *samples)
        self.intake = RequestIntake(self.settings, self.models, self.costs)
        self.committer = OutcomeCommitter(self.store, self.settings, self.costs, self.intake, self._hook)
        self.planner = BatchPlanner(self.store, self.settings)
        self.maintenance = Maintenance(self.store, self.work_dir)

    def _check_task_name(self, task_name: str | None) -> None:
        if task_name is None:
            return
        stored = self.store.get_meta("task_name")
        if stored is None:
            self.store.set_meta("task_name", task_name)
        elif stored != task_name:
            self.store.close()
            raise StateError(
                f"{self.task_dir} belongs to task {stored!r}, not {task_name!r}.",
                remedy="Use another task directory, or the task that created this one.",
            )

    def close(self) -> None:
        """Close the database and release the lock."""
        self.store.close()
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self._lock.release()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- task identity ------------------------------------------------------------------------
    @property
    def task_id(self) -> str:
        """The random id of this task (in remote file names and batch metadata)."""
        return self.store.task_id

    @property
    def task_meta(self) -> dict[str, Any] | None:
        """The task layer's metadata, fixed when the task is created."""
        value = self.store.get_meta("task_meta")
        return None if value is None else json.loads(value)

    def set_task_meta(self, meta: dict[str, Any]) -> None:
        """Store (or with ``reinit_meta``, replace) the task metadata."""
        self.store.set_meta("task_meta", json.dumps(meta))

    # --- requests and items -------------------------------------------------------------------
    def add_requests(self, specs: Iterable[RequestSpec]) -> int:
        """Add requests, streamed and committed in chunks; returns how many were added.

        A bad spec raises :class:`~batchwright.errors.InputError`; its chunk is not written.
        """
        total = 0
        iterator = iter(specs)
        while chunk := list(islice(iterator, _ADD_CHUNK)):
            with self.store.transaction() as conn:
                total += self.intake.insert(conn, chunk)
        return total

    def add_items(self, items: Iterable[tuple[str, Any]]) -> int:
        """Register items (key, JSON-able state) as pending; known keys are left alone."""
        return self.maintenance.add_items(items)

    def known_item_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` already in the items table."""
        return self.maintenance.known_item_keys(keys)

    def items(self, states: Iterable[str] | None = None) -> Iterator[tuple[str, str, Any, str | None]]:
        """``(key, state, state JSON, last error)`` of items, optionally only in ``states``, paged."""
        return self.maintenance.iter_items(states)

    def iter_outputs(self, after_id: int = 0, page: int = 1000) -> Iterator[tuple[int, str | None, Any]]:
        """``(output id, item key, row)`` of stored output rows in commit order, paged."""
        return self.maintenance.iter_outputs(after_id, page)

    def iter_results(self, after_id: int = 0, page: int = 1000) -> Iterator[FinalResult]:
        """Final results (succeeded, or failed for good) in commit order after attempt ``after_id``, paged."""
        return self.maintenance.iter_results(after_id, page)

    def counts(self) -> dict[str, dict[str, int]]:
        """Counts by state of ``items``, ``requests``, ``batches``; ``remote``: open batches by status."""
        return self.maintenance.counts()

    def usage(self) -> list[dict[str, Any]]:
        """Predicted and true tokens/cost per (model, mode) over the whole task."""
        return self.maintenance.usage()

    # --- running ------------------------------------------------------------------------------
    def run(self, *, dryrun: bool = False, only_process: bool = False, wait: bool = True) -> RunSummary:
        """Push, poll and collect until done or a stop condition; returns what happened and why it stopped.

        ``dryrun``: no API calls and no writes, only the packing plan with predicted tokens and cost.
        ``only_process``: collect what is in flight, submit nothing new. ``wait=False``: return once nothing
        more can be submitted instead of waiting for in-flight batches. SIGINT/SIGTERM stop cleanly after the
        current step; a second SIGINT exits at once.
        """
        if dryrun:
            direct = direct_groups(self.settings, self.planner.pending_groups())
            plan = self.planner.plan_all(exclude=direct)
            message = f"{len(plan)} batch(es) would be sent"
            summary = RunSummary(StopReason.DRYRUN, message, plan=plan)
            summary.pending = sum(p.requests for p in plan)
            if direct:
                shown = plan_direct(self.store, self.settings, self.costs, direct)
                summary.message += f"; {shown.one_line()}"
                summary.pending += shown.requests
            return summary
        return self._run_noting_signals(only_process, wait)

    def _run_noting_signals(self, only_process: bool, wait: bool) -> RunSummary:
        """``asyncio.run`` of the run, SIGINT/SIGTERM in hand from before the loop starts."""
        if threading.current_thread() is not threading.main_thread():
            return asyncio.run(self._run(only_process, wait, []))
        early: list[signal.Signals] = []

        def note(signum: int, _frame: object) -> None:
            if signum == signal.SIGINT and signal.SIGINT in early:
                raise KeyboardInterrupt  # a second SIGINT exits at once
            early.append(signal.Signals(signum))

        # Until the loop's handlers are in, a signal is only noted: asyncio.run's own SIGINT handler (which
        # cancels the run into a KeyboardInterrupt) is never installed, SIGTERM does not kill the process,
        # and an inherited "ignore SIGINT" does not swallow it.
        previous = {sig: signal.signal(sig, note) for sig in _STOP_SIGNALS}
        try:
            return asyncio.run(self._run(only_process, wait, early))
        finally:
            for sig, handler in previous.items():
                if signal.getsignal(sig) is note:  # the loop never took over
                    signal.signal(sig, handler)

    def request_stop(self) -> None:
        """Ask a running :meth:`run` (from another thread or a callback) to stop after the current step."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def _run(self, only_process: bool, wait: bool, early: list[signal.Signals]) -> RunSummary:
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        signalpoint("engine_start")  # test hook (see crashpoints), a no-op outside tests
        uninstall = self._install_signals(early)  # first: a signal while the client is built stops cleanly
        signalpoint("engine_handlers")
        provider = None
        try:
            provider = self._provider_factory(self.settings)
            runner = self._runner(provider)
            return await runner.run(only_process=only_process, wait=wait)
        finally:
            uninstall()
            if provider is not None:
                await provider.aclose()
            self._loop = None

    def _runner(self, provider: Provider) -> Runner:
        liveness = Liveness(self.settings.unreachable_after, api_location(self.settings))
        provider = WatchedProvider(provider, liveness)  # type: ignore[assignment]
        pusher = BatchPusher(self.store, provider, self.task_id, self.work_dir)
        collector = BatchCollector(
            self.store, provider, self.committer, self.planner, self.models, self.work_dir,
            self.settings.delete_remote_files,
        )  # fmt: skip
        assert self._stop is not None
        budgets = load_budgets(self.store, self.settings)  # one set of budgets for batch and direct work
        direct = DirectRunner(
            self.store, self.settings, provider, self.committer, self.costs, self.models, budgets=budgets,
            stop=self._stop, on_progress=self.on_direct_progress,
        )  # fmt: skip
        parts = (self.store, self.settings, provider, self.planner, pusher, collector)
        return Runner(*parts, self._stop, direct, budgets, liveness=liveness)

    def _install_signals(self, early: list[signal.Signals]) -> Callable[[], None]:
        """SIGINT/SIGTERM set the stop event, once; ``early`` signals (noted before) count as arrived now."""
        if threading.current_thread() is not threading.main_thread() or self._loop is None:
            return lambda: None
        loop, stop = self._loop, self._stop
        assert stop is not None

        handled: set[signal.Signals] = set()

        def first(sig: signal.Signals) -> None:
            if sig in handled:  # a second signal that queued up before the first was handled
                signal.raise_signal(sig)  # gets the default behaviour too
                return
            handled.add(sig)
            stop.set()
            loop.remove_signal_handler(sig)  # a second signal gets the default behaviour: exit at once

        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, first, sig)
        for sig in early:
            first(sig)

        def uninstall() -> None:
            for sig in _STOP_SIGNALS:
                loop.remove_signal_handler(sig)

        return uninstall

    # --- maintenance --------------------------------------------------------------------------
    def cleanup(self) -> int:
        """Cancel/delete remote batches and files carrying this task's id but unknown to the database."""
        return asyncio.run(self._with_provider(self.maintenance.sweep_unknown, self.task_id))

    def wipe_requests(self) -> int:
        """Cancel in-flight batches, delete their remote files, drop unfinished requests; returns how many."""
        return asyncio.run(self._with_provider(self.maintenance.wipe_requests))

    def wipe_failed(self) -> int:
        """Give failed requests a fresh set of retries (back to pending); returns how many."""
        return self.maintenance.wipe_failed()

    def wipe_task(self) -> None:
        """Wipe requests remotely, then delete the whole task database and start afresh (new task id)."""
        self.wipe_requests()
        task_name = self.store.get_meta("task_name")
        self.store.close()
        for suffix in ("", "-wal", "-shm"):
            (self.task_dir / f"{DB_NAME}{suffix}").unlink(missing_ok=True)
        self.store = Store.open(self.task_dir)
        if task_name is not None:
            self.store.set_meta("task_name", task_name)
        self._build()

    async def _with_provider(self, action: Callable[..., Any], *args: Any) -> Any:
        provider = self._provider_factory(self.settings)
        try:
            return await action(provider, *args)
        finally:
            await provider.aclose()
