"""The async run loop: reconcile, poll and collect, cut and push, until done or a stop condition."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from batchwright.config import EngineSettings
from batchwright.engine.budgets import RESOURCES, BudgetLevel, Budgets, Spend, limits_from_settings
from batchwright.engine.collect import BatchCollector, Collected, delete_pending_files
from batchwright.engine.crashpoints import crashpoint
from batchwright.engine.direct import DirectRunner, direct_groups
from batchwright.engine.liveness import Liveness
from batchwright.engine.planner import OPEN_STATES, BatchPlanner
from batchwright.engine.push import BatchPusher, PushDeferred
from batchwright.engine.types import RunSummary, StopReason
from batchwright.errors import RemoteError
from batchwright.providers.base import Provider, ProviderError, RemoteBatch
from batchwright.store.db import Store

_POLL_CONCURRENCY = 16


def load_budgets(store: Store, settings: EngineSettings) -> Budgets:
    """The session's budgets: limits from ``settings``, the task's true spend and its work in flight."""
    requests, tokens, cost = store.conn.execute(
        "SELECT COALESCE(SUM(results), 0), COALESCE(SUM(input_tokens + output_tokens), 0), "
        "COALESCE(SUM(cost), 0) FROM usage"
    ).fetchone()
    flight = store.conn.execute(
        "SELECT COALESCE(SUM(n_requests), 0), COALESCE(SUM(pred_input_tokens + pred_output_tokens), 0), "
        f"COALESCE(SUM(pred_cost), 0) FROM batches WHERE state IN {OPEN_STATES}"
    ).fetchone()
    return Budgets(
        limits_from_settings(settings),
        task_settled=Spend(requests, tokens, cost),
        in_flight_reserved=Spend(*flight),
    )


@dataclass
class _Stop(Exception):
    reason: StopReason
    message: str


class Runner:
    """One run of the batch engine over an open task store."""

    def __init__(
        self,
        store: Store,
        settings: EngineSettings,
        provider: Provider,
        planner: BatchPlanner,
        pusher: BatchPusher,
        collector: BatchCollector,
        stop: asyncio.Event,
        direct: DirectRunner | None = None,
        budgets: Budgets | None = None,
        *,
        liveness: Liveness | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.provider = provider
        self.planner = planner
        self.pusher = pusher
        self.collector = collector
        self.stop = stop
        self.direct = direct
        self.liveness = liveness
        self.budgets = budgets if budgets is not None else load_budgets(store, settings)
        self._budget_message: str | None = None
        self._session_batches: set[int] = set()
        self.failed_processed = 0
        self.summary = RunSummary(StopReason.DONE, "")
        self._interval = settings.poll_interval

    async def run(self, *, only_process: bool = False, wait: bool = True) -> RunSummary:
        """Run until everything is done, nothing more can happen now, or a stop condition."""
        try:
            await self._run(only_process, wait)
        except _Stop as stop:
            self.summary.reason, self.summary.message = stop.reason, stop.message
            if stop.reason is not StopReason.INTERRUPTED:
                await self._guard("deleting remote files", delete_pending_files(self.store, self.provider))
        self._fill_counts()
        return self.summary

    async def _run(self, only_process: bool, wait: bool) -> None:
        await self._guard("deleting remote files", delete_pending_files(self.store, self.provider))
        await self._guard("reconciling interrupted pushes", self.pusher.reconcile())
        while True:
            self._check_stop()
            progressed = await self._poll_and_collect()
            self._check_stop()
            if not only_process:
                progressed = await self._run_direct() or progressed
                progressed = await self._fill() or progressed
            await self._guard("deleting remote files", delete_pending_files(self.store, self.provider))
            if self.liveness is not None:
                self.liveness.check()
            pending, open_batches = self.planner.has_pending(), self.planner.in_flight().batches
            if not pending and open_batches == 0:
                raise _Stop(StopReason.DONE, "all requests finished")
            if open_batches == 0 and self._budget_message is not None:
                raise _Stop(StopReason.BUDGET, self._budget_message)
            if open_batches == 0 and (only_process or not progressed):
                why = "only_process: nothing in flight" if only_process else "limits allow no batch now"
                raise _Stop(StopReason.WORK_LEFT, f"{why}; {self.planner.count_pending()} request(s) pending")
            if not wait and not progressed:
                raise _Stop(
                    StopReason.WORK_LEFT, f"{open_batches} batch(es) in flight; run again to collect them"
                )
            if not progressed:
                await self._sleep(self._interval)

    async def _run_direct(self) -> bool:
        """Send the groups that go direct (force_direct, too small for a batch, or the tail); True if any."""
        if self.direct is None:
            return False
        groups = direct_groups(self.settings, self.planner.pending_groups())
        if not groups:
            return False
        report = await self.direct.run(groups)
        s, c = self.summary, report.commits
        s.requests_succeeded += c.succeeded
        s.requests_failed += c.failed
        s.requests_retried += c.retried
        s.requests_requeued += c.requeued
        s.true_cost += c.cost
        s.pred_cost_sent += report.stats.predicted_spend
        if report.reason is not StopReason.DONE:
            raise _Stop(report.reason, report.message)
        return c.succeeded + c.failed + c.retried + c.requeued > 0

    async def _guard(self, what: str, call: Awaitable[object]) -> bool:
        """Run a remote step; a transient provider error is logged and retried later with back-off."""
        try:
            await call
        except ProviderError as exc:
            self._absorb(what, exc)
            return False
        return True

    def _absorb(self, what: str, exc: ProviderError) -> None:
        """A failed remote step: fatal errors stop the run clearly, transient ones back off."""
        if not exc.transient:
            raise RemoteError(
                f"{what.capitalize()} failed: {exc}",
                remedy="Check the API key, base URL and network, then run again (state is consistent).",
            ) from None
        self.store.event("remote_error", f"{what}: {exc}")
        self._interval = min(self._interval * 2, self.settings.poll_interval_max)

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise _Stop(
                StopReason.INTERRUPTED,
                "interrupted; in-flight batches keep running and are collected next run",
            )

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)

    def _fill_counts(self) -> None:
        counts = dict(
            self.store.conn.execute("SELECT state, COUNT(*) FROM requests GROUP BY state").fetchall()
        )
        self.summary.pending = counts.get("pending", 0)
        self.summary.in_flight = counts.get("active", 0)

    # --- push -----------------------------------------------------------------------------------
    async def _fill(self) -> bool:
        """Cut and push batches while limits allow; True if anything was pushed."""
        pushed = False
        for p in self.pusher.pending():  # batches cut earlier but not submitted (crash, deferral)
            self._check_stop()
            if await self._push(p):
                pushed = True
        reached = self.budgets.reached()
        if reached is not None:
            self._budget_message = reached.message
            return pushed
        groups = self.planner.pending_groups()
        direct = set(direct_groups(self.settings, groups)) if self.direct else set()
        for url, model, _count in groups:
            if (url, model) in direct:
                continue
            while True:
                self._check_stop()
                first = self.planner.first_pending(url, model)
                if first is None:
                    break
                reached = self.budgets.check_submit(Spend(1, first[3] + first[4], first[5]))
                if reached is not None:
                    self._budget_message = reached.message
                    return pushed
                room = self.planner.room(model, self.planner.in_flight(), self._budget_room())
                if room is None:
                    break
                alone = self.planner.enqueued_tokens(model) == 0
                batch_id = self.planner.cut(url, model, room, alone=alone)
                if batch_id is None:
                    break
                crashpoint("after_cut")
                predicted = self._predicted(batch_id)
                self.budgets.reserve(predicted)
                self._session_batches.add(batch_id)
                self.summary.pred_cost_sent += predicted.cost
                self.pusher.certain.add(self._uid(batch_id))
                p = next(q for q in self.pusher.pending() if q.id == batch_id)
                if not await self._push(p):
                    return pushed
                pushed = True
        return pushed

    def _budget_room(self) -> tuple[float, float, float]:
        """Requests, tokens and cost still allowed by the in-flight, session and task budgets."""
        room = [math.inf, math.inf, math.inf]
        for level in (BudgetLevel.IN_FLIGHT, BudgetLevel.SESSION, BudgetLevel.TASK):
            limits = self.budgets.limits.get(level)
            if limits is None:
                continue
            spent = self.budgets.spent(level)
            for i, resource in enumerate(RESOURCES):
                limit = limits.limit(resource)
                if limit is not None:
                    room[i] = min(room[i], limit - getattr(spent, resource))
        return room[0], room[1], room[2]

    def _predicted(self, batch_id: int) -> Spend:
        n, tokens, cost = self.store.conn.execute(
            "SELECT n_requests, pred_input_tokens + pred_output_tokens, pred_cost FROM batches WHERE id = ?",
            (batch_id,),
        ).fetchone()
        return Spend(n, tokens, cost)

    def _uid(self, batch_id: int) -> str:
        return self.store.conn.execute("SELECT uid FROM batches WHERE id = ?", (batch_id,)).fetchone()[0]

    async def _push(self, p) -> bool:
        try:
            await self.pusher.push(p)
        except PushDeferred:
            return False
        except ProviderError as exc:  # listing during reconciliation failed
            self._absorb("reconciling a push", exc)
            return False
        self.summary.batches_submitted += 1
        return True

    # --- poll and collect ---------------------------------------------------------------------
    async def _poll_and_collect(self) -> bool:
        rows = self.store.conn.execute(
            "SELECT id, remote_id, remote_status, done_requests, failed_requests FROM batches "
            "WHERE state IN ('submitted', 'finished') ORDER BY id"
        ).fetchall()
        if not rows:
            return False
        semaphore = asyncio.Semaphore(_POLL_CONCURRENCY)

        async def poll(remote_id: str) -> RemoteBatch | ProviderError:
            async with semaphore:
                try:
                    return await self.provider.retrieve_batch(remote_id)
                except ProviderError as exc:
                    return exc

        results = await asyncio.gather(*(poll(row[1]) for row in rows))
        errors = [r for r in results if isinstance(r, ProviderError)]
        self._interval = (
            min(self._interval * 2, self.settings.poll_interval_max)
            if errors
            else self.settings.poll_interval
        )
        progressed = False
        changed = [
            (r.status, r.request_completed, r.request_failed, row[0])
            for row, r in zip(rows, results, strict=True)
            if isinstance(r, RemoteBatch) and (r.status, r.request_completed, r.request_failed) != row[2:]
        ]
        if changed:
            with self.store.transaction() as conn:
                conn.executemany(
                    "UPDATE batches SET remote_status = ?, done_requests = ?, failed_requests = ? WHERE "
                    "id = ?",
                    changed,
                )
        for (batch_id, *_), remote in zip(rows, results, strict=True):
            if isinstance(remote, RemoteBatch) and remote.finished:
                self._check_stop()
                await self._collect(batch_id, remote)
                progressed = True
        return progressed

    async def _collect(self, batch_id: int, remote: RemoteBatch) -> None:
        allowed = self.settings.failed_batches_allowed(self.failed_processed)
        try:
            collected = await self.collector.collect(batch_id, remote, process_failed=allowed)
        except ProviderError as exc:  # download failed: nothing was committed, try again next round
            self._absorb(f"downloading results of batch {remote.id}", exc)
            return
        if collected is None:
            with self.store.transaction() as conn:
                conn.execute(
                    "UPDATE batches SET state = 'finished', finished_at = ? WHERE id = ?",
                    (time.time(), batch_id),
                )
            errors = "; ".join(f"{c}: {m}" for c, m, _ in remote.errors[:3]) or "no details"
            raise _Stop(
                StopReason.SAFETY_STOP,
                f"batch {remote.id} failed ({errors}); it stays unprocessed. Fix the cause, or allow "
                "processing "
                "failed batches (process_failed_batches / --process-failed-batches N or all) to fail or "
                "retry "
                "its requests",
            )
        self._account(collected)

    def _account(self, c: Collected) -> None:
        predicted = self._predicted(c.batch_id)
        this_session = c.batch_id in self._session_batches
        if c.token_limit:
            self.budgets.release(predicted, this_session=this_session)
        else:
            true = Spend(predicted.requests, c.stats.input_tokens + c.stats.output_tokens, c.stats.cost)
            self.budgets.settle(predicted, true, this_session=this_session)
        s = self.summary
        s.batches_committed += 1
        s.requests_succeeded += c.stats.succeeded
        s.requests_failed += c.stats.failed
        s.requests_retried += c.stats.retried
        s.requests_requeued += c.stats.requeued
        s.true_cost += c.stats.cost
        if c.token_limit:
            return
        if c.status == "failed":
            self.failed_processed += 1
            return
        failures = int(self.store.get_meta("pass_failures", "0") or 0)
        failures = failures + 1 if c.pass_ratio < self.settings.min_pass_ratio else 0
        self.store.set_meta("pass_failures", str(failures))
        if failures >= self.settings.max_pass_failures:
            raise _Stop(
                StopReason.SAFETY_STOP,
                f"{failures} consecutive batch(es) passed less than min_pass_ratio "
                f"{self.settings.min_pass_ratio} "
                f"(last: {c.pass_ratio:.0%} of {c.n_requests}; errors {c.stats.errors}). Check the "
                "errors, then "
                "lower min_pass_ratio or raise max_pass_failures to continue",
            )
