"""A point-in-time view of a task directory, read through its own read-only database connection.

Used by ``batchwright status`` and by the live progress view, which polls it from a thread while the
engine writes (WAL lets readers and the writer run concurrently). Every figure is an aggregate query:
reading a snapshot costs the same for ten requests as for ten million rows' worth of counters.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchwright.monitor.usage_table import UsageRow
from batchwright.store.db import DB_NAME, Store

ITEM_STATES = ("pending", "committed", "succeeded", "failed")
REQUEST_STATES = ("pending", "active", "succeeded", "failed")
REMOTE_ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")


@dataclass
class TaskSnapshot:
    """Counts by state, spend, and task identity of one task directory at ``taken_at``."""

    task_dir: Path
    taken_at: float
    task_name: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    """Local batch states (uploading, creating, submitted, finished, committed, abandoned)."""
    remote: dict[str, int] = field(default_factory=dict)
    """Remote status of batches not yet committed (validating, in_progress, finalizing, ...)."""
    open_batches: list[dict[str, Any]] = field(default_factory=list)
    """One entry per batch not yet committed: uid, remote id and status, requests, progress."""
    usage: list[UsageRow] = field(default_factory=list)
    outputs: int = 0
    retries: int = 0
    """Counted retries used so far over every request."""

    @property
    def items_total(self) -> int:
        return sum(self.items.values())

    @property
    def items_done(self) -> int:
        return self.items.get("succeeded", 0) + self.items.get("failed", 0)

    @property
    def cost(self) -> float:
        return sum(row.cost for row in self.usage)

    @property
    def predicted_cost(self) -> float:
        return sum(row.predicted_cost for row in self.usage)


def task_db_exists(task_dir: Path) -> bool:
    """Whether ``task_dir`` holds a task database."""
    return (Path(task_dir) / DB_NAME).exists()


def read_snapshot(task_dir: Path | str) -> TaskSnapshot:
    """Read the current state of ``task_dir`` (raises ``StateError`` when there is no task there)."""
    task_dir = Path(task_dir)
    with Store.open(task_dir, readonly=True) as store:
        return snapshot_from(store, task_dir)


def snapshot_from(store: Store, task_dir: Path) -> TaskSnapshot:
    """Build a snapshot from an open store (one read transaction, so the figures agree)."""
    conn = store.conn
    snap = TaskSnapshot(task_dir=task_dir, taken_at=time.time())
    if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
        return snap  # the database is being created right now: nothing to show yet
    conn.execute("BEGIN")
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        snap.task_name = meta.get("task_name")
        if meta.get("task_meta"):
            snap.meta = json.loads(meta["task_meta"])
        snap.items = _counts(conn, "SELECT state, COUNT(*) FROM items GROUP BY state")
        snap.requests = _counts(conn, "SELECT state, COUNT(*) FROM requests GROUP BY state")
        snap.retries = conn.execute("SELECT COALESCE(SUM(retries), 0) FROM requests").fetchone()[0]
        snap.batches = _counts(conn, "SELECT state, COUNT(*) FROM batches GROUP BY state")
        snap.remote = _counts(
            conn,
            "SELECT COALESCE(remote_status, state), COUNT(*) FROM batches "
            "WHERE state NOT IN ('committed', 'abandoned') GROUP BY 1",
        )
        snap.open_batches = [
            {
                "uid": uid,
                "remote_id": remote_id,
                "state": state,
                "remote_status": remote_status,
                "requests": n,
                "done": done,
                "failed": failed,
            }
            for uid, remote_id, state, remote_status, n, done, failed in conn.execute(
                "SELECT uid, remote_id, state, remote_status, n_requests, done_requests, failed_requests "
                "FROM batches WHERE state NOT IN ('committed', 'abandoned') ORDER BY id LIMIT 50"
            )
        ]
        snap.usage = [
            UsageRow(
                model=model,
                mode=mode,
                requests=results,
                predicted_input_tokens=pin,
                input_tokens=tin,
                cached_tokens=cached,
                predicted_output_tokens=pout,
                output_tokens=tout,
                reasoning_tokens=reasoning,
                predicted_cost=pcost,
                cost=cost,
            )
            for model, mode, results, pin, tin, cached, pout, tout, reasoning, pcost, cost in conn.execute(
                "SELECT model, mode, results, pred_input_tokens, input_tokens, cached_tokens, "
                "pred_output_tokens, output_tokens, reasoning_tokens, pred_cost, cost "
                "FROM usage ORDER BY 1, 2"
            )
        ]
        snap.outputs = conn.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]
    finally:
        conn.execute("ROLLBACK")
    return snap


def _counts(conn: Any, sql: str) -> dict[str, int]:
    return {str(state): count for state, count in conn.execute(sql)}
