"""Committing outcomes: store update, retry scheduling, result hook and user outputs, in one transaction.

:meth:`OutcomeCommitter.commit` is the one place where an attempt's outcome becomes durable. The batch
path calls it with a chunk of a batch's lines, the direct path with the responses at hand; both inside
:meth:`Store.transaction` (it opens one itself when called outside).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from batchwright.config import EngineSettings
from batchwright.engine.intake import RequestIntake
from batchwright.engine.predict import CostModel
from batchwright.engine.types import Kind, Outcome, RequestSpec, Result
from batchwright.store.db import Store


@dataclass(slots=True)
class OpenAttempt:
    """An attempt that was sent and awaits its outcome (loaded by the caller in one query)."""

    attempt_id: int
    request_id: int
    custom_id: str
    item_key: str | None
    url: str
    model: str
    retries: int
    response_model: str | None
    meta: str | None
    mode: str
    max_output_tokens: int | None = None
    """The request's output-token limit (for learned completion ratios)."""


@dataclass
class CommitStats:
    """What one or more :meth:`OutcomeCommitter.commit` calls did."""

    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    requeued: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, other: CommitStats) -> None:
        """Accumulate ``other`` into this."""
        for name in ("succeeded", "failed", "retried", "requeued", "input_tokens", "cached_tokens",
                     "output_tokens", "reasoning_tokens", "cost"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for code, n in other.errors.items():
            self.errors[code] = self.errors.get(code, 0) + n


class ResultContext:
    """What the result hook gets: the result, and ways to act in the same transaction."""

    __slots__ = ("_added", "_finished", "_item_state", "_outputs", "_rejected", "_store", "result")

    def __init__(self, store: Store, result: Result) -> None:
        self._store = store
        self.result = result
        self._outputs: list[Any] = []
        self._rejected: str | None = None
        self._finished: tuple[str, str | None] | None = None
        self._added: list[RequestSpec] = []
        self._item_state: Any = _UNSET

    def write_output(self, row: Any) -> None:
        """Store one JSON-able output row for the result's item (exported later)."""
        self._outputs.append(row)

    def reject(self, message: str) -> None:
        """Reject a successful result as a retryable task error (ignored for failures)."""
        self._rejected = message

    @property
    def item_state(self) -> Any:
        """The item's JSON state (``items.meta``), None if unset."""
        if self._item_state is _UNSET:
            row = self._store.conn.execute(
                "SELECT meta FROM items WHERE key = ?", (self.result.item_key,)
            ).fetchone()
            self._item_state = json.loads(row[0]) if row and row[0] else None
        return self._item_state

    def set_item_state(self, value: Any) -> None:
        """Replace the item's JSON state."""
        self._item_state = value
        self._store.conn.execute(
            "UPDATE items SET meta = ?, updated_at = ? WHERE key = ?",
            (json.dumps(value), time.time(), self.result.item_key),
        )

    def add_request(self, spec: RequestSpec) -> None:
        """Add another request (e.g. one more sample for the same item)."""
        self._added.append(spec)

    def finish_item(self, state: Literal["succeeded", "failed"], error: str | None = None) -> None:
        """Set the item's final state explicitly (otherwise it follows its last request)."""
        self._finished = (state, error)


_UNSET = object()
ResultHook = Callable[[ResultContext], None]

_ATTEMPT = (
    "UPDATE attempts SET state = 'done', outcome = ?, status_code = ?, error_code = ?, error_message = ?, "
    "input_tokens = ?, cached_tokens = ?, output_tokens = ?, reasoning_tokens = ?, cost = ?, response = ?, "
    "finished_at = ? WHERE id = ?"
)
_SUCCEEDED = "UPDATE requests SET state = 'succeeded', last_error = NULL WHERE id = ?"
_FAILED = "UPDATE requests SET state = 'failed', last_error = ? WHERE id = ?"
_RETRIED = "UPDATE requests SET state = 'pending', retries = retries + 1, last_error = ? WHERE id = ?"
_REQUEUED = "UPDATE requests SET state = 'pending', last_error = ? WHERE id = ?"
_USAGE = (
    "INSERT INTO usage (model, mode, results, input_tokens, cached_tokens, output_tokens, "
    "reasoning_tokens, cost) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (model, mode) DO UPDATE SET results = results + "
    "excluded.results, "
    "input_tokens = input_tokens + excluded.input_tokens, cached_tokens = cached_tokens + "
    "excluded.cached_tokens, "
    "output_tokens = output_tokens + excluded.output_tokens, "
    "reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, cost = cost + excluded.cost"
)

_RATIOS = (
    "INSERT INTO ratios (model, samples, max_output_tokens, output_tokens) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (model) DO UPDATE SET samples = samples + excluded.samples, "
    "max_output_tokens = max_output_tokens + excluded.max_output_tokens, "
    "output_tokens = output_tokens + excluded.output_tokens"
)

# An item whose requests are all final: succeeded if any succeeded, else failed with a request's last error.
_SETTLE = (
    "UPDATE items SET state = CASE WHEN EXISTS (SELECT 1 FROM requests r WHERE r.item_key = items.key "
    "AND r.state = 'succeeded') THEN 'succeeded' ELSE 'failed' END, "
    "last_error = (SELECT r.last_error FROM requests r WHERE r.item_key = items.key AND r.state = 'failed' "
    "AND NOT EXISTS (SELECT 1 FROM requests s WHERE s.item_key = items.key AND s.state = 'succeeded') "
    "ORDER BY r.id DESC LIMIT 1), updated_at = ? "
    "WHERE key = ? AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.item_key = items.key "
    "AND r.state IN ('pending', 'active'))"
)


class OutcomeCommitter:
    """Commits classified outcomes for the batch and the direct path alike."""

    def __init__(
        self,
        store: Store,
        settings: EngineSettings,
        costs: CostModel,
        intake: RequestIntake,
        hook: ResultHook | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.costs = costs
        self.intake = intake
        self.hook = hook

    def commit(self, pairs: Sequence[tuple[OpenAttempt, Outcome]]) -> CommitStats:
        """Make ``pairs`` durable: attempts closed, requests finished/retried/requeued, hook called."""
        with self.store.transaction() as conn:
            return self._commit(conn, pairs)

    def _commit(self, conn: Any, pairs: Sequence[tuple[OpenAttempt, Outcome]]) -> CommitStats:
        s = self.settings
        stats = CommitStats()
        now = time.time()
        attempt_rows: list[tuple[Any, ...]] = []
        succeeded: list[tuple[int]] = []
        failed: list[tuple[str, int]] = []
        retried: list[tuple[str, int]] = []
        requeued: list[tuple[str, int]] = []
        usage: dict[tuple[str, str], list[Any]] = {}
        outputs: list[tuple[Any, ...]] = []
        items: dict[str, tuple[str, str | None] | None] = {}
        added: list[RequestSpec] = []
        ratios: dict[str, list[int]] = {}
        for att, out in pairs:
            cost = self.costs.cost(
                att.model, att.mode, out.input_tokens, out.cached_tokens, out.output_tokens
            )
            kind = out.kind
            if kind is Kind.SUCCESS and self.hook is not None:
                ctx = self._call_hook(att, out, cost, True)
                if ctx._rejected is not None:
                    kind, out.error_code, out.error_message = Kind.RETRY, "task_rejected", ctx._rejected
                else:
                    self._absorb(ctx, att, now, outputs, items, added)
            error = None if kind is Kind.SUCCESS else f"{out.error_code}: {out.error_message}"
            if kind is Kind.REQUEUE:
                label = "requeued"
                requeued.append((error, att.request_id))
                stats.requeued += 1
            elif kind is Kind.SUCCESS:
                label = "succeeded"
                succeeded.append((att.request_id,))
                stats.succeeded += 1
            elif att.retries < s.max_retries and (kind is Kind.RETRY or s.retry_fatal):
                label = "retried"
                retried.append((error, att.request_id))
                stats.retried += 1
            else:
                label = "failed"
                failed.append((error, att.request_id))
                stats.failed += 1
                if self.hook is not None:
                    ctx = self._call_hook(att, out, cost, False)
                    self._absorb(ctx, att, now, outputs, items, added)
            if (label == "succeeded" and self.hook is None and att.item_key is not None) or (
                label == "failed" and att.item_key is not None
            ):
                items.setdefault(att.item_key, None)
            if kind is not Kind.SUCCESS:
                stats.errors[out.error_code or "unknown"] = (
                    stats.errors.get(out.error_code or "unknown", 0) + 1
                )
            attempt_rows.append((
                label, out.status_code, out.error_code, out.error_message, out.input_tokens,
                out.cached_tokens, out.output_tokens, out.reasoning_tokens, cost, out.response, now,
                att.attempt_id,
            ))  # fmt: skip
            if label == "succeeded" and att.max_output_tokens:
                samples = ratios.get(att.model)
                if samples is None:
                    samples = ratios[att.model] = [0, 0, 0]
                samples[0] += 1
                samples[1] += att.max_output_tokens
                samples[2] += out.output_tokens
            acc = usage.get((att.model, att.mode))
            if acc is None:
                acc = usage[(att.model, att.mode)] = [0, 0, 0, 0, 0, 0.0]
            acc[0] += 1
            acc[1] += out.input_tokens
            acc[2] += out.cached_tokens
            acc[3] += out.output_tokens
            acc[4] += out.reasoning_tokens
            acc[5] += cost
        conn.executemany(_ATTEMPT, attempt_rows)
        conn.executemany(_SUCCEEDED, succeeded)
        conn.executemany(_FAILED, failed)
        conn.executemany(_RETRIED, retried)
        conn.executemany(_REQUEUED, requeued)
        conn.executemany(_USAGE, [(m, mode, *acc) for (m, mode), acc in usage.items()])
        if ratios:
            conn.executemany(_RATIOS, [(model, *samples) for model, samples in ratios.items()])
            for model, (n, max_out, out_tokens) in ratios.items():
                self.costs.observe(model, n, max_out, out_tokens)
        if outputs:
            conn.executemany(
                "INSERT INTO outputs (item_key, request_id, data, created_at) VALUES (?, ?, ?, ?)", outputs
            )
        if added:
            self.intake.insert(conn, added)
        self._settle_items(conn, items, now)
        for acc in usage.values():
            stats.input_tokens += acc[1]
            stats.cached_tokens += acc[2]
            stats.output_tokens += acc[3]
            stats.reasoning_tokens += acc[4]
            stats.cost += acc[5]
        return stats

    def _call_hook(self, att: OpenAttempt, out: Outcome, cost: float, ok: bool) -> ResultContext:
        result = Result(
            request_id=att.request_id, item_key=att.item_key, custom_id=att.custom_id, succeeded=ok,
            meta=json.loads(att.meta) if att.meta else None, body=out.body, parsed=out.parsed,
            error_code=None if ok else out.error_code, error_message=None if ok else out.error_message,
            mode=att.mode, input_tokens=out.input_tokens, cached_tokens=out.cached_tokens,
            output_tokens=out.output_tokens, reasoning_tokens=out.reasoning_tokens, cost=cost,
        )  # fmt: skip
        ctx = ResultContext(self.store, result)
        assert self.hook is not None
        self.hook(ctx)
        return ctx

    @staticmethod
    def _absorb(
        ctx: ResultContext,
        att: OpenAttempt,
        now: float,
        outputs: list[tuple[Any, ...]],
        items: dict[str, tuple[str, str | None] | None],
        added: list[RequestSpec],
    ) -> None:
        for row in ctx._outputs:
            outputs.append((att.item_key, att.request_id, json.dumps(row), now))
        added.extend(ctx._added)
        if att.item_key is None:
            return
        if ctx._finished is not None:
            items[att.item_key] = ctx._finished
        elif not ctx._added:
            items.setdefault(att.item_key, None)

    @staticmethod
    def _settle_items(conn: Any, items: dict[str, tuple[str, str | None] | None], now: float) -> None:
        """Finish items: explicitly, or by default once none of their requests is open any more."""
        explicit = [(*state, now, key) for key, state in items.items() if state is not None]
        if explicit:
            conn.executemany(
                "UPDATE items SET state = ?, last_error = ?, updated_at = ? WHERE key = ?", explicit
            )
        conn.executemany(_SETTLE, [(now, key) for key, state in items.items() if state is None])
