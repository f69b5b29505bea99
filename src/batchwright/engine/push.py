"""Push with intent, and reconciliation after crashes or ambiguous failures.

Steps, each recorded before the next remote call: ``uploading`` (uid recorded at cut) → upload (the file
name carries the uid) → file id recorded, ``creating`` → create (metadata carries uid and task id) → batch
id recorded, ``submitted``. A batch whose last remote call may have happened without being recorded is
*uncertain*: before acting on it again the engine lists remote files/batches and adopts what exists.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from batchwright.engine.crashpoints import crashpoint
from batchwright.errors import RemoteError
from batchwright.providers.base import Provider, ProviderError, RemoteBatch
from batchwright.store.db import Store

#: How far back (seconds) to page through the remote batch list when looking for a batch we may have made.
_LIST_MARGIN = 6 * 3600


@dataclass
class PendingPush:
    """An open batch not yet submitted."""

    id: int
    uid: str
    url: str
    model: str
    state: str
    file_id: str | None
    created_at: float


def file_name(task_id: str, uid: str) -> str:
    """The remote file name of a batch: carries the task id and the batch uid."""
    return f"bw-{task_id}-{uid}.jsonl"


def batch_metadata(task_id: str, uid: str) -> dict[str, str]:
    """The remote batch metadata: the task id and the batch uid (nothing secret, nothing long)."""
    return {"bw_task": task_id, "bw_uid": uid}


class PushDeferred(Exception):
    """A push step failed transiently; the batch stays where it is and is tried again later."""


class BatchPusher:
    """Uploads and creates batches; reconciles uncertain ones first."""

    def __init__(self, store: Store, provider: Provider, task_id: str, work_dir: Path) -> None:
        self.store = store
        self.provider = provider
        self.task_id = task_id
        self.work_dir = work_dir
        self.certain: set[str] = set()
        """Uids whose remote state is known (cut or reconciled in this session)."""

    def pending(self) -> list[PendingPush]:
        """Open batches not yet submitted, oldest first."""
        rows = self.store.conn.execute(
            "SELECT id, uid, url, model, state, file_id, created_at FROM batches "
            "WHERE state IN ('uploading', 'creating') ORDER BY id"
        ).fetchall()
        return [PendingPush(*row) for row in rows]

    # --- reconciliation -----------------------------------------------------------------------
    async def reconcile(self) -> int:
        """Adopt remote files/batches of uncertain pushes; returns how many steps were adopted."""
        uncertain = [p for p in self.pending() if p.uid not in self.certain]
        if not uncertain:
            return 0
        adopted = 0
        want_files = {p.uid: p for p in uncertain if p.state == "uploading"}
        if want_files:
            async for remote in self.provider.list_files():
                uid = _uid_from_name(remote.filename, self.task_id)
                if uid in want_files:
                    self._record_file(want_files.pop(uid).id, remote.id)
                    adopted += 1
                    if not want_files:
                        break
        want_batches = {
            p.uid: p for p in self.pending() if p.state == "creating" and p.uid not in self.certain
        }
        if want_batches:
            oldest = min(p.created_at for p in want_batches.values()) - _LIST_MARGIN
            async for remote in self.provider.list_batches():
                uid = remote.metadata.get("bw_uid")
                if remote.metadata.get("bw_task") == self.task_id and uid in want_batches:
                    self._record_batch(want_batches.pop(uid).id, remote)
                    adopted += 1
                    if not want_batches:
                        break
                if remote.created_at < oldest:
                    break
        self.certain.update(p.uid for p in uncertain)
        if adopted:
            self.store.event("reconcile", f"adopted {adopted} remote step(s) of interrupted pushes")
        return adopted

    # --- pushing ------------------------------------------------------------------------------
    async def push(self, p: PendingPush) -> RemoteBatch | None:
        """Upload (if needed) and create one batch; None if reconciliation found it already submitted.

        Raises :class:`PushDeferred` on a transient failure (after which the batch is uncertain).
        """
        if p.uid not in self.certain:
            await self.reconcile()
        fresh = {q.id: q for q in self.pending()}  # a reconciliation since ``p`` was read may have adopted it
        if p.id not in fresh:
            return None
        p = fresh[p.id]
        file_id = p.file_id
        if p.state == "uploading":
            path = self.write_file(p.id, p.uid)
            try:
                remote_file = await self._remote(
                    self.provider.upload_file(file_name(self.task_id, p.uid), path), p
                )
            finally:
                path.unlink(missing_ok=True)
            crashpoint("after_upload")
            self._record_file(p.id, remote_file.id)
            crashpoint("after_file_recorded")
            file_id = remote_file.id
        assert file_id is not None
        remote = await self._remote(
            self.provider.create_batch(file_id, p.url, batch_metadata(self.task_id, p.uid)), p
        )
        crashpoint("after_create")
        self._record_batch(p.id, remote)
        crashpoint("after_batch_recorded")
        return remote

    async def _remote(self, call, p: PendingPush):
        try:
            return await call
        except ProviderError as exc:
            if exc.ambiguous:
                self.certain.discard(p.uid)
            if exc.transient:
                self.store.event("push_deferred", f"batch {p.uid}: {exc}", p.id)
                raise PushDeferred(str(exc)) from None
            raise RemoteError(
                f"The provider refused batch {p.uid} ({p.model}, {p.url}): {exc}",
                remedy="Check the API key, base URL and model; run again to retry, or wipe the requests.",
            ) from None

    def write_file(self, batch_id: int, uid: str) -> Path:
        """Write the batch's JSONL input file (0600) from the stored request bodies, streaming."""
        path = self.work_dir / f"{uid}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        cursor = self.store.conn.execute(
            "SELECT a.custom_id, r.url, r.body FROM attempts a JOIN requests r ON r.id = a.request_id "
            "WHERE a.batch_id = ? ORDER BY a.id",
            (batch_id,),
        )
        with os.fdopen(fd, "w", encoding="utf-8", buffering=1 << 20) as out:
            while rows := cursor.fetchmany(2000):
                out.write(
                    "".join(
                        f'{{"custom_id":"{cid}","method":"POST","url":"{url}","body":{body}}}\n'
                        for cid, url, body in rows
                    )
                )
        return path

    def _record_file(self, batch_id: int, file_id: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE batches SET file_id = ?, state = 'creating' WHERE id = ?", (file_id, batch_id)
            )

    def _record_batch(self, batch_id: int, remote: RemoteBatch) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE batches SET remote_id = ?, file_id = COALESCE(file_id, ?), state = 'submitted', "
                "remote_status = ?, submitted_at = ? WHERE id = ?",
                (remote.id, remote.input_file_id, remote.status, time.time(), batch_id),
            )


def _uid_from_name(name: str, task_id: str) -> str | None:
    prefix = f"bw-{task_id}-"
    if name.startswith(prefix) and name.endswith(".jsonl"):
        return name[len(prefix) : -len(".jsonl")]
    return None
