"""Exporters: write a task's output rows (from its database) to the user's format, atomically.

Every file is written to a temporary file in the same directory, flushed and fsync'ed, made private
(0600) and renamed over the target, so a reader never sees a half-written export and a crash leaves
the previous export intact. Exports are derived data: they can always be re-written from the database.

Rows are plain JSON-able dicts. Exporters take a *factory* returning a fresh iterator over the rows,
so they can stream (CSV and Parquet make a first pass to learn the columns) without holding a task's
output in memory.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any

from batchwright.errors import ConfigError, InputError, os_error_reason
from batchwright.private_files import make_private_dir

RowSource = Callable[[], Iterable[dict[str, Any]]]
"""A callable returning a fresh iterable over output rows (called once per pass)."""


class ExportFormat(str, Enum):
    """Output formats an export can take."""

    JSONL = "jsonl"
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"

    @classmethod
    def from_path(cls, path: Path) -> ExportFormat:
        """The format named by ``path``'s suffix (``.jsonl``, ``.json``, ``.csv``, ``.parquet``)."""
        suffix = path.suffix.lower().lstrip(".")
        for fmt in cls:
            if fmt.value == suffix:
                return fmt
        raise ConfigError(
            f"Cannot tell the export format of {str(path)!r} from its suffix.",
            remedy="Use a file name ending in .jsonl, .json, .csv or .parquet.",
        )


@dataclass(frozen=True)
class ExportSpec:
    """Where and how to export: ``path`` (format from its suffix unless ``format`` is given) and, for
    JSONL, optional splitting into parts of at most ``max_entries`` rows or ``max_bytes`` bytes."""

    path: Path
    format: ExportFormat | None = None
    max_entries: int | None = None
    max_bytes: int | None = None

    def resolved_format(self) -> ExportFormat:
        """The explicit format, or the one named by the path's suffix."""
        return self.format or ExportFormat.from_path(self.path)


@contextlib.contextmanager
def atomic_writer(path: Path, *, binary: bool = False) -> Iterator[IO[Any]]:
    """Open a private temp file next to ``path``; on success fsync it, rename it over ``path`` and
    remove temp files of earlier exports to ``path`` that were killed mid-write.

    An export path that cannot be written (its directory is a file, is read-only, ...) raises
    :class:`InputError`; the rows stay in the task database, so the export can be re-run.
    """
    try:
        make_private_dir(path.parent)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise InputError(
            f"Cannot write the export {str(path)!r}: {os_error_reason(error)}.",
            remedy="Choose an export path in a writable directory; the output is safe in the task "
            "database, so running again writes the export.",
        ) from None
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o600)
        mode = "wb" if binary else "w"
        with os.fdopen(fd, mode, **({} if binary else {"encoding": "utf-8", "newline": ""})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.replace(tmp, path)
        except OSError as error:
            raise InputError(
                f"Cannot write the export {str(path)!r}: {os_error_reason(error)}.",
                remedy="Choose another export path; the output is safe in the task database.",
            ) from None
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            stale.unlink(missing_ok=True)  # left by an export that was killed mid-write
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def export_rows(rows: RowSource, spec: ExportSpec) -> list[Path]:
    """Write the rows to ``spec`` atomically and return the files written (several for split JSONL)."""
    fmt = spec.resolved_format()
    if (spec.max_entries or spec.max_bytes) and fmt is not ExportFormat.JSONL:
        raise ConfigError(
            "Splitting an export into parts is only supported for JSONL.",
            remedy="Drop --export-max-entries/--export-max-bytes or export to a .jsonl file.",
        )
    if fmt is ExportFormat.JSONL:
        return _export_jsonl(rows, spec)
    if fmt is ExportFormat.JSON:
        with atomic_writer(spec.path) as out:
            out.write("[")
            for index, row in enumerate(rows()):
                out.write(",\n" if index else "\n")
                out.write(_dumps(row))
            out.write("\n]\n")
        return [spec.path]
    if fmt is ExportFormat.CSV:
        return [_export_csv(rows, spec.path)]
    return [_export_parquet(rows, spec.path)]


def _dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def part_path(path: Path, index: int, total: int) -> Path:
    """The name of part ``index`` (1-based) of ``total``: ``output.part002of005.jsonl``."""
    width = max(3, len(str(total)))
    return path.with_name(f"{path.stem}.part{index:0{width}d}of{total:0{width}d}{path.suffix}")


def _existing_parts(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.stem}.part*of*{path.suffix}"))


def _export_jsonl(rows: RowSource, spec: ExportSpec) -> list[Path]:
    """Write one JSONL file, or parts when a limit is set; stale files of an earlier export are removed."""
    for limit in (spec.max_entries, spec.max_bytes):
        if limit is not None and limit < 1:
            raise ConfigError(f"Export part limits must be positive, got {limit}.", remedy="Use 1 or more.")
    if not spec.max_entries and not spec.max_bytes:
        with atomic_writer(spec.path) as out:
            for row in rows():
                out.write(_dumps(row) + "\n")
        for stale in _existing_parts(spec.path):
            stale.unlink()
        return [spec.path]
    # Write parts under temporary names first, then rename them all; only then drop stale files.
    temps: list[Path] = []
    with contextlib.ExitStack() as stack:
        handle: IO[Any] | None = None
        entries = size = 0
        for row in rows():
            line = (_dumps(row) + "\n").encode("utf-8")
            full = handle is not None and (
                (spec.max_entries and entries >= spec.max_entries)
                or (spec.max_bytes and size + len(line) > spec.max_bytes and entries > 0)
            )
            if handle is None or full:
                temp = spec.path.with_name(f".{spec.path.stem}.part{len(temps) + 1}.tmp")
                temps.append(temp)
                handle = stack.enter_context(atomic_writer(temp, binary=True))
                entries = size = 0
            handle.write(line)
            entries += 1
            size += len(line)
    if not temps:  # no rows: still produce an (empty) output file
        return _export_jsonl(rows, ExportSpec(spec.path))
    if len(temps) == 1:
        final = [spec.path]
    else:
        final = [part_path(spec.path, index + 1, len(temps)) for index in range(len(temps))]
    keep = set(final)
    for temp, target in zip(temps, final, strict=True):
        os.replace(temp, target)
    _fsync_dir(spec.path.parent)
    for stale in [spec.path, *_existing_parts(spec.path)]:
        if stale not in keep and stale.exists():
            stale.unlink()
    return final


def _flatten(value: Any) -> Any:
    """CSV cells: scalars as they are, lists and objects as compact JSON."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _columns(rows: RowSource) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows():
        for name in row:
            columns.setdefault(name, None)
    return list(columns)


def _export_csv(rows: RowSource, path: Path) -> Path:
    columns = _columns(rows)
    with atomic_writer(path) as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for row in rows():
            writer.writerow({name: _flatten(value) for name, value in row.items()})
    return path


_PARQUET_CHUNK = 10_000


def _export_parquet(rows: RowSource, path: Path) -> Path:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise InputError(
            "Parquet export needs pyarrow, which is not installed.",
            remedy="Install the data extra: pip install 'batchwright[data]'.",
        ) from error
    columns = _columns(rows)
    schema = None
    with atomic_writer(path, binary=True) as out:
        writer = None
        chunk: list[dict[str, Any]] = []

        def flush() -> None:
            nonlocal schema, writer
            full = [{name: row.get(name) for name in columns} for row in chunk]
            try:
                table = pa.Table.from_pylist(full, schema=schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
                raise InputError(
                    f"Output rows cannot be written as one Parquet table: {error}",
                    remedy="Give every output field one type across rows, or export to JSONL.",
                ) from error
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(out, schema)
            writer.write_table(table)
            chunk.clear()

        for row in rows():
            chunk.append(row)
            if len(chunk) >= _PARQUET_CHUNK:
                flush()
        if chunk or writer is None:
            flush()
        writer.close()  # type: ignore[union-attr]
    return path
