"""The complete example of docs/tasks.md runs as written (CLI and Python), so the docs cannot rot."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from batchwright.cli import run_app
from batchwright.tasks.loader import load_task_class
from batchwright.tasks.run import run_task

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"


def example(tmp_path: Path) -> Path:
    code = re.findall(r"```python\n(.*?)```", DOCS.read_text("utf-8"), re.S)[0]
    path = tmp_path / "capitals.py"
    path.write_text(code, encoding="utf-8")
    return path


def test_docs_example_from_the_cli(tmp_path: Path, local_server: Any) -> None:
    spec = f"{example(tmp_path)}:Capitals"
    code = run_app([
        "run", spec, "-d", str(tmp_path / "capitals-task"), "--base-url", local_server.base_url,
        "--api-key", local_server.api_key, "--poll-interval", "0.05", "--min-batch-requests", "1",
        "--progress", "quiet",
    ])  # fmt: skip
    assert code == 0
    rows = [
        json.loads(line) for line in (tmp_path / "capitals-task" / "output.jsonl").read_text().splitlines()
    ]
    assert sorted(r["key"] for r in rows) == ["france", "japan", "kenya", "norway", "peru"]
    with (tmp_path / "capitals-task" / "capitals.csv").open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 5


def test_docs_example_from_python(tmp_path: Path, local_server: Any) -> None:
    task = load_task_class(f"{example(tmp_path)}:Capitals")()
    report = run_task(
        task, tmp_path / "t", base_url=local_server.base_url, api_key=local_server.api_key,
        poll_interval=0.05, min_batch_requests=1,
    )  # fmt: skip
    assert report.complete and [p.name for p in report.exports] == ["output.jsonl", "capitals.csv"]


def test_readme_example_runs(tmp_path: Path, local_server: Any) -> None:
    readme = (DOCS.parents[1] / "README.md").read_text("utf-8")
    section = readme.split("## Write your own task", 1)[1]
    path = tmp_path / "capitals.py"
    path.write_text(re.findall(r"```python\n(.*?)```", section, re.S)[0], encoding="utf-8")
    report = run_task(
        load_task_class(f"{path}:Capitals")(), tmp_path / "capitals", base_url=local_server.base_url,
        api_key=local_server.api_key, poll_interval=0.05, min_batch_requests=1,
    )  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "capitals" / "output.jsonl").read_text().splitlines()]
    assert report.complete and sorted(r["key"] for r in rows) == ["France", "Japan", "Peru"]
