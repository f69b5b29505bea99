"""Collecting finished batches: download output and error files, match lines, commit in one transaction.

Lines are matched by ``custom_id`` (order is never assumed). Duplicate and unknown ids are logged and
ignored; ids missing from both files are retried (a counted retry). Expired and
cancelled batches keep every finished result. A batch that failed with ``token_limit_exceeded`` puts its
requests back to pending without using a retry and shrinks that model's enqueued-token budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from batchwright.engine.classify import classify_line
from batchwright.engine.commit import CommitStats, OpenAttempt, OutcomeCommitter
from batchwright.engine.crashpoints import crashpoint
from batchwright.engine.planner import BatchPlanner
from batchwright.engine.structured import ResponseModels
from batchwright.engine.types import Kind, Outcome
from batchwright.providers.base import Provider, RemoteBatch
from batchwright.store.db import Store

_CHUNK = 2000


@dataclass
class Collected:
    """What collecting one batch did."""

    batch_id: int
    status: str
    stats: CommitStats
    n_requests: int
    duplicates: int = 0
    unknown: int = 0
    malformed: int = 0
    missing: int = 0
    token_limit: bool = False

    @property
    def pass_ratio(self) -> float:
        """(succeeded + requeued) / requests."""
        return (self.stats.succeeded + self.stats.requeued) / self.n_requests if self.n_requests else 1.0


class BatchCollector:
    """Turns a finished remote batch into committed outcomes."""

    def __init__(
        self,
        store: Store,
        provider: Provider,
        committer: OutcomeCommitter,
        planner: BatchPlanner,
        models: ResponseModels,
        work_dir: Path,
        delete_remote_files: bool,
    ) -> None:
        self.store = store
        self.provider = provider
        self.committer = committer
        self.planner = planner
        self.models = models
        self.work_dir = work_dir
        self.delete_remote_files = delete_remote_files

    def open_attempts(self, batch_id: int) -> dict[str, OpenAttempt]:
        """The batch's attempts still awaiting an outcome, by custom id."""
        rows = self.store.conn.execute(
            "SELECT a.id, a.request_id, a.custom_id, r.item_key, r.url, r.model, r.retries, "
            "r.response_model, "
            "r.meta, a.mode, r.max_output_tokens FROM attempts a JOIN requests r ON r.id = a.request_id "
            "WHERE a.batch_id = ? AND a.state = 'open'",
            (batch_id,),
        )
        return {row[2]: OpenAttempt(*row) for row in rows}

    async def collect(self, batch_id: int, remote: RemoteBatch, *, process_failed: bool) -> Collected | None:
        """Download and commit ``remote``'s results. A ``failed`` batch is processed only if
        ``process_failed`` (else None is returned and the batch stays unprocessed), except a
        ``token_limit_exceeded`` failure, which is always requeued."""
        expected = self.open_attempts(batch_id)
        n_requests = len(expected)
        if remote.status == "failed":
            codes = {code for code, _, _ in remote.errors}
            if "token_limit_exceeded" in codes:
                return self._requeue_token_limit(batch_id, remote, expected)
            if not process_failed:
                return None
            return self._commit_failed(batch_id, remote, expected)
        paths = []
        for file_id, suffix in ((remote.output_file_id, "out"), (remote.error_file_id, "err")):
            if file_id:
                path = self.work_dir / f"{remote.id}.{suffix}.jsonl"
                await self.provider.download_file(file_id, path)
                paths.append(path)
        crashpoint("after_download")
        result = Collected(batch_id, remote.status, CommitStats(), n_requests)
        seen: set[str] = set()
        with self.store.transaction():
            chunk: list[tuple[OpenAttempt, Outcome]] = []
            for path in paths:
                with open(path, encoding="utf-8") as fh:
                    for raw in fh:
                        if not raw.strip():
                            continue
                        try:
                            line = orjson.loads(raw)
                            cid = line["custom_id"]
                        except (ValueError, KeyError, TypeError):
                            result.malformed += 1
                            continue
                        att = expected.pop(cid, None)
                        if att is None:
                            if cid in seen:
                                result.duplicates += 1
                            else:
                                result.unknown += 1
                            continue
                        seen.add(cid)
                        model = self.models.get(att.response_model) if att.response_model else None
                        chunk.append(
                            (att, classify_line(att.attempt_id, att.url, line, raw.rstrip("\n"), model))
                        )
                        if len(chunk) >= _CHUNK:
                            result.stats.add(self.committer.commit(chunk))
                            chunk = []
            result.missing = len(expected)
            chunk.extend((att, self._missing(att)) for att in expected.values())
            if chunk:
                result.stats.add(self.committer.commit(chunk))
            self._close_batch(batch_id, remote, result)
            crashpoint("before_commit")
        crashpoint("after_commit")
        for path in paths:
            path.unlink(missing_ok=True)
        return result

    @staticmethod
    def _missing(att: OpenAttempt) -> Outcome:
        # Unrun requests of expired/cancelled batches come as batch_expired/batch_cancelled error lines, so
        # an id in neither file is a dropped or damaged line, whatever the batch status: a counted retry.
        return Outcome(
            att.attempt_id, Kind.RETRY, None, "missing_result", "no line for this request in the results"
        )

    def _requeue_token_limit(
        self, batch_id: int, remote: RemoteBatch, expected: dict[str, OpenAttempt]
    ) -> Collected:
        row = self.store.conn.execute(
            "SELECT model, pred_input_tokens FROM batches WHERE id = ?", (batch_id,)
        ).fetchone()
        model, tokens = row
        result = Collected(batch_id, remote.status, CommitStats(), len(expected), token_limit=True)
        with self.store.transaction():
            attempted = self.planner.enqueued_tokens(model)
            pairs = [
                (
                    att,
                    Outcome(
                        att.attempt_id, Kind.REQUEUE, None, "token_limit_exceeded", "enqueued-token limit"
                    ),
                )
                for att in expected.values()
            ]
            result.stats.add(self.committer.commit(pairs))
            self._close_batch(batch_id, remote, result)
            limit = self.planner.shrink_enqueued_limit(model, attempted)
            self.store.event(
                "token_limit", f"{model}: enqueued-token budget now {limit} (batch had {tokens})", batch_id
            )
        return result

    def _commit_failed(
        self, batch_id: int, remote: RemoteBatch, expected: dict[str, OpenAttempt]
    ) -> Collected:
        """A batch that failed validation: lines named in errors fail, file-level errors retry the rest."""
        ordered = sorted(expected.values(), key=lambda a: a.attempt_id)
        by_line: dict[int, tuple[str, str]] = {}
        file_level: tuple[str, str] | None = (
            None if remote.errors else ("batch_failed", "failed without details")
        )
        for code, message, line in remote.errors:
            if line is None:
                file_level = file_level or (code, message)
            else:
                by_line.setdefault(line, (code, message))
        pairs = []
        for index, att in enumerate(ordered, start=1):
            if index in by_line:
                code, message = by_line[index]
                pairs.append((att, Outcome(att.attempt_id, Kind.FATAL, None, code, message)))
            elif file_level is not None:
                pairs.append((att, Outcome(att.attempt_id, Kind.RETRY, None, *file_level)))
            else:
                pairs.append(
                    (att, Outcome(att.attempt_id, Kind.REQUEUE, None, "batch_failed", "not processed"))
                )
        result = Collected(batch_id, remote.status, CommitStats(), len(expected))
        with self.store.transaction():
            result.stats.add(self.committer.commit(pairs))
            self._close_batch(batch_id, remote, result)
        return result

    def _close_batch(self, batch_id: int, remote: RemoteBatch, result: Collected) -> None:
        s = result.stats
        conn = self.store.conn
        conn.execute(
            "UPDATE batches SET state = 'committed', remote_status = ?, output_file_id = ?, "
            "error_file_id = ?, "
            "n_succeeded = ?, n_failed = ?, n_retried = ?, n_requeued = ?, true_input_tokens = ?, "
            "true_cached_tokens = ?, true_output_tokens = ?, true_reasoning_tokens = ?, true_cost = ?, "
            "error = ?, finished_at = COALESCE(finished_at, ?), committed_at = ? WHERE id = ?",
            (remote.status, remote.output_file_id, remote.error_file_id, s.succeeded, s.failed, s.retried,
             s.requeued, s.input_tokens, s.cached_tokens, s.output_tokens, s.reasoning_tokens, s.cost,
             "; ".join(f"{c}: {m}" for c, m, _ in remote.errors[:5]) or None, time.time(), time.time(),
             batch_id),
        )  # fmt: skip
        if self.delete_remote_files:
            file_id = conn.execute("SELECT file_id FROM batches WHERE id = ?", (batch_id,)).fetchone()[0]
            ids = [i for i in (file_id, remote.output_file_id, remote.error_file_id) if i]
            conn.executemany(
                "INSERT OR IGNORE INTO deletions (remote_id, kind, created_at) VALUES (?, 'file', ?)",
                [(i, time.time()) for i in ids],
            )
        anomalies = {"duplicate": result.duplicates, "unknown": result.unknown, "malformed": result.malformed,
                     "missing": result.missing}  # fmt: skip
        if any(anomalies.values()):
            detail = ", ".join(f"{n} {kind}" for kind, n in anomalies.items() if n)
            conn.execute(
                "INSERT INTO events (ts, kind, batch_id, message) VALUES (?, 'anomaly', ?, ?)",
                (time.time(), batch_id, f"batch {remote.id}: {detail} result line(s)"),
            )


async def delete_pending_files(store: Store, provider: Provider) -> int:
    """Carry out recorded deletion intents (idempotent: already-gone counts as done)."""
    rows = store.conn.execute("SELECT remote_id FROM deletions WHERE kind = 'file'").fetchall()
    done = 0
    for (remote_id,) in rows:
        await provider.delete_file(remote_id)
        with store.transaction() as conn:
            conn.execute("DELETE FROM deletions WHERE remote_id = ?", (remote_id,))
        done += 1
    return done
