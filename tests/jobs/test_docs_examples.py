"""The examples of docs/jobs.md run as written, against the local server."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from batchwright.errors import ExitCode

from .support import cli, server_flags

DOC = Path(__file__).resolve().parents[2] / "docs" / "jobs.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text("utf-8"), re.S)


def test_complete_many_example(local_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", local_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", local_server.api_key)
    monkeypatch.setenv("BATCHWRIGHT_CACHE_DIR", str(tmp_path / "cache"))
    (example,) = [block for block in _blocks("python") if "complete_many" in block]
    # the fake model talks longer than a real one: room for its answers (a cut answer is an error)
    example = example.replace("max_completion_tokens=32", "max_completion_tokens=300")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, str(DOC), "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("calc_0 => ") and lines[7].startswith("7 => ") and len(lines) >= 15
    tokens = local_server.ledger()["tokens"]
    assert tokens["batch"]["requests"] + tokens["direct"]["requests"] == 14


def test_dataset_example(local_server: Any, tmp_path: Path) -> None:
    (job,) = [block for block in _blocks("yaml") if "input_file" in block]
    (tmp_path / "job.yaml").write_text(
        job.replace("max_completion_tokens: 50", "max_completion_tokens: 400"), "utf-8"
    )
    with (tmp_path / "reviews.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "text", "photo"])
        writer.writerows([[f"{i}", f"T{i}", f"text {i}", ""] for i in range(3)])
    assert cli("dataset", str(tmp_path / "job.yaml"), *server_flags(local_server)) == ExitCode.DONE
    with (tmp_path / "reviews.labelled.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in sorted(rows, key=lambda r: r["id"])] == ["0", "1", "2"]
    assert all(r["response_json"] and not r["error"] for r in rows)
    assert (tmp_path / "reviews-job").is_dir()
