"""`batchwright dataset JOB.yaml`: a prompt over CSV/JSONL rows, output joined back; bad input."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchwright.errors import ExitCode
from batchwright.jobs.dataset import DatasetTask, load_dataset_spec
from batchwright.monitor.snapshot import read_snapshot
from batchwright.tasks.api import Item

from .support import cli, read_jsonl, server_flags


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _job(path: Path, **spec: Any) -> Path:
    path.write_text(yaml.safe_dump(spec), "utf-8")
    return path


REVIEWS = [
    {
        "id": f"r{i}",
        "title": f"Title {i}",
        "text": f"Review text number {i}",
        "photo": f"https://x.test/{i}.png" if i % 2 else "",
    }
    for i in range(7)
]


def test_csv_job_output_joined_to_rows(
    local_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _csv(tmp_path / "reviews.csv", REVIEWS)
    job = _job(
        tmp_path / "job.yaml",
        input_file="reviews.csv",
        id_column="id",
        content_column="text",
        image_url="photo",
        prompt="Rate the review titled {title}:",
        system="Answer briefly.",
        model_params={"model": "gpt-4o-mini", "temperature": 0, "max_tokens": 200},
        output_file="out/labelled.csv",
        batch_size=3,
    )
    assert cli("dataset", str(job), *server_flags(local_server)) == ExitCode.DONE
    assert "results:" in capsys.readouterr().out
    with (tmp_path / "out" / "labelled.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["id"] for r in rows) == [r["id"] for r in REVIEWS]
    assert list(rows[0]) == ["id", "title", "text", "photo", "response", "error"]  # no framework 'key' column
    for row in rows:
        source = next(r for r in REVIEWS if r["id"] == row["id"])
        assert {k: row[k] for k in source} == source and row["response"] and not row["error"]
    task_dir = tmp_path / "job.batchwright"
    assert len(local_server.ledger()["batches"]) == 3  # batch_size 3 → 3 + 3 + 1
    assert cli("status", str(task_dir)) == 0 and "Items" in capsys.readouterr().out
    assert (
        cli("dataset", str(job), *server_flags(local_server)) == ExitCode.DONE
    )  # nothing left: nothing sent
    assert len(local_server.ledger()["requests"]) == 7
    # delete-tasks: forget every item and output; the next run would start from scratch
    assert cli("dataset", str(job), *server_flags(local_server), "--wipe-task", "--yes", "--no-run") == 0
    snap = read_snapshot(task_dir)
    assert sum(snap.items.values()) == 0 and snap.outputs == 0


def test_request_shape(tmp_path: Path) -> None:
    spec = load_dataset_spec(
        _job(
            tmp_path / "job.yaml",
            input_file="in.jsonl",
            id_column="id",
            content_columns=["a", "b"],
            image_url_column="img",
            prompt="Compare as JSON:",
            model_params={"model": "gpt-4o", "seed": 7, "response_format": {"type": "json_object"}},
        )
    )
    body = DatasetTask(spec).request(Item("1", {"id": 1, "a": "A", "b": "B", "img": "https://i.test/1.png"}))
    assert body == {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare as JSON:\n\nA\n\nB"},
                    {"type": "image_url", "image_url": {"url": "https://i.test/1.png"}},
                ],
            }
        ],
        "seed": 7,
        "response_format": {"type": "json_object"},
    }
    assert spec.meta().model == "gpt-4o"
    literal = load_dataset_spec(
        _job(tmp_path / "j2.yaml", input_file="x.csv", id_column="id", prompt='Say {{"v": 1}} about {a}')
    )
    assert DatasetTask(literal).request(Item("1", {"id": "1", "a": "A"}))["messages"][0]["content"] == (
        'Say {"v": 1} about A'
    )


def test_jsonl_job_with_json_answers(local_server: Any, tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps({"id": i, "q": f"question {i}", "key": f"k{i}"}) + "\n" for i in range(4)), "utf-8"
    )
    job = _job(
        tmp_path / "j.yaml",
        input_file="in.jsonl",
        id_column="id",
        content_column="q",
        prompt="Answer in JSON:",
        model_params={"max_completion_tokens": 300, "response_format": {"type": "json_object"}},
        output_file="answers.jsonl",
        task_dir="work",
    )
    assert cli("dataset", str(job), *server_flags(local_server), "--force-direct") == ExitCode.DONE
    rows = read_jsonl(tmp_path / "answers.jsonl")
    assert sorted(r["id"] for r in rows) == [0, 1, 2, 3]
    assert all(r["key"] == f"k{r['id']}" for r in rows)  # the input's own 'key' column is kept
    assert all(isinstance(r["response_json"], dict) and r["error"] is None for r in rows)
    assert (tmp_path / "work").is_dir()


def test_parquet_input(local_server: Any, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {"id": [10, 11, 12], "q": ["a", "b", "c"], "day": pa.array([date(2026, 1, d) for d in (1, 2, 3)])}
    )
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=2)
    job = _job(
        tmp_path / "j.yaml",
        input_file="in.parquet",
        id_column="id",
        prompt="On {day}: {q}",
        model_params={"max_completion_tokens": 300},
        output_file="out.parquet",
    )
    assert cli("dataset", str(job), *server_flags(local_server), "--force-direct") == ExitCode.DONE
    rows = sorted(pq.read_table(tmp_path / "out.parquet").to_pylist(), key=lambda r: r["id"])
    assert [(r["id"], r["q"], r["day"]) for r in rows] == [
        (10, "a", "2026-01-01"),
        (11, "b", "2026-01-02"),
        (12, "c", "2026-01-03"),
    ]
    assert all(r["response"] and r["error"] is None for r in rows)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    bad = _job(tmp_path / "b.yaml", input_file="bad.parquet", id_column="id", prompt="p")
    assert cli("dataset", str(bad), *server_flags(local_server)) == ExitCode.BAD_INPUT


@pytest.mark.parametrize(
    ("spec", "rows", "problem"),
    [
        ({"id_column": "id", "prompt": "p"}, None, "input_file"),
        ({"input_file": "in.csv", "id_column": "id", "prompt": "p", "colour": 1}, None, "colour"),
        (
            {"input_file": "in.csv", "id_column": "id", "prompt": "p", "data_path": "a", "task_dir": "b"},
            None,
            "not both",
        ),
        (
            {"input_file": "in.csv", "id_column": "id", "prompt": "p", "model_params": {"temperature": 9}},
            None,
            "model_params",
        ),
        ({"input_file": "in.csv", "id_column": "ident", "prompt": "p"}, None, "no column 'ident'"),
        ({"input_file": "in.csv", "id_column": "id", "prompt": "{nope}"}, None, "no column 'nope'"),
        ({"input_file": "in.csv", "id_column": "id", "prompt": "as {json"}, None, "not a valid template"),
        (
            {
                "input_file": "in.csv",
                "id_column": "id",
                "prompt": "p",
                "model_params": {"response_format": {"type": "json_object"}},
            },
            None,
            "mentions JSON",
        ),
        (
            {"input_file": "in.csv", "id_column": "id", "prompt": "p"},
            [{"id": "1", "t": "a"}, {"id": "1", "t": "b"}],
            "repeats",
        ),
        ({"input_file": "in.csv", "id_column": "id", "prompt": "p"}, [{"id": "", "t": "a"}], "empty id"),
        ({"input_file": "in.pkl", "id_column": "id", "prompt": "p"}, None, "only .csv, .jsonl and .parquet"),
        (
            {"input_file": "in.csv", "id_column": "id", "prompt": "p", "output_file": "o.pkl"},
            None,
            "export format",
        ),
        ({"input_file": "missing.csv", "id_column": "id", "prompt": "p"}, None, "Cannot read"),
    ],
)
def test_bad_job_files_and_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: dict[str, Any], rows: Any, problem: str
) -> None:
    _csv(tmp_path / "in.csv", rows or [{"id": "1", "t": "a"}, {"id": "2", "t": "b"}])
    (tmp_path / "in.pkl").write_bytes(b"\x80\x04N.")
    job = _job(tmp_path / "job.yaml", **spec)
    assert (
        cli("dataset", str(job), "--base-url", "http://127.0.0.1:9", "--api-key", "k") == ExitCode.BAD_INPUT
    )
    assert problem in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "job.batchwright").exists()
