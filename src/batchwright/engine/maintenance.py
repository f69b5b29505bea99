"""Queries for the task layer and status views, crash recovery, wipes and the remote cleanup sweep."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from batchwright.engine.collect import delete_pending_files
from batchwright.engine.planner import OPEN_STATES
from batchwright.providers.base import Provider, ProviderError
from batchwright.store.db import Store

_LOOKUP_CHUNK = 500
_RESULTS = (
    "SELECT a.id, r.id, r.item_key, a.custom_id, a.mode, a.outcome = 'succeeded', a.status_code, "
    "a.error_code, a.error_message, a.input_tokens, a.cached_tokens, a.output_tokens, a.reasoning_tokens, "
    "a.cost, a.response "
    "FROM attempts a JOIN requests r ON r.id = a.request_id "
    "WHERE a.id > ? AND a.outcome IN ('succeeded', 'failed') ORDER BY a.id LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class FinalResult:
    """A request's final attempt as stored: ``response`` is the raw result line or response body."""

    attempt_id: int
    request_id: int
    item_key: str | None
    custom_id: str
    mode: str
    succeeded: bool
    status_code: int | None
    error_code: str | None
    error_message: str | None
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost: float
    response: str | None


class Maintenance:
    """Everything around the run loop that reads or repairs the store."""

    def __init__(self, store: Store, work_dir: Path) -> None:
        self.store = store
        self.work_dir = work_dir

    # --- recovery -----------------------------------------------------------------------------
    def recover_direct_attempts(self) -> int:
        """Direct attempts left open by a crash were lost in flight: requeue them without using a retry."""
        conn = self.store.conn
        rows = conn.execute(
            "SELECT id, request_id FROM attempts WHERE state = 'open' AND mode = 'direct'"
        ).fetchall()
        if rows:
            with self.store.transaction():
                now = time.time()
                conn.executemany(
                    "UPDATE attempts SET state = 'done', outcome = 'requeued', error_code = 'lost_in_crash', "
                    "finished_at = ? WHERE id = ?",
                    [(now, aid) for aid, _ in rows],
                )
                conn.executemany(
                    "UPDATE requests SET state = 'pending' WHERE id = ? AND state = 'active'",
                    [(rid,) for _, rid in rows],
                )
        return len(rows)

    # --- items and outputs --------------------------------------------------------------------
    def add_items(self, items: Iterable[tuple[str, Any]]) -> int:
        """Insert items as pending (existing keys untouched); returns how many were new."""
        added = 0
        iterator = iter(items)
        while chunk := list(islice(iterator, 10_000)):
            with self.store.transaction() as conn:
                before = conn.total_changes
                conn.executemany(
                    "INSERT OR IGNORE INTO items (key, state, meta, updated_at) VALUES (?, 'pending', ?, ?)",
                    [
                        (key, None if state is None else json.dumps(state), time.time())
                        for key, state in chunk
                    ],
                )
                added += conn.total_changes - before
        return added

    def known_item_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` exist in the items table (looked up in chunks)."""
        found: set[str] = set()
        iterator = iter(keys)
        while chunk := list(islice(iterator, _LOOKUP_CHUNK)):
            marks = ",".join("?" * len(chunk))
            found.update(
                r[0] for r in self.store.conn.execute(f"SELECT key FROM items WHERE key IN ({marks})", chunk)
            )
        return found

    def iter_items(self, states: Iterable[str] | None) -> Iterator[tuple[str, str, Any, str | None]]:
        """Items in key order, paged; optionally only those in ``states``."""
        wanted = None if states is None else list(states)
        after = ""
        while True:
            sql = "SELECT key, state, meta, last_error FROM items WHERE key > ?"
            args: list[Any] = [after]
            if wanted is not None:
                sql += f" AND state IN ({','.join('?' * len(wanted))})"
                args += wanted
            rows = self.store.conn.execute(sql + " ORDER BY key LIMIT 1000", args).fetchall()
            if not rows:
                return
            for key, state, meta, error in rows:
                yield key, state, None if meta is None else json.loads(meta), error
            after = rows[-1][0]

    def iter_outputs(self, after_id: int, page: int) -> Iterator[tuple[int, str | None, Any]]:
        """Output rows in commit order, paged."""
        while True:
            rows = self.store.conn.execute(
                "SELECT id, item_key, data FROM outputs WHERE id > ? ORDER BY id LIMIT ?", (after_id, page)
            ).fetchall()
            if not rows:
                return
            for oid, key, data in rows:
                yield oid, key, json.loads(data)
            after_id = rows[-1][0]

    def iter_results(self, after_id: int, page: int) -> Iterator[FinalResult]:
        """Final attempts (succeeded or failed for good) in commit order, paged."""
        while True:
            rows = self.store.conn.execute(_RESULTS, (after_id, page)).fetchall()
            if not rows:
                return
            for row in rows:
                yield FinalResult(*row)
            after_id = rows[-1][0]

    def counts(self) -> dict[str, dict[str, int]]:
        """Counts by state of items, requests, batches, and open batches by remote status."""
        conn = self.store.conn
        return {
            "items": dict(conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall()),
            "requests": dict(conn.execute("SELECT state, COUNT(*) FROM requests GROUP BY state").fetchall()),
            "batches": dict(conn.execute("SELECT state, COUNT(*) FROM batches GROUP BY state").fetchall()),
            "remote": dict(
                conn.execute(
                    "SELECT COALESCE(remote_status, state), COUNT(*) FROM batches WHERE state IN "
                    f"{OPEN_STATES} "
                    "GROUP BY 1"
                ).fetchall()
            ),
        }

    def usage(self) -> list[dict[str, Any]]:
        """The usage table: predicted and true tokens and cost per (model, mode)."""
        cursor = self.store.conn.execute("SELECT * FROM usage ORDER BY model, mode")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # --- wipes --------------------------------------------------------------------------------
    def wipe_failed(self) -> int:
        """Failed requests of failed items (or without an item) go back to pending with a fresh set of
        retries; their items to committed. Failed requests of items that succeeded anyway stay as they are.

        Output rows written for failed items (e.g. a task's ``failed()`` rows) are dropped with them:
        the retried items write fresh rows.
        """
        with self.store.transaction() as conn:
            conn.execute(
                "DELETE FROM outputs WHERE item_key IN (SELECT key FROM items WHERE state = 'failed')"
            )
            n = conn.execute(
                "UPDATE requests SET state = 'pending', retries = 0, last_error = NULL "
                "WHERE state = 'failed' AND (item_key IS NULL "
                "OR item_key IN (SELECT key FROM items WHERE state = 'failed'))"
            ).rowcount
            conn.execute("UPDATE items SET state = 'committed', last_error = NULL WHERE state = 'failed'")
        return n

    async def wipe_requests(self, provider: Provider) -> int:
        """Cancel open remote batches, delete their files, drop unfinished requests (items to pending)."""
        conn = self.store.conn
        batches = conn.execute(
            f"SELECT id, remote_id, remote_status, file_id FROM batches WHERE state IN {OPEN_STATES}"
        ).fetchall()
        for _, remote_id, status, _ in batches:
            if remote_id and status not in ("completed", "failed", "expired", "cancelled"):
                try:
                    await provider.cancel_batch(remote_id)
                except ProviderError as exc:
                    if exc.status_code not in (400, 404, 409):
                        raise
        files: dict[int, list[str]] = {}
        for batch_id, remote_id, _, file_id in batches:
            files[batch_id] = [file_id] if file_id else []
            if remote_id:
                try:
                    remote = await provider.retrieve_batch(remote_id)
                except ProviderError:
                    continue
                files[batch_id] += [i for i in (remote.output_file_id, remote.error_file_id) if i]
        now = time.time()
        with self.store.transaction():
            for batch_id, ids in files.items():
                conn.executemany(
                    "INSERT OR IGNORE INTO deletions (remote_id, kind, created_at) VALUES (?, 'file', ?)",
                    [(i, now) for i in ids],
                )
                conn.execute(
                    "UPDATE batches SET state = 'abandoned', committed_at = ? WHERE id = ?", (now, batch_id)
                )
            keys = [r[0] for r in conn.execute(
                "SELECT DISTINCT item_key FROM requests WHERE state IN ('pending', 'active') AND "
                "item_key IS NOT NULL"
            )]  # fmt: skip
            dropped = conn.execute("DELETE FROM requests WHERE state IN ('pending', 'active')").rowcount
            conn.executemany(
                "UPDATE items SET state = 'pending', updated_at = ? WHERE key = ? AND state = 'committed' "
                "AND NOT EXISTS (SELECT 1 FROM requests WHERE item_key = items.key)",
                [(now, key) for key in keys],
            )
        await delete_pending_files(self.store, provider)
        return dropped

    # --- remote sweep -------------------------------------------------------------------------
    async def sweep_unknown(self, provider: Provider, task_id: str) -> int:
        """Cancel and delete remote batches/files that carry ``task_id`` but the database does not know."""
        conn = self.store.conn
        known_batches = {
            r[0] for r in conn.execute("SELECT remote_id FROM batches WHERE remote_id IS NOT NULL")
        }
        known_files = {
            r[0]
            for r in conn.execute(
                "SELECT file_id FROM batches UNION SELECT output_file_id FROM batches "
                "UNION SELECT error_file_id FROM batches"
            )
            if r[0]
        }
        swept = 0
        orphan_files: set[str] = set()
        async for remote in provider.list_batches():
            if remote.metadata.get("bw_task") != task_id or remote.id in known_batches:
                continue
            if not remote.finished:
                await provider.cancel_batch(remote.id)
            orphan_files.update(
                i for i in (remote.input_file_id, remote.output_file_id, remote.error_file_id) if i
            )
            swept += 1
        prefix = f"bw-{task_id}-"
        async for f in provider.list_files():
            if f.filename.startswith(prefix) and f.id not in known_files:
                orphan_files.add(f.id)
        for file_id in orphan_files - known_files:
            if await provider.delete_file(file_id):
                swept += 1
        if swept:
            self.store.event("cleanup", f"swept {swept} unknown remote object(s) of task {task_id}")
        return swept
