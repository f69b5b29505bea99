"""The task database schema as an ordered list of migrations (``PRAGMA user_version`` = applied count).

Add a migration by appending a function; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

_V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- One row per task item (the task layer's unit of work).
CREATE TABLE items (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'pending',      -- pending | committed | succeeded | failed
    meta TEXT,                                  -- JSON, the task layer's per-item data
    last_error TEXT,
    updated_at REAL NOT NULL
);
-- One row per request, a retry is a new attempt of the same request.
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    item_key TEXT,
    url TEXT NOT NULL,
    model TEXT NOT NULL,
    body TEXT NOT NULL,                         -- the JSON body exactly as sent
    nbytes INTEGER NOT NULL,                    -- bytes of the body in a batch line
    response_model TEXT,                        -- name of the registered pydantic response model
    meta TEXT,                                  -- JSON
    state TEXT NOT NULL,                        -- pending | active | succeeded | failed
    attempts INTEGER NOT NULL DEFAULT 0,        -- attempts made (numbers custom ids)
    retries INTEGER NOT NULL DEFAULT 0,         -- counted retries used
    pred_input_tokens INTEGER NOT NULL,
    pred_output_tokens INTEGER NOT NULL,
    pred_cost REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX requests_pending ON requests (url, model, id) WHERE state = 'pending';
CREATE INDEX requests_item ON requests (item_key);
-- One row per local batch, uid goes into the remote file name and batch metadata.
CREATE TABLE batches (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    model TEXT NOT NULL,
    state TEXT NOT NULL,      -- uploading | creating | submitted | finished | committed | abandoned
    remote_status TEXT,
    file_id TEXT,
    remote_id TEXT,
    output_file_id TEXT,
    error_file_id TEXT,
    n_requests INTEGER NOT NULL,
    nbytes INTEGER NOT NULL,
    pred_input_tokens INTEGER NOT NULL,
    pred_output_tokens INTEGER NOT NULL,
    pred_cost REAL NOT NULL,
    done_requests INTEGER NOT NULL DEFAULT 0,
    failed_requests INTEGER NOT NULL DEFAULT 0,
    n_succeeded INTEGER NOT NULL DEFAULT 0,
    n_failed INTEGER NOT NULL DEFAULT 0,
    n_retried INTEGER NOT NULL DEFAULT 0,
    n_requeued INTEGER NOT NULL DEFAULT 0,
    true_input_tokens INTEGER NOT NULL DEFAULT 0,
    true_cached_tokens INTEGER NOT NULL DEFAULT 0,
    true_output_tokens INTEGER NOT NULL DEFAULT 0,
    true_reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    true_cost REAL NOT NULL DEFAULT 0,
    error TEXT,
    created_at REAL NOT NULL,
    submitted_at REAL,
    finished_at REAL,
    committed_at REAL
);
CREATE INDEX batches_open ON batches (state) WHERE state NOT IN ('committed', 'abandoned');
-- One row per attempt of a request (batch line or direct call), custom_id = '<request id>-<attempt no>'.
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    custom_id TEXT NOT NULL,
    batch_id INTEGER REFERENCES batches (id),
    mode TEXT NOT NULL,                         -- batch | direct
    state TEXT NOT NULL,                        -- open | done
    outcome TEXT,                               -- succeeded | retried | requeued | failed
    status_code INTEGER,
    error_code TEXT,
    error_message TEXT,
    input_tokens INTEGER,
    cached_tokens INTEGER,
    output_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost REAL,
    response TEXT,                              -- the raw result line / response body
    finished_at REAL
);
CREATE INDEX attempts_batch ON attempts (batch_id);
CREATE INDEX attempts_request ON attempts (request_id);
CREATE INDEX attempts_open_direct ON attempts (id) WHERE state = 'open' AND mode = 'direct';
-- User output rows, written in the same transaction as the result they come from.
CREATE TABLE outputs (
    id INTEGER PRIMARY KEY,
    item_key TEXT,
    request_id INTEGER,
    data TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX outputs_item ON outputs (item_key);
-- Remote files to delete (intent): inserted with the commit that makes them unneeded.
CREATE TABLE deletions (
    remote_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                         -- file | batch (cancel)
    created_at REAL NOT NULL
);
-- Running totals per (model, mode): predicted when sent, true when results commit.
CREATE TABLE usage (
    model TEXT NOT NULL,
    mode TEXT NOT NULL,                         -- batch | direct
    requests_sent INTEGER NOT NULL DEFAULT 0,
    pred_input_tokens INTEGER NOT NULL DEFAULT 0,
    pred_output_tokens INTEGER NOT NULL DEFAULT 0,
    pred_cost REAL NOT NULL DEFAULT 0,
    results INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (model, mode)
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    batch_id INTEGER,
    message TEXT NOT NULL
);
"""


def _v1(conn: sqlite3.Connection) -> None:
    for statement in _V1.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v2(conn: sqlite3.Connection) -> None:
    """Learned completion ratios: each request's max output tokens, and per-model sums of results."""
    conn.execute("ALTER TABLE requests ADD COLUMN max_output_tokens INTEGER")
    conn.execute(
        "CREATE TABLE ratios (model TEXT PRIMARY KEY, samples INTEGER NOT NULL, "
        "max_output_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL)"
    )


#: Ordered migrations; ``MIGRATIONS[i]`` brings the schema from version ``i`` to ``i + 1``.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)
