"""The task database: one SQLite file per task directory, the single durable commit point.

WAL mode, ``synchronous=FULL``, foreign keys on. Every state transition is one transaction opened with
:meth:`Store.transaction`. Queries page through rows; nothing loads a whole task into memory.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from batchwright.errors import StateError
from batchwright.private_files import make_private_dir
from batchwright.store.schema import MIGRATIONS, SCHEMA_VERSION

DB_NAME = "batchwright.sqlite3"


def _on_read_only_medium(path: Path) -> bool:
    """True when ``path``'s directory cannot be written and no writer is attached (no ``-shm``) nor
    left committed pages in the write-ahead log: the database can only be read as it is."""
    wal, shm = path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")
    if shm.exists() or (wal.exists() and wal.stat().st_size > 0):
        return False
    return not os.access(path.parent, os.W_OK)


class Store:
    """An open task database. Use :meth:`open`; close with :meth:`close` (or as a context manager)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._depth = 0

    # --- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, task_dir: str | os.PathLike[str], *, create: bool = True, readonly: bool = False) -> Store:
        """Open (and if needed create and migrate) the database of ``task_dir``.

        Raises :class:`StateError` for a database from a newer batchwright, a corrupt file, or a missing
        database when ``create`` is false.
        """
        directory = Path(task_dir)
        path = directory / DB_NAME
        if not path.exists():
            if not create or readonly:
                raise StateError(
                    f"No batchwright task database in {directory}.",
                    remedy="Check the task directory path, or run the task once to create it.",
                )
            make_private_dir(directory)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        if readonly and _on_read_only_medium(path):
            uri += "&immutable=1"  # SQLite cannot create the -shm there, and nobody can write the file
        conn = None
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            store = cls(conn, path)
            store._check_version()  # before any write: never touch another program's file
            store._configure(readonly)
            if not readonly:
                store._migrate()
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            raise StateError(
                f"The task database {path} is corrupt or not a batchwright database ({exc}).",
                remedy="Restore it from a backup or start a new task directory.",
            ) from None
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return store

    def _configure(self, readonly: bool) -> None:
        c = self.conn
        if not readonly:
            mode = c.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StateError(f"Cannot switch {self.path} to WAL mode (got {mode}).")
        c.execute("PRAGMA synchronous=FULL")
        c.execute("PRAGMA foreign_keys=ON")
        c.execute("PRAGMA cache_size=-32768")
        c.execute("PRAGMA busy_timeout=10000")

    def _check_version(self) -> int:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise StateError(
                f"{self.path} is an SQLite database but not a batchwright database (it has tables of its "
                "own and no batchwright schema version).",
                remedy="Use another task directory: batchwright never writes into another program's file.",
            )
        if version > SCHEMA_VERSION:
            raise StateError(
                f"The task database {self.path} has schema version {version}; this batchwright knows up to "
                f"{SCHEMA_VERSION}.",
                remedy="Upgrade batchwright to the version that wrote this task.",
            )
        return version

    def _migrate(self) -> None:
        version = self._check_version()
        if version == SCHEMA_VERSION:
            return
        with self.transaction():
            for migration in MIGRATIONS[version:]:
                migration(self.conn)
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            if version == 0:
                self.set_meta("task_id", uuid.uuid4().hex[:16])
                self.set_meta("created_at", repr(time.time()))

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transactions -------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic, durable step: ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on any exception).

        Nested use joins the outer transaction.
        """
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        """True inside :meth:`transaction`."""
        return self._depth > 0

    # --- key/value metadata -------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A value of the ``meta`` table (task id, task metadata, learned limits, counters)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        """Set a ``meta`` value (inside the caller's transaction, or as its own)."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
                "excluded.value",
                (key, value),
            )

    @property
    def task_id(self) -> str:
        """The random id of this task, put into every remote object's name and metadata."""
        value = self.get_meta("task_id")
        if value is None:
            raise StateError(f"The task database {self.path} has no task id.", remedy="Start a new task.")
        return value

    def event(self, kind: str, message: str, batch_id: int | None = None) -> None:
        """Append to the event log (inside the caller's transaction, or as its own)."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO events (ts, kind, batch_id, message) VALUES (?, ?, ?, ?)",
                (time.time(), kind, batch_id, message),
            )
