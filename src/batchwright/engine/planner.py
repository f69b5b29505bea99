"""Packing: cut pending requests into batches per (endpoint, model) under per-batch and in-flight limits.

A cut is one transaction: the batch row (state ``uploading``, fresh uid), one attempt per request with its
engine-owned ``custom_id`` (``<request id>-<attempt no>``), the requests marked active.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from batchwright.config import EngineSettings
from batchwright.engine.types import PlannedBatch
from batchwright.errors import ConfigError
from batchwright.store.db import Store

OPEN_STATES = ("uploading", "creating", "submitted", "finished")
_PAGE = 5000
# Skip-scan through the pending index: the next model of the same endpoint, else the next endpoint.
_NEXT_MODEL = (
    "SELECT url, model FROM requests WHERE state = 'pending' AND url = ? AND model > ? ORDER BY model LIMIT 1"
)
_NEXT_URL = "SELECT url, model FROM requests WHERE state = 'pending' AND url > ? ORDER BY url, model LIMIT 1"
_GROUP_COUNT = (
    "SELECT COUNT(*) FROM (SELECT 1 FROM requests WHERE state = 'pending' AND url = ? AND model = ? LIMIT ?)"
)
_ANY_PENDING = "SELECT 1 FROM requests WHERE state = 'pending' LIMIT 1"


@dataclass
class Room:
    """How much more may be packed into the next batch (None: unlimited)."""

    requests: int
    nbytes: int
    tokens: float = math.inf
    input_tokens: float = math.inf
    cost: float = math.inf


@dataclass
class InFlight:
    """Totals over batches pushed (or being pushed) and not yet committed."""

    batches: int = 0
    requests: int = 0
    nbytes: int = 0
    cost: float = 0.0


class BatchPlanner:
    """Decides what the next batch is and cuts it."""

    def __init__(self, store: Store, settings: EngineSettings) -> None:
        self.store = store
        self.settings = settings

    # --- accounting ---------------------------------------------------------------------------
    def in_flight(self) -> InFlight:
        """Totals over open batches."""
        row = self.store.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(n_requests), 0), COALESCE(SUM(nbytes), 0), "
            "COALESCE(SUM(pred_cost), 0) "
            f"FROM batches WHERE state IN {OPEN_STATES}"
        ).fetchone()
        return InFlight(*row)

    def enqueued_tokens(self, model: str) -> int:
        """Predicted input tokens of ``model`` in open batches (what the enqueued-token limit counts)."""
        return self.store.conn.execute(
            f"SELECT COALESCE(SUM(pred_input_tokens), 0) FROM batches WHERE state IN {OPEN_STATES} AND "
            "model = ?",
            (model,),
        ).fetchone()[0]

    def enqueued_limit(self, model: str) -> float:
        """The effective enqueued-token limit of ``model``: configured, shrunk by ``token_limit_exceeded``."""
        learned = self.store.get_meta(f"enqueued_limit:{model}")
        configured = self.settings.enqueued_token_limit_for(model)
        limits = [float(v) for v in (learned, configured) if v is not None]
        return min(limits) if limits else math.inf

    def shrink_enqueued_limit(self, model: str, attempted_tokens: int) -> int:
        """After ``token_limit_exceeded`` with ``attempted_tokens`` enqueued: remember a 10% smaller limit."""
        limit = max(1, int(min(self.enqueued_limit(model), attempted_tokens) * 0.9))
        self.store.set_meta(f"enqueued_limit:{model}", str(limit))
        return limit

    def pending_groups(self, cap: int | None = None) -> list[tuple[str, str, int]]:
        """``(url, model, pending requests)`` per group, the count capped at ``cap``.

        Cost is O(groups × cap), not O(pending): the distinct groups are found by skipping through the
        pending index, and counting stops at ``cap`` (default: enough to tell the direct-path thresholds
        ``min_batch_requests`` and ``direct_tail_requests`` apart).
        """
        if cap is None:
            cap = max(self.settings.min_batch_requests, self.settings.direct_tail_requests + 1)
        conn = self.store.conn
        groups: list[tuple[str, str, int]] = []
        url, model = "", ""
        while row := (
            conn.execute(_NEXT_MODEL, (url, model)).fetchone() or conn.execute(_NEXT_URL, (url,)).fetchone()
        ):
            url, model = row
            groups.append((url, model, conn.execute(_GROUP_COUNT, (url, model, cap)).fetchone()[0]))
        return groups

    def has_pending(self) -> bool:
        """True while any request waits for an attempt."""
        return self.store.conn.execute(_ANY_PENDING).fetchone() is not None

    def count_pending(self) -> int:
        """Pending requests (O(pending): for summaries, not for loops)."""
        return self.store.conn.execute("SELECT COUNT(*) FROM requests WHERE state = 'pending'").fetchone()[0]

    def room(
        self, model: str, flight: InFlight, budget: tuple[float, float, float] = (math.inf,) * 3
    ) -> Room | None:
        """Room for the next batch of ``model`` given what is in flight and the remaining ``budget``
        (requests, tokens, cost); None if no batch may go now."""
        s = self.settings
        if flight.batches >= s.max_remote_batches:
            return None
        room = Room(s.max_batch_requests, s.max_batch_bytes)
        if s.max_batch_tokens is not None:
            room.tokens = s.max_batch_tokens
        if s.max_batch_cost is not None:
            room.cost = s.max_batch_cost
        if s.max_remote_requests is not None:
            room.requests = min(room.requests, s.max_remote_requests - flight.requests)
        if s.max_remote_bytes is not None:
            room.nbytes = min(room.nbytes, s.max_remote_bytes - flight.nbytes)
        if s.max_remote_cost is not None:
            room.cost = min(room.cost, s.max_remote_cost - flight.cost)
        room.requests = min(room.requests, budget[0])
        room.tokens = min(room.tokens, budget[1])
        room.cost = min(room.cost, budget[2])
        room.input_tokens = self.enqueued_limit(model) - self.enqueued_tokens(model)
        if room.requests <= 0 or room.nbytes <= 0 or room.cost <= 0 or room.input_tokens <= 0:
            return None
        return room

    # --- cutting ------------------------------------------------------------------------------
    def _pending(
        self, url: str, model: str, page: int = _PAGE
    ) -> Iterator[tuple[int, int, int, int, int, float]]:
        after = 0
        conn = self.store.conn
        while True:
            rows = conn.execute(
                "SELECT id, attempts, nbytes, pred_input_tokens, pred_output_tokens, pred_cost FROM requests "
                "WHERE state = 'pending' AND url = ? AND model = ? AND id > ? ORDER BY id LIMIT ?",
                (url, model, after, page),
            ).fetchall()
            if not rows:
                return
            yield from rows
            after = rows[-1][0]

    def first_pending(self, url: str, model: str) -> tuple[int, int, int, int, int, float] | None:
        """The next pending request of a group: (id, attempts, bytes, input tokens, output tokens, cost)."""
        return next(self._pending(url, model, page=1), None)

    def _select(self, url: str, model: str, room: Room) -> tuple[list[tuple[int, int]], PlannedBatch]:
        chosen: list[tuple[int, int]] = []
        plan = PlannedBatch(url, model, 0, 0, 0, 0, 0.0)
        for rid, attempts, nbytes, tin, tout, cost in self._pending(url, model):
            if (
                plan.requests + 1 > room.requests
                or plan.nbytes + nbytes > room.nbytes
                or plan.pred_input_tokens + plan.pred_output_tokens + tin + tout > room.tokens
                or plan.pred_input_tokens + tin > room.input_tokens
                or plan.pred_cost + cost > room.cost
            ):
                break
            chosen.append((rid, attempts))
            plan.requests += 1
            plan.nbytes += nbytes
            plan.pred_input_tokens += tin
            plan.pred_output_tokens += tout
            plan.pred_cost += cost
        return chosen, plan

    def cut(self, url: str, model: str, room: Room, *, alone: bool) -> int | None:
        """Cut the next batch of (``url``, ``model``) within ``room``; returns its id or None if none fits.

        ``alone``: nothing of this model is in flight, so a first request that does not fit can never be sent
        and raises :class:`ConfigError` (limits too strict for it).
        """
        with self.store.transaction() as conn:
            chosen, plan = self._select(url, model, room)
            if not chosen:
                if alone:
                    self._too_big(url, model, room)
                return None
            now = time.time()
            uid = uuid.uuid4().hex
            batch_id = conn.execute(
                "INSERT INTO batches (uid, url, model, state, n_requests, nbytes, pred_input_tokens, "
                "pred_output_tokens, pred_cost, created_at) VALUES (?, ?, ?, 'uploading', ?, ?, ?, ?, ?, ?)",
                (uid, url, model, plan.requests, plan.nbytes, plan.pred_input_tokens, plan.pred_output_tokens,
                 plan.pred_cost, now),
            ).lastrowid  # fmt: skip
            conn.executemany(
                "INSERT INTO attempts (request_id, custom_id, batch_id, mode, state) VALUES (?, ?, ?, "
                "'batch', 'open')",
                [(rid, f"{rid}-{n + 1}", batch_id) for rid, n in chosen],
            )
            conn.executemany(
                "UPDATE requests SET state = 'active', attempts = attempts + 1 WHERE id = ?",
                [(rid,) for rid, _ in chosen],
            )
            record_sent(conn, model, "batch", plan.requests, plan.pred_input_tokens, plan.pred_output_tokens,
                        plan.pred_cost)  # fmt: skip
            return batch_id

    def _too_big(self, url: str, model: str, room: Room) -> None:
        first = next(self._pending(url, model), None)
        if first is None:
            return
        _, _, nbytes, tin, tout, cost = first
        raise ConfigError(
            f"Request {first[0]} ({model}, {url}) cannot fit any batch: {nbytes} bytes, {tin + tout} "
            "predicted "
            f"tokens ({tin} input; enqueued-token room {room.input_tokens:g}), predicted ${cost:.4f} "
            f"(cost room ${room.cost:.4f}).",
            remedy="Raise the per-batch, enqueued-token or cost limit, or shorten the request.",
        )

    def plan_all(self, exclude: Collection[tuple[str, str]] = ()) -> list[PlannedBatch]:
        """Dry run: the batches every pending request would be cut into, ignoring in-flight limits.

        ``exclude``: ``(url, model)`` groups that go direct instead.
        """
        s = self.settings
        plans: list[PlannedBatch] = []
        for url, model, _ in self.pending_groups():
            if (url, model) in exclude:
                continue
            room = Room(s.max_batch_requests, s.max_batch_bytes)
            room.tokens = s.max_batch_tokens or math.inf
            room.cost = s.max_batch_cost or math.inf
            current = PlannedBatch(url, model, 0, 0, 0, 0, 0.0)
            for _, _, nbytes, tin, tout, cost in self._pending(url, model):
                if current.requests and (
                    current.requests + 1 > room.requests
                    or current.nbytes + nbytes > room.nbytes
                    or current.pred_input_tokens + current.pred_output_tokens + tin + tout > room.tokens
                    or current.pred_cost + cost > room.cost
                ):
                    plans.append(current)
                    current = PlannedBatch(url, model, 0, 0, 0, 0, 0.0)
                current.requests += 1
                current.nbytes += nbytes
                current.pred_input_tokens += tin
                current.pred_output_tokens += tout
                current.pred_cost += cost
            if current.requests:
                plans.append(current)
        return plans


def record_sent(conn, model: str, mode: str, n: int, tin: int, tout: int, cost: float) -> None:
    """Add requests sent (predicted tokens and cost) to the usage totals of (``model``, ``mode``)."""
    conn.execute(
        "INSERT INTO usage (model, mode, requests_sent, pred_input_tokens, pred_output_tokens, pred_cost) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (model, mode) DO UPDATE SET "
        "requests_sent = requests_sent + excluded.requests_sent, "
        "pred_input_tokens = pred_input_tokens + excluded.pred_input_tokens, "
        "pred_output_tokens = pred_output_tokens + excluded.pred_output_tokens, "
        "pred_cost = pred_cost + excluded.pred_cost",
        (model, mode, n, tin, tout, cost),
    )
