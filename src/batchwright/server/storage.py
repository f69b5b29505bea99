"""The server's persistent state: one SQLite database plus file contents in ``--data-dir``.

Files are stored as ``files/<id>`` (0600) under a 0700 directory. Batches are kept as their API object
(JSON) plus an internal record (model, tokens, assigned faults, real-time deadline). Per-request results
are rows keyed by ``(batch_id, line)``, so a restarted server resumes a batch where it stopped.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from batchwright.errors import ConfigError
from batchwright.private_files import make_private_dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at REAL,
    deleted_at INTEGER,
    batch_id TEXT
);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    object TEXT NOT NULL,
    internal TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    batch_id TEXT NOT NULL,
    line INTEGER NOT NULL,
    custom_id TEXT NOT NULL,
    ok INTEGER NOT NULL,
    status_code INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    output BLOB NOT NULL,
    PRIMARY KEY (batch_id, line)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS output_damage (
    batch_id TEXT NOT NULL,
    line INTEGER NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (batch_id, line)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS direct_requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    url TEXT NOT NULL,
    model TEXT,
    status_code INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    arrived_at REAL,
    client_request_id TEXT
);
"""
# Columns added to direct_requests after the first release of the schema (older data dirs get them on open).
_DIRECT_ADDED = (("arrived_at", "REAL"), ("client_request_id", "TEXT"))

_FILE_COLUMNS = "id, filename, purpose, bytes, created_at, expires_at, deleted_at, batch_id"


def new_id(prefix: str) -> str:
    """A fresh object id like the API's (``file-…``, ``batch_…``, ``req_…``)."""
    return f"{prefix}{os.urandom(16).hex()}"


def _private_dir(path: Path) -> Path:
    make_private_dir(path)
    os.chmod(path, 0o700)
    return path


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    """Open ``path`` for binary writing with mode 0600."""
    return os.fdopen(os.open(path, flags, 0o600), "wb")


def file_object(row: sqlite3.Row | tuple) -> dict[str, Any]:
    """The API ``file`` object for a ``files`` row."""
    file_id, filename, purpose, size, created_at, expires_at, _deleted, _batch = row
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": created_at,
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "expires_at": None if expires_at is None else int(expires_at),
        "status_details": None,
    }


def lock_data_dir(root: Path) -> int:
    """Hold the data dir's lock (one server per data dir); returns the lock's file descriptor."""
    fd = os.open(root / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"The data dir {root} is in use by another running server.",
            remedy="Stop that server, or give this one another --data-dir.",
        ) from None
    return fd


class Storage:
    """SQLite database and file store in one private directory. Not thread-safe: use from one loop."""

    def __init__(self, data_dir: Path) -> None:
        self.root = _private_dir(Path(data_dir))
        self._lock = lock_data_dir(self.root)
        self.files_dir = _private_dir(self.root / "files")
        self.tmp_dir = _private_dir(self.root / "tmp")
        self.batch_inputs_dir = _private_dir(self.root / "batch_inputs")
        db_path = self.root / "server.sqlite3"
        if not db_path.exists():
            open_private(db_path).close()
        self.db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        for leftover in self.tmp_dir.iterdir():  # temp files of uploads/outputs a crash interrupted
            leftover.unlink(missing_ok=True)
        self._swept_until = 0.0
        self.sweep_expired()
        have = {row[1] for row in self.db.execute("PRAGMA table_info(direct_requests)")}
        for column, kind in _DIRECT_ADDED:
            if column not in have:
                self.db.execute(f"ALTER TABLE direct_requests ADD COLUMN {column} {kind}")

    def close(self) -> None:
        """Close the database and release the data dir."""
        self.db.close()
        os.close(self._lock)

    # -- files -------------------------------------------------------------------------------------

    def temp_path(self) -> Path:
        """A fresh path in the private temp directory."""
        return self.tmp_dir / os.urandom(16).hex()

    def file_path(self, file_id: str) -> Path:
        """Where the content of ``file_id`` is stored."""
        return self.files_dir / file_id

    def batch_input_path(self, batch_id: str) -> Path:
        """The batch's own link to its input content (kept even if the user deletes the file)."""
        return self.batch_inputs_dir / f"{batch_id}.jsonl"

    def pin_batch_input(self, batch_id: str, file_id: str) -> None:
        """Keep the input of ``batch_id`` readable until the batch ends (a hard link, or a copy)."""
        target = self.batch_input_path(batch_id)
        try:
            os.link(self.file_path(file_id), target)
        except OSError:
            shutil.copyfile(self.file_path(file_id), target)
            os.chmod(target, 0o600)

    def unpin_batch_input(self, batch_id: str) -> None:
        """Release the batch's input once it has ended."""
        self.batch_input_path(batch_id).unlink(missing_ok=True)

    def add_file(
        self,
        temp: Path,
        *,
        filename: str,
        purpose: str,
        expires_at: float | None,
        batch_id: str | None = None,
        file_id: str | None = None,
    ) -> dict[str, Any]:
        """Move the written ``temp`` file into the store and record it; returns the file object."""
        file_id = file_id or new_id("file-")
        size = temp.stat().st_size
        os.replace(temp, self.file_path(file_id))
        created = int(time.time())
        self.db.execute(
            "INSERT INTO files (id, filename, purpose, bytes, created_at, expires_at, batch_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (file_id, filename, purpose, size, created, expires_at, batch_id),
        )
        return file_object((file_id, filename, purpose, size, created, expires_at, None, batch_id))

    def get_file(self, file_id: str) -> dict[str, Any] | None:
        """The live (not deleted, not expired) file object, or None."""
        row = self.db.execute(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE id = ? AND deleted_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > ?)",
            (file_id, time.time()),
        ).fetchone()
        return None if row is None else file_object(row)

    def list_files(
        self, *, purpose: str | None, after: str | None, limit: int, ascending: bool
    ) -> tuple[list[dict[str, Any]], bool]:
        """A page of live files and whether more follow."""
        where = ["deleted_at IS NULL", "(expires_at IS NULL OR expires_at > ?)"]
        params: list[Any] = [time.time()]
        if purpose:
            where.append("purpose = ?")
            params.append(purpose)
        if after:
            where.append(f"seq {'>' if ascending else '<'} (SELECT seq FROM files WHERE id = ?)")
            params.append(after)
        sql = (
            f"SELECT {_FILE_COLUMNS} FROM files WHERE {' AND '.join(where)}"
            f" ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT ?"
        )
        rows = self.db.execute(sql, (*params, limit + 1)).fetchall()
        return [file_object(r) for r in rows[:limit]], len(rows) > limit

    def delete_file(self, file_id: str) -> bool:
        """Delete a live file (content removed, row kept for the ledger); False when unknown."""
        if self.get_file(file_id) is None:
            return False
        self.db.execute("UPDATE files SET deleted_at = ? WHERE id = ?", (int(time.time()), file_id))
        self.file_path(file_id).unlink(missing_ok=True)
        return True

    def sweep_expired(self) -> None:
        """Remove the content of files that expired since the last sweep (their rows stay in the ledger)."""
        now = time.time()
        rows = self.db.execute(
            "SELECT id FROM files WHERE deleted_at IS NULL AND expires_at > ? AND expires_at <= ?",
            (self._swept_until, now),
        ).fetchall()
        for (file_id,) in rows:
            self.file_path(file_id).unlink(missing_ok=True)
        self._swept_until = now

    def used_bytes(self) -> int:
        """Bytes held by live files (for the storage quota)."""
        (used,) = self.db.execute(
            "SELECT COALESCE(SUM(bytes), 0) FROM files WHERE deleted_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > ?)",
            (time.time(),),
        ).fetchone()
        return int(used)

    # -- batches -----------------------------------------------------------------------------------

    def insert_batch(self, batch: dict[str, Any], internal: dict[str, Any]) -> None:
        """Record a new batch."""
        self.db.execute(
            "INSERT INTO batches (id, status, object, internal) VALUES (?, ?, ?, ?)",
            (batch["id"], batch["status"], json.dumps(batch), json.dumps(internal)),
        )

    def save_batch(self, batch: dict[str, Any], internal: dict[str, Any] | None = None) -> None:
        """Store the new state of a batch (and its internal record when given)."""
        if internal is None:
            self.db.execute(
                "UPDATE batches SET status = ?, object = ? WHERE id = ?",
                (batch["status"], json.dumps(batch), batch["id"]),
            )
        else:
            self.db.execute(
                "UPDATE batches SET status = ?, object = ?, internal = ? WHERE id = ?",
                (batch["status"], json.dumps(batch), json.dumps(internal), batch["id"]),
            )

    def get_batch(self, batch_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The batch object and its internal record, or None."""
        row = self.db.execute("SELECT object, internal FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return None if row is None else (json.loads(row[0]), json.loads(row[1]))

    def list_batches(self, *, after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """A page of batches, newest first, and whether more follow."""
        if after:
            rows = self.db.execute(
                "SELECT object FROM batches WHERE seq < (SELECT seq FROM batches WHERE id = ?)"
                " ORDER BY seq DESC LIMIT ?",
                (after, limit + 1),
            ).fetchall()
        else:
            rows = self.db.execute(
                "SELECT object FROM batches ORDER BY seq DESC LIMIT ?", (limit + 1,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows[:limit]], len(rows) > limit

    def count_batches(self) -> int:
        """How many batches were ever created."""
        return int(self.db.execute("SELECT COUNT(*) FROM batches").fetchone()[0])

    def batch_ids_with_status(self, statuses: Iterable[str]) -> list[str]:
        """Ids of batches in any of ``statuses``, oldest first."""
        statuses = list(statuses)
        marks = ",".join("?" * len(statuses))
        rows = self.db.execute(
            f"SELECT id FROM batches WHERE status IN ({marks}) ORDER BY seq", statuses
        ).fetchall()
        return [r[0] for r in rows]

    def in_flight_tokens(self, model: str, exclude: str) -> int:
        """Input tokens of ``model``'s batches that are validated and not finished (enqueued tokens)."""
        total = 0
        for (internal,) in self.db.execute(
            "SELECT internal FROM batches WHERE status IN ('in_progress', 'finalizing', 'cancelling')"
            " AND id != ?",
            (exclude,),
        ):
            record = json.loads(internal)
            if record.get("model") == model:
                total += int(record.get("input_tokens", 0))
        return total

    # -- per-request results -----------------------------------------------------------------------

    def add_results(self, rows: list[tuple]) -> None:
        """Record processed requests: ``(batch_id, line, custom_id, ok, status_code, in, out, cached,
        reasoning, output_line_json)`` tuples, in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def done_lines(self, batch_id: str) -> set[int]:
        """Line numbers of ``batch_id`` already processed."""
        return {r[0] for r in self.db.execute("SELECT line FROM results WHERE batch_id = ?", (batch_id,))}

    def result_totals(self, batch_id: str) -> tuple[int, int, int, int, int, int]:
        """``(completed, failed, input, output, cached, reasoning)`` over the batch's results."""
        row = self.db.execute(
            "SELECT COALESCE(SUM(ok), 0), COALESCE(SUM(1 - ok), 0), COALESCE(SUM(input_tokens), 0),"
            " COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_tokens), 0),"
            " COALESCE(SUM(reasoning_tokens), 0) FROM results WHERE batch_id = ?",
            (batch_id,),
        ).fetchone()
        return tuple(int(v) for v in row)  # type: ignore[return-value]

    def iter_results(self, batch_id: str) -> Iterator[tuple[int, str, int, bytes]]:
        """``(line, custom_id, ok, output_line_json)`` for every processed request, by line."""
        yield from self.db.execute(
            "SELECT line, custom_id, ok, output FROM results WHERE batch_id = ? ORDER BY line", (batch_id,)
        )

    def record_output_damage(self, batch_id: str, damaged: list[tuple[int, str]]) -> None:
        """Remember which lines output faults damaged (``malformed``/``duplicated``/``missing``)."""
        if damaged:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany(
                    "INSERT OR REPLACE INTO output_damage VALUES (?, ?, ?)", [(batch_id, *d) for d in damaged]
                )

    # -- direct requests and the ledger ------------------------------------------------------------

    def add_direct_requests(self, rows: list[tuple]) -> None:
        """Record direct requests: ``(request_id, url, model, status, in, out, created_at, arrived_at,
        client_request_id)`` tuples (``arrived_at``: Unix time on arrival, before any rate limit)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO direct_requests (request_id, url, model, status_code, input_tokens,"
                " output_tokens, created_at, arrived_at, client_request_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def ledger(self) -> dict[str, Any]:
        """Every file and batch ever created, every request processed, and the tokens billed.

        Direct requests carry ``arrived_at`` (Unix time on arrival) and the client's ``x-client-request-id``;
        ``refused`` lists the direct requests that the RPM/TPM limits answered with 429.
        """
        now = time.time()
        files = []
        for row in self.db.execute(f"SELECT {_FILE_COLUMNS} FROM files ORDER BY seq"):
            entry = file_object(row)
            entry["deleted"] = row[6] is not None
            entry["expired"] = row[5] is not None and row[5] <= now
            entry["batch_id"] = row[7]
            files.append(entry)
        batches = [json.loads(r[0]) for r in self.db.execute("SELECT object FROM batches ORDER BY seq")]
        requests = [
            {
                "kind": "batch",
                "batch_id": r[0],
                "line": r[1],
                "custom_id": r[2],
                "status_code": r[3],
                "input_tokens": r[4],
                "output_tokens": r[5],
                "output_damage": r[6],
            }
            for r in self.db.execute(
                "SELECT r.batch_id, r.line, r.custom_id, r.status_code, r.input_tokens, r.output_tokens,"
                " d.kind FROM results r LEFT JOIN output_damage d"
                " ON d.batch_id = r.batch_id AND d.line = r.line ORDER BY r.batch_id, r.line"
            )
        ]
        refused = []  # direct requests the RPM/TPM limit refused (429): neither processed nor billed
        for r in self.db.execute(
            "SELECT request_id, url, model, status_code, input_tokens, output_tokens, arrived_at,"
            " client_request_id, created_at FROM direct_requests ORDER BY seq"
        ):
            entry = {
                "kind": "direct",
                "request_id": r[0],
                "url": r[1],
                "model": r[2],
                "status_code": r[3],
                "input_tokens": r[4],
                "output_tokens": r[5],
                "arrived_at": r[6],
                "client_request_id": r[7],
            }
            (refused if r[8] == 0 else requests).append(entry)
        tokens: dict[str, dict[str, int]] = {}
        for kind in ("batch", "direct"):
            chosen = [r for r in requests if r["kind"] == kind]
            tokens[kind] = {
                "requests": len(chosen),
                "input_tokens": sum(r["input_tokens"] for r in chosen),
                "output_tokens": sum(r["output_tokens"] for r in chosen),
            }
        ledger = {"files": files, "batches": batches, "requests": requests, "tokens": tokens}
        return {**ledger, "refused": refused}
