"""Persistence: one SQLite database per task directory, versioned schema, exclusive directory lock."""

from batchwright.store.db import DB_NAME, Store
from batchwright.store.lock import TaskLock
from batchwright.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["DB_NAME", "MIGRATIONS", "SCHEMA_VERSION", "Store", "TaskLock"]
