"""Reading OpenAI batch-format JSONL files (one request per line), streamed and checked line by line.

A line is ``{"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {...}}``.
Every problem names the file and line: :class:`BatchFileError` (exit code 2).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from batchwright.errors import InputError, os_error_reason
from batchwright.tokens import endpoint_of


class BatchFileError(InputError):
    """A batch-format JSONL file cannot be used as it is (names the file and line)."""


@dataclass(frozen=True)
class BatchLine:
    """One request of a batch file: where it is, its id, endpoint and body, and its raw bytes."""

    path: Path
    lineno: int
    offset: int
    custom_id: str
    url: str
    body: dict[str, Any]
    raw: bytes
    """The line as it is in the file, ending with a newline."""


_REMEDY = (
    'Every line must be a JSON object {"custom_id": "...", "method": "POST", "url": "/v1/...", '
    '"body": {"model": "...", ...}}; fix or remove the line.'
)


def _fail(path: Path, lineno: int, problem: str) -> BatchFileError:
    return BatchFileError(f"{path}, line {lineno}: {problem}", remedy=_REMEDY)


def parse_line(path: Path, lineno: int, offset: int, raw: bytes) -> BatchLine:
    """Check and parse one non-blank line of ``path``."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise _fail(path, lineno, f"not valid JSON ({error}).") from None
    if not isinstance(data, dict):
        raise _fail(path, lineno, f"a JSON {type(data).__name__}, not an object.")
    unknown = sorted(set(data) - {"custom_id", "method", "url", "body"})
    if unknown:
        raise _fail(path, lineno, f"unknown field(s) {', '.join(map(repr, unknown))}.")
    custom_id, method, url, body = (data.get(k) for k in ("custom_id", "method", "url", "body"))
    if not isinstance(custom_id, str) or not custom_id:
        raise _fail(path, lineno, "'custom_id' must be a non-empty string.")
    if method != "POST":
        raise _fail(path, lineno, f"'method' must be \"POST\", not {method!r}.")
    if not isinstance(url, str):
        raise _fail(path, lineno, "'url' must be a string such as \"/v1/chat/completions\".")
    try:
        endpoint_of(url)
    except InputError as error:
        raise _fail(path, lineno, error.message) from None
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        raise _fail(path, lineno, "'body' must be a JSON object with a 'model' string.")
    line = raw if raw.endswith(b"\n") else raw + b"\n"
    return BatchLine(path, lineno, offset, custom_id, url, body, line)


def read_batch_file(path: str | Path) -> Iterator[BatchLine]:
    """The requests of one batch file in order (blank lines skipped), streamed with bounded memory."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as error:
        raise BatchFileError(
            f"Cannot read {str(path)!r}: {os_error_reason(error)}.", remedy="Check the file name."
        ) from None
    with handle:
        offset = 0
        for lineno, raw in enumerate(handle, 1):
            start, offset = offset, offset + len(raw)
            if raw.strip():
                yield parse_line(path, lineno, start, raw)


def read_batch_files(paths: Iterable[str | Path]) -> Iterator[BatchLine]:
    """The requests of several batch files, one file after the other."""
    for path in paths:
        yield from read_batch_file(path)


def read_line_at(path: Path, lineno: int, offset: int, custom_id: str) -> BatchLine:
    """Re-read the request ``custom_id`` from line ``lineno`` at byte ``offset`` of ``path``; a file that
    changed since (another request or none there) raises :class:`BatchFileError`."""
    changed = BatchFileError(
        f"{path}, line {lineno}: the request {custom_id!r} is no longer there (the file changed).",
        remedy="Restore the file as it was when the job started (or start a new job directory).",
    )
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            raw = handle.readline()
    except OSError:
        raise changed from None
    try:
        line = parse_line(path, lineno, offset, raw)
    except BatchFileError:
        raise changed from None
    if line.custom_id != custom_id:
        raise changed
    return line


class UniqueIds:
    """Finds repeated ids with bounded memory (an on-disk temporary SQLite table)."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect("")  # a private temporary database file, deleted on close
        self._conn.execute("CREATE TABLE ids (id TEXT PRIMARY KEY, place TEXT) WITHOUT ROWID")

    def add(self, key: str, place: str) -> str | None:
        """Record ``key`` seen at ``place``; return where it was seen first if it is a repeat."""
        try:
            self._conn.execute("INSERT INTO ids VALUES (?, ?)", (key, place))
        except sqlite3.IntegrityError:
            return str(self._conn.execute("SELECT place FROM ids WHERE id = ?", (key,)).fetchone()[0])
        return None

    def add_line(self, line: BatchLine) -> None:
        """Record ``line``'s custom id; raise :class:`BatchFileError` if an earlier line had it."""
        place = f"{line.path}, line {line.lineno}"
        first = self.add(line.custom_id, place)
        if first is not None:
            raise BatchFileError(
                f"{place}: custom_id {line.custom_id!r} repeats {first}.",
                remedy="Give every request a unique custom_id (batch results are matched by it).",
            )

    def close(self) -> None:
        """Drop the temporary table."""
        self._conn.close()

    def __enter__(self) -> UniqueIds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class FileSummary:
    """What a full check of batch files found: requests and the endpoints they use."""

    requests: int = 0
    urls: set[str] = field(default_factory=set)


def check_batch_files(paths: Iterable[str | Path]) -> FileSummary:
    """Read every line of ``paths`` once: syntax, fields, endpoints and unique custom ids.

    Raises :class:`BatchFileError` at the first problem, naming file and line.
    """
    summary = FileSummary()
    with UniqueIds() as seen:
        for line in read_batch_files(paths):
            seen.add_line(line)
            summary.requests += 1
            summary.urls.add(endpoint_of(line.url))
    return summary
