"""Exporters: every format, JSONL parts, atomicity and private permissions."""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

import pytest

from batchwright.errors import ConfigError, InputError
from batchwright.tasks.export import ExportFormat, ExportSpec, atomic_writer, export_rows, part_path

ROWS = [
    {"key": f"k{i}", "n": i, "text": f'välue {i}, "quoted"', "tags": {"even": i % 2 == 0}} for i in range(25)
]


def source():
    return iter(ROWS)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_jsonl_roundtrip_private(tmp_path: Path) -> None:
    target = tmp_path / "out" / "output.jsonl"
    assert export_rows(source, ExportSpec(target)) == [target]
    assert read_jsonl(target) == ROWS
    assert mode(target) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["output.jsonl"]  # no temp files left


def test_jsonl_parts_by_entries_replace_a_single_file_and_back(tmp_path: Path) -> None:
    target = tmp_path / "output.jsonl"
    export_rows(source, ExportSpec(target))
    parts = export_rows(source, ExportSpec(target, max_entries=10))
    assert parts == [part_path(target, i, 3) for i in (1, 2, 3)]
    assert parts[0].name == "output.part001of003.jsonl"
    assert not target.exists()
    assert [len(read_jsonl(p)) for p in parts] == [10, 10, 5]
    assert [row for p in parts for row in read_jsonl(p)] == ROWS
    # Fewer parts later: stale parts are removed.
    again = export_rows(source, ExportSpec(target, max_entries=20))
    assert len(again) == 2 and sorted(tmp_path.iterdir()) == sorted(again)
    # Everything fits in one part: a plain file again.
    assert export_rows(source, ExportSpec(target, max_entries=100)) == [target]
    assert sorted(tmp_path.iterdir()) == [target]


def test_jsonl_parts_by_bytes(tmp_path: Path) -> None:
    target = tmp_path / "output.jsonl"
    limit = 300
    parts = export_rows(source, ExportSpec(target, max_bytes=limit))
    assert len(parts) > 1
    for part in parts:
        assert part.stat().st_size <= limit
    assert [row for p in parts for row in read_jsonl(p)] == ROWS


def test_json_document(tmp_path: Path) -> None:
    target = tmp_path / "output.json"
    export_rows(source, ExportSpec(target))
    assert json.loads(target.read_text("utf-8")) == ROWS
    export_rows(lambda: iter([]), ExportSpec(target))
    assert json.loads(target.read_text("utf-8")) == []


def test_csv_union_of_columns_and_nested_values(tmp_path: Path) -> None:
    rows = [{"key": "a", "x": 1}, {"key": "b", "y": [1, 2], "x": None}]
    target = tmp_path / "output.csv"
    export_rows(lambda: iter(rows), ExportSpec(target))
    with target.open(newline="", encoding="utf-8") as handle:
        read = list(csv.DictReader(handle))
    assert read == [{"key": "a", "x": "1", "y": ""}, {"key": "b", "x": "", "y": "[1,2]"}]
    assert mode(target) == 0o600


def test_csv_quotes(tmp_path: Path) -> None:
    target = tmp_path / "output.csv"
    export_rows(source, ExportSpec(target))
    with target.open(newline="", encoding="utf-8") as handle:
        read = list(csv.DictReader(handle))
    assert [r["text"] for r in read] == [r["text"] for r in ROWS]


def test_parquet(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    target = tmp_path / "output.parquet"
    export_rows(source, ExportSpec(target))
    table = pq.read_table(target)
    assert table.to_pylist() == ROWS
    assert mode(target) == 0o600


def test_parquet_inconsistent_types_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    target = tmp_path / "output.parquet"
    with pytest.raises(InputError, match="one type"):
        export_rows(lambda: iter([{"key": "a", "x": 1}, {"key": "b", "x": "text"}]), ExportSpec(target))
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_format_from_suffix_and_errors(tmp_path: Path) -> None:
    assert ExportFormat.from_path(Path("a.PARQUET")) is ExportFormat.PARQUET
    with pytest.raises(ConfigError, match=r"\.jsonl"):
        ExportFormat.from_path(Path("a.txt"))
    with pytest.raises(ConfigError, match="only supported for JSONL"):
        export_rows(source, ExportSpec(tmp_path / "o.csv", max_entries=3))
    with pytest.raises(ConfigError, match="positive"):
        export_rows(source, ExportSpec(tmp_path / "o.jsonl", max_entries=0))


def test_failed_write_keeps_the_previous_export(tmp_path: Path) -> None:
    target = tmp_path / "output.jsonl"
    export_rows(source, ExportSpec(target))
    before = target.read_bytes()

    def broken():
        yield ROWS[0]
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        export_rows(broken, ExportSpec(target))
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["output.jsonl"]


def test_atomic_writer_creates_private_dirs(tmp_path: Path) -> None:
    target = tmp_path / "new" / "file.txt"
    with atomic_writer(target) as out:
        out.write("x")
    assert target.read_text() == "x" and mode(target.parent) == 0o700


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(InputError, match=r"batchwright\[data\]"):
        export_rows(source, ExportSpec(tmp_path / "output.parquet"))
    assert list(tmp_path.iterdir()) == []
