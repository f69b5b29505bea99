"""The direct path: pending requests sent through the provider one call each, concurrently and rate limited.

A :class:`DirectRunner` takes pending requests from the store in pages, opens a ``direct`` attempt for each
(one transaction per page), sends them through :meth:`Provider.direct` under a :class:`RateLimiter`, and
commits every answer as it arrives through the engine's one :class:`OutcomeCommitter`, so classification,
retries, budgets and the result hook are exactly those of the batch path. Answers that arrive together
commit together (one transaction), and an attempt is committed only while it is still open, so a result is
never recorded twice.

Transient trouble (connection errors, timeouts, 408/409/429/5xx answers) is retried here with backoff and
does not use the request's retry budget, up to ``max_transient_retries`` per request; after that an HTTP
answer is classified as usual, and a request that never got an answer goes back to pending and the run
stops. A crash loses at most the requests in flight: their attempts stay open, and the engine puts them
back to pending (no retry used) when it next opens the task.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from batchwright.config import EngineSettings
from batchwright.engine.budgets import ZERO, Budgets, Spend
from batchwright.engine.commit import CommitStats, OpenAttempt, OutcomeCommitter
from batchwright.engine.direct_call import DirectCaller, DirectJob, DirectStop, echo_stderr, lost, pretty
from batchwright.engine.planner import record_sent
from batchwright.engine.predict import CostModel
from batchwright.engine.ratelimit import Clock, MonotonicClock, RateLimiter, RateLimits
from batchwright.engine.ratelimit_headers import Backoff
from batchwright.engine.structured import ResponseModels
from batchwright.engine.types import Outcome, StopReason
from batchwright.errors import BatchwrightError
from batchwright.providers.base import Provider
from batchwright.store.db import Store

_T = TypeVar("_T")
_UNSENT = "the run stopped before this request was sent"
PAGE = 256
"""Most requests opened in one transaction."""
COMMIT_INTERVAL = 0.02
"""Seconds between two commits of answers (each commit is one durable transaction, i.e. one fsync)."""

_ACTIVATE = "UPDATE requests SET state = 'active', attempts = attempts + 1 WHERE id = ?"
_OPEN_ATTEMPT = "INSERT INTO attempts (request_id, custom_id, mode, state) VALUES (?, ?, 'direct', 'open')"
_PENDING_PAGE = (
    "SELECT id, item_key, retries, attempts, response_model, meta, body, pred_input_tokens, "
    "pred_output_tokens, max_output_tokens FROM requests "
    "WHERE state = 'pending' AND url = ? AND model = ? AND id > ? ORDER BY id LIMIT ?"
)

# --- public data ----------------------------------------------------------------------------------------


@dataclass
class DirectStats:
    """Live numbers of a direct run, for progress displays (a snapshot; see :meth:`DirectRunner.stats`)."""

    sent: int = 0
    """Requests taken from the store this run (attempts opened)."""
    in_flight: int = 0
    """Requests opened and not yet committed (waiting for the limiter or for their answer)."""
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    """Requests that will run again using one of their retries (classified retryable)."""
    requeued: int = 0
    """Requests put back to pending without using a retry (run stopped before their answer)."""
    transient_errors: int = 0
    """Network blinks, 429s and 5xx answers absorbed without using any request's retries."""
    rate_limited: int = 0
    """429 answers seen."""
    rpm: float = 0.0
    tpm: float = 0.0
    rpm_limit: float | None = None
    tpm_limit: float | None = None
    concurrency_limit: int = 0
    spend: float = 0.0
    """True cost (USD) of the answers committed this run."""
    predicted_spend: float = 0.0
    """Predicted cost (USD, direct prices) of the requests sent this run."""
    elapsed: float = 0.0

    @property
    def done(self) -> int:
        """Requests committed for good (succeeded or failed)."""
        return self.succeeded + self.failed


@dataclass(frozen=True)
class DirectSample:
    """One request as a dry run shows it."""

    request_id: int
    url: str
    body: dict[str, Any]


@dataclass(frozen=True)
class DirectPlan:
    """What a direct run would send (dry run): nothing is sent and nothing is written."""

    requests: int
    pred_input_tokens: int
    pred_output_tokens: int
    pred_cost: float
    """Predicted cost at direct (non-batch) prices."""
    est_seconds: float | None
    """Lower bound on the duration set by ``max_rpm``/``max_tpm``; ``None`` without limits."""
    samples: tuple[DirectSample, ...] = ()

    def one_line(self) -> str:
        """A one-line summary."""
        limits = "" if self.est_seconds is None else f", at least {self.est_seconds:,.0f} s at the limits"
        tokens = f"{self.pred_input_tokens:,} input + {self.pred_output_tokens:,} output tokens"
        return f"direct: {self.requests:,} requests, {tokens}, ${self.pred_cost:,.4f} predicted{limits}"


@dataclass
class DirectReport:
    """What one :meth:`DirectRunner.run` did and why it stopped."""

    reason: StopReason
    message: str
    commits: CommitStats = field(default_factory=CommitStats)
    stats: DirectStats = field(default_factory=DirectStats)


def direct_groups(settings: EngineSettings, pending: Sequence[tuple[str, str, int]]) -> list[tuple[str, str]]:
    """The ``(url, model)`` groups whose pending requests go direct now.

    ``pending`` holds ``(url, model, pending requests)`` per group. Everything goes direct with
    ``force_direct``; otherwise a group goes direct when it is too small for a batch
    (fewer than ``min_batch_requests``) or is the tail of the run (at most ``direct_tail_requests``).
    """
    chosen = []
    for url, model, count in pending:
        if (
            settings.force_direct
            or count < settings.min_batch_requests
            or (settings.direct_tail_requests and count <= settings.direct_tail_requests)
        ):
            chosen.append((url, model))
    return chosen


def plan_direct(
    store: Store,
    settings: EngineSettings,
    costs: CostModel,
    groups: Collection[tuple[str, str]],
    *,
    show: int = 3,
    echo: Callable[[str], None] | None = None,
) -> DirectPlan:
    """Dry run: what a direct run would send for ``groups``; nothing is sent and nothing is written.

    ``echo`` (default: standard error) gets the summary line and the first ``show`` request bodies.
    """
    n = tin = tout = 0
    cost = 0.0
    samples: list[DirectSample] = []
    for url, model in groups:
        count, g_in, g_out = store.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(pred_input_tokens), 0), COALESCE(SUM(pred_output_tokens), 0) "
            "FROM requests WHERE state = 'pending' AND url = ? AND model = ?",
            (url, model),
        ).fetchone()
        n, tin, tout = n + count, tin + g_in, tout + g_out
        cost += costs.cost(model, "direct", g_in, 0, g_out)
        if len(samples) < show:
            rows = store.conn.execute(_PENDING_PAGE, (url, model, 0, show - len(samples))).fetchall()
            samples += [DirectSample(row[0], url, json.loads(row[6])) for row in rows]
    limits = ((n, settings.max_rpm), (tin + tout, settings.max_tpm))
    bounds = [amount / limit * 60.0 for amount, limit in limits if limit]
    plan = DirectPlan(n, tin, tout, cost, max(bounds) if bounds else None, tuple(samples))
    echo = echo or echo_stderr
    echo(plan.one_line())
    for sample in samples:
        echo(f"would send request {sample.request_id}: POST {sample.url}\n{pretty(sample.body)}")
    return plan


# --- the runner -----------------------------------------------------------------------------------------


class DirectRunner:
    """Runs pending requests through the direct API; see the module docstring.

    ``budgets`` (optional) is asked before each request is opened and told what each answer cost.
    ``echo`` prints ``direct_verbose`` and dry-run output (default: standard error). ``on_progress`` is
    called with a :class:`DirectStats` snapshot after each commit. Once ``stop`` is set (SIGINT, SIGTERM),
    no new request is sent; answers to those in flight are awaited and committed.
    """

    def __init__(
        self,
        store: Store,
        settings: EngineSettings,
        provider: Provider,
        committer: OutcomeCommitter,
        costs: CostModel,
        models: ResponseModels,
        *,
        budgets: Budgets | None = None,
        limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        echo: Callable[[str], None] | None = None,
        on_progress: Callable[[DirectStats], None] | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.committer = committer
        self.costs = costs
        self.budgets = budgets
        self.clock = clock or MonotonicClock()
        limits = RateLimits(settings.max_rpm, settings.max_tpm, settings.direct_concurrency)
        self.limiter = limiter or RateLimiter(limits, clock=self.clock)
        self.echo = echo or echo_stderr
        self.caller = DirectCaller(
            settings, provider, models, self.limiter, self.clock, backoff or Backoff(), self.echo
        )
        self.on_progress = on_progress
        self.stop = stop or asyncio.Event()
        self._stats = DirectStats()
        self._started = self.clock.now()
        self._answers: list[tuple[DirectJob, Outcome]] = []
        self._answered = asyncio.Event()
        self._committed = asyncio.Event()
        self._taken = asyncio.Event()
        self._committing: asyncio.Future[None] | None = None
        self._stop: BatchwrightError | None = None
        self._budget_message: str | None = None

    @property
    def _halted(self) -> bool:
        """Nothing more may be sent (a stop condition or the stop event)."""
        return self._stop is not None or self.stop.is_set()

    @property
    def _feeding(self) -> bool:
        """More requests may be opened (not halted, no budget reached)."""
        return not self._halted and self._budget_message is None

    # --- progress -----------------------------------------------------------------------------

    def stats(self) -> DirectStats:
        """A snapshot of the run's numbers, with the limiter's current rates and limits."""
        snap = self.limiter.snapshot()
        s = self._stats
        return DirectStats(
            sent=s.sent, in_flight=s.in_flight, succeeded=s.succeeded, failed=s.failed,
            retried=s.retried, requeued=s.requeued, transient_errors=self.caller.transient_errors,
            rate_limited=self.caller.rate_limited, rpm=snap.rpm, tpm=snap.tpm, rpm_limit=snap.rpm_limit,
            tpm_limit=snap.tpm_limit, concurrency_limit=snap.concurrency_limit, spend=s.spend,
            predicted_spend=s.predicted_spend, elapsed=self.clock.now() - self._started,
        )  # fmt: skip

    # --- running ------------------------------------------------------------------------------

    async def run(self, groups: Collection[tuple[str, str]] | None = None) -> DirectReport:
        """Send every pending request of ``groups`` (all groups when ``None``), retries included.

        Returns when nothing of those groups is pending or in flight, or when a budget stops new requests.
        Raises :class:`~batchwright.errors.RemoteError` when the API refuses every request (bad key, no
        quota) or stays unreachable: what was answered until then is committed, the rest is pending again.
        """
        self._started = self.clock.now()
        total = CommitStats()
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="batchwright-direct-db")
        try:
            return await self._run(groups, total)
        finally:
            self._db_thread.shutdown(wait=True)

    async def _run(self, groups: Collection[tuple[str, str]] | None, total: CommitStats) -> DirectReport:
        queue: asyncio.Queue[DirectJob | None] = asyncio.Queue(maxsize=self.settings.direct_concurrency)
        workers = [asyncio.ensure_future(self._work(queue)) for _ in range(queue.maxsize)]
        feeder = asyncio.ensure_future(
            self._feed(queue, None if groups is None else set(groups), len(workers))
        )
        tasks = [feeder, asyncio.ensure_future(self._commit_loop(total)), *workers]
        running = set(tasks)
        try:
            while not (feeder.done() and all(worker.done() for worker in workers)):
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # a failure (say, in the result hook) ends the run
        except BaseException:
            await self._wind_down(queue, tasks, total, quiet=True)
            raise
        await self._wind_down(queue, tasks, total, quiet=False)
        if self._stop is not None:
            raise self._stop
        stats = self.stats()
        if self.stop.is_set():
            message = "interrupted; the requests not yet sent are pending and run next time"
            return DirectReport(StopReason.INTERRUPTED, message, total, stats)
        if self._budget_message is not None:
            return DirectReport(StopReason.BUDGET, self._budget_message, total, stats)
        message = f"{stats.done:,} direct requests done in {stats.elapsed:,.1f} s"
        return DirectReport(StopReason.DONE, message, total, stats)

    async def _wind_down(
        self,
        queue: asyncio.Queue[DirectJob | None],
        tasks: list[asyncio.Future[None]],
        total: CommitStats,
        *,
        quiet: bool,
    ) -> None:
        """Stop the tasks, commit the answers in hand, and put queued but unsent requests back to pending.

        ``quiet``: another error is on its way out and a failure here must not hide it (the attempts then
        stay open, and the next run puts them back to pending).
        """
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while not queue.empty():
            job = queue.get_nowait()
            if job is not None:
                self._answers.append((job, lost(job.attempt.attempt_id, _UNSENT)))
        answers, self._answers = self._answers, []
        try:
            if self._committing is not None:
                await self._committing
            await self._db(self._commit, answers, total)
        except Exception:
            if not quiet:
                raise

    async def _feed(
        self, queue: asyncio.Queue[DirectJob | None], wanted: set[tuple[str, str]] | None, workers: int
    ) -> None:
        """Open pending requests page by page and queue them; rescan until nothing is pending or in flight."""
        while self._feeding:
            groups = await self._db(self._pending_groups, wanted)
            if not groups:
                if self._stats.in_flight == 0:
                    break
                self._committed.clear()
                await _first(self._committed.wait(), self.stop.wait())  # answers may bring retries
                continue
            for url, model in groups:
                after = 0
                while self._feeding:
                    # Open only what the workers can take soon, in pages of at least half the queue.
                    while queue.qsize() > queue.maxsize // 2:
                        self._taken.clear()
                        await self._taken.wait()
                    room = min(PAGE, queue.maxsize - queue.qsize())
                    jobs = await self._db(self._open_page, url, model, after, room)
                    if not jobs:
                        break
                    after = jobs[-1].attempt.request_id
                    for job in jobs:
                        queue.put_nowait(job)
        for _ in range(workers):
            await queue.put(None)

    def _pending_groups(self, wanted: set[tuple[str, str]] | None) -> list[tuple[str, str]]:
        rows = self.store.conn.execute("SELECT DISTINCT url, model FROM requests WHERE state = 'pending'")
        return [(url, model) for url, model in rows if wanted is None or (url, model) in wanted]

    def _open_page(self, url: str, model: str, after: int, limit: int) -> list[DirectJob]:
        """Open direct attempts for up to ``limit`` pending requests after id ``after`` (one transaction)."""
        jobs: list[DirectJob] = []
        sent_in = sent_out = 0
        with self.store.transaction() as conn:
            for rid, key, retries, attempts, response_model, meta, body, tin, tout, limit_out in conn.execute(
                _PENDING_PAGE, (url, model, after, limit)
            ).fetchall():
                predicted = Spend(1, tin + tout, self.costs.cost(model, "direct", tin, 0, tout))
                if self.budgets is not None:
                    reached = self.budgets.check_submit(predicted)
                    if reached is not None:
                        self._budget_message = reached.message
                        break
                    self.budgets.reserve(predicted)
                custom_id = f"{rid}-{attempts + 1}"
                attempt_id = conn.execute(_OPEN_ATTEMPT, (rid, custom_id)).lastrowid
                conn.execute(_ACTIVATE, (rid,))
                attempt = OpenAttempt(
                    attempt_id,
                    rid,
                    custom_id,
                    key,
                    url,
                    model,
                    retries,
                    response_model,
                    meta,
                    "direct",
                    limit_out,
                )
                jobs.append(DirectJob(attempt, body.encode(), tin + tout, predicted))
                sent_in, sent_out = sent_in + tin, sent_out + tout
            if jobs:
                cost = sum(job.predicted.cost for job in jobs)
                record_sent(conn, model, "direct", len(jobs), sent_in, sent_out, cost)
        self._stats.sent += len(jobs)
        self._stats.in_flight += len(jobs)
        self._stats.predicted_spend += sum(job.predicted.cost for job in jobs)
        return jobs

    async def _work(self, queue: asyncio.Queue[DirectJob | None]) -> None:
        while (job := await queue.get()) is not None:
            self._taken.set()
            if self._halted:
                outcome = lost(job.attempt.attempt_id, _UNSENT)
            else:
                try:
                    outcome = await self.caller.call(job)
                except DirectStop as stop:
                    self._stop = stop.error
                    outcome = lost(job.attempt.attempt_id, stop.error.message)
            self._answers.append((job, outcome))
            self._answered.set()

    # --- committing ---------------------------------------------------------------------------

    async def _commit_loop(self, total: CommitStats) -> None:
        """Commit answers as they arrive; answers arriving within ``COMMIT_INTERVAL`` share one commit."""
        while True:
            await self._answered.wait()
            self._answered.clear()
            started = self.clock.now()
            answers, self._answers = self._answers, []
            # Shielded: a commit under way finishes even when the run is being stopped (_wind_down waits).
            self._committing = asyncio.ensure_future(self._db(self._commit, answers, total))
            await asyncio.shield(self._committing)
            if self.on_progress is not None:
                self.on_progress(self.stats())
            self._committed.set()
            await self.clock.sleep(max(0.0, COMMIT_INTERVAL - (self.clock.now() - started)))

    async def _db(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run a database step on the run's one database thread: steps run in order, and the event loop
        keeps sending and receiving while a commit waits for the disk."""
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, function, *args)

    def _commit(self, answers: list[tuple[DirectJob, Outcome]], total: CommitStats) -> None:
        """Commit ``answers`` in one transaction (only attempts that are still open)."""
        if not answers:
            return
        with self.store.transaction() as conn:
            open_ids: set[int] = set()
            ids = [job.attempt.attempt_id for job, _ in answers]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                query = (
                    f"SELECT id FROM attempts WHERE state = 'open' AND id IN ({','.join('?' * len(chunk))})"
                )
                open_ids.update(row[0] for row in conn.execute(query, chunk))
            fresh = [(job, outcome) for job, outcome in answers if job.attempt.attempt_id in open_ids]
            stats = self.committer.commit([(job.attempt, outcome) for job, outcome in fresh])
        total.add(stats)
        s = self._stats
        s.in_flight -= len(answers)
        s.succeeded += stats.succeeded
        s.failed += stats.failed
        s.retried += stats.retried
        s.requeued += stats.requeued
        s.spend += stats.cost
        if self.budgets is not None:
            predicted = sum((job.predicted for job, _ in fresh), ZERO)
            true = Spend(len(fresh) - stats.requeued, stats.input_tokens + stats.output_tokens, stats.cost)
            self.budgets.settle(predicted, true)


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Wait until the first of ``waits`` is done; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


__all__ = [
    "DirectPlan",
    "DirectReport",
    "DirectRunner",
    "DirectSample",
    "DirectStats",
    "direct_groups",
    "plan_direct",
]
