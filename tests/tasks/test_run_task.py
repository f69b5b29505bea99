"""The task API end to end on the local server: results and outputs in one transaction, retries of
rejected answers, failed items, resume, metadata, wipes, dry runs and exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batchwright.errors import ConfigError, ExitCode, InputError
from batchwright.monitor.snapshot import read_snapshot
from batchwright.tasks import ExportSpec
from batchwright.tasks.demos import EmotionsTask
from batchwright.tasks.results import TaskCodeError
from batchwright.tasks.run import run_task

from .sample_tasks import OtherWords, Words


@pytest.fixture
def target(local_server: Any) -> dict[str, Any]:
    return {
        "base_url": local_server.base_url,
        "api_key": local_server.api_key,
        "poll_interval": 0.05,
        "poll_interval_max": 0.2,
        "min_batch_requests": 1,
    }


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_end_to_end_with_rejected_answers_retried(tmp_path: Path, target: dict, local_server: Any) -> None:
    task = Words(12)
    report = run_task(task, tmp_path / "t", **target)
    assert report.exit_code == ExitCode.DONE and report.complete
    assert report.requests_added == 12 and report.rejected == 4  # items 0, 3, 6, 9
    out = rows(tmp_path / "t" / "output.jsonl")
    assert sorted(r["key"] for r in out) == [f"w{i:03d}" for i in range(12)]
    assert all(isinstance(r["word"], str) and r["text_is_json"] for r in out)
    ledger = local_server.ledger()
    assert len(ledger["batches"]) == 2 and len(ledger["requests"]) == 16  # 12, then 4 retries
    snap = read_snapshot(tmp_path / "t")
    assert snap.items == {"succeeded": 12} and snap.outputs == 12 and snap.retries == 4
    assert task.completed == [12]
    # Running again changes nothing and sends nothing.
    again = run_task(Words(12), tmp_path / "t", **target)
    assert again.requests_added == 0 and again.exit_code == ExitCode.DONE
    assert len(local_server.ledger()["requests"]) == 16
    assert rows(tmp_path / "t" / "output.jsonl") == out


def test_failed_items_get_failed_rows_and_wipe_failed_retries_them(tmp_path: Path, target: dict) -> None:
    report = run_task(Words(4, reject=("w001",)), tmp_path / "t", max_retries=1, **target)
    assert report.exit_code == ExitCode.DONE and report.complete
    snap = read_snapshot(tmp_path / "t")
    assert snap.items == {"succeeded": 3, "failed": 1}
    failed = [r for r in rows(tmp_path / "t" / "output.jsonl") if "error" in r]
    assert failed == [{"key": "w001", "i": 1, "error": "task_rejected: always wrong"}]
    again = run_task(Words(4), tmp_path / "t", wipe_failed=True, **target)
    assert again.wiped == {"failed": 1}
    assert read_snapshot(tmp_path / "t").items == {"succeeded": 4}
    assert sorted(r["key"] for r in rows(tmp_path / "t" / "output.jsonl")) == ["w000", "w001", "w002", "w003"]
    assert all("error" not in r for r in rows(tmp_path / "t" / "output.jsonl"))


def test_new_items_are_added_on_a_later_run(tmp_path: Path, target: dict) -> None:
    run_task(Words(3), tmp_path / "t", **target)
    report = run_task(Words(5), tmp_path / "t", **target)
    assert report.requests_added == 2
    assert len(rows(tmp_path / "t" / "output.jsonl")) == 5


def test_metadata_is_fixed_unless_reinit(tmp_path: Path, target: dict) -> None:
    run_task(Words(2), tmp_path / "t", meta={"temperature": 0.7}, **target)
    before = read_snapshot(tmp_path / "t")
    assert before.meta["temperature"] == 0.7
    with pytest.raises(ConfigError, match=r"(?s)temperature=1\.0 \(stored: 0\.7\).*--reinit-meta"):
        run_task(Words(3), tmp_path / "t", meta={"temperature": 1.0}, **target)
    after = read_snapshot(tmp_path / "t")
    assert after.items == before.items and after.requests == before.requests
    run_task(Words(2), tmp_path / "t", meta={"temperature": 1.0}, reinit_meta=True, run=False, **target)
    assert read_snapshot(tmp_path / "t").meta["temperature"] == 1.0


def test_directory_of_another_task_is_refused_untouched(tmp_path: Path, target: dict) -> None:
    run_task(Words(2), tmp_path / "t", **target)
    db = tmp_path / "t" / "batchwright.sqlite3"
    before = db.read_bytes()
    with pytest.raises(InputError, match="belongs to task 'words', not 'other-words'") as caught:
        run_task(OtherWords(2), tmp_path / "t", wipe_task=True, **target)
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert db.read_bytes() == before


def test_dry_run_sends_and_writes_nothing(tmp_path: Path, target: dict, local_server: Any) -> None:
    report = run_task(Words(6), tmp_path / "t", dry_run=True, **target)
    assert report.exit_code == ExitCode.DONE
    assert report.new_items is not None and report.new_items.requests == 6
    assert report.new_items.input_tokens > 0 and report.new_items.cost > 0
    assert report.new_items.cost_direct == pytest.approx(2 * report.new_items.cost)  # batch is half price
    assert local_server.ledger()["files"] == [] and not (tmp_path / "t" / "output.jsonl").exists()
    assert not (tmp_path / "t").exists()  # not even the task directory is created


def test_prepared_requests_are_planned_by_a_dry_run(tmp_path: Path, target: dict, local_server: Any) -> None:
    held = run_task(Words(6), tmp_path / "t", **{**target, "max_remote_batches": 0})
    assert held.exit_code == ExitCode.WORK_LEFT and not held.complete
    plan = run_task(Words(6), tmp_path / "t", dry_run=True, **target)
    assert sum(b.requests for b in plan.summary.plan) == 6 and plan.new_items.requests == 0
    batch_cost = sum(b.pred_cost for b in plan.summary.plan)
    assert sum(plan.plan_direct_costs) == pytest.approx(2 * batch_cost)
    assert local_server.ledger()["batches"] == []


def test_wipe_requests_then_regenerate(tmp_path: Path, target: dict) -> None:
    run_task(Words(5), tmp_path / "t", **{**target, "max_remote_batches": 0})
    wiped = run_task(Words(5), tmp_path / "t", wipe_requests=True, run=False, **target)
    assert wiped.wiped == {"requests": 5}
    assert read_snapshot(tmp_path / "t").requests == {}
    report = run_task(Words(5), tmp_path / "t", **target)
    assert report.requests_added == 5 and report.complete


def test_wipe_task_starts_from_scratch(tmp_path: Path, target: dict) -> None:
    run_task(Words(3), tmp_path / "t", **target)
    report = run_task(Words(2), tmp_path / "t", wipe_task=True, **target)
    assert report.requests_added == 2 and report.wiped == {"task": 1}
    assert len(rows(tmp_path / "t" / "output.jsonl")) == 2
    assert read_snapshot(tmp_path / "t").task_name == "words"


def test_every_export_format(tmp_path: Path, target: dict) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    exports = ["out.json", "out.csv", "out.parquet", ExportSpec(Path("parts.jsonl"), max_entries=2)]
    report = run_task(Words(5), tmp_path / "t", exports=exports, **target)
    names = sorted(p.name for p in report.exports)
    assert names == sorted(
        ["out.json", "out.csv", "out.parquet", *(f"parts.part00{i}of003.jsonl" for i in (1, 2, 3))]
    )
    document = json.loads((tmp_path / "t" / "out.json").read_text("utf-8"))
    assert sorted(r["key"] for r in document) == [f"w{i:03d}" for i in range(5)]
    assert pq.read_table(tmp_path / "t" / "out.parquet").num_rows == 5
    assert (tmp_path / "t" / "out.csv").read_text("utf-8").splitlines()[0] == "key,i,word,text_is_json"
    assert not (tmp_path / "t" / "output.jsonl").exists()  # explicit exports replace the default


def test_a_bug_in_the_task_commits_nothing_for_that_result(tmp_path: Path, target: dict) -> None:
    with pytest.raises(TaskCodeError, match=r"Words.process\(\) raised ValueError: bug in the task"):
        run_task(Words(3, crash_on="w001"), tmp_path / "t", **target)
    assert read_snapshot(tmp_path / "t").outputs == 0
    report = run_task(Words(3), tmp_path / "t", **target)
    assert report.complete and len(rows(tmp_path / "t" / "output.jsonl")) == 3


def test_multi_opinion_task_end_to_end(tmp_path: Path, target: dict, local_server: Any) -> None:
    report = run_task(EmotionsTask(), tmp_path / "e", **target)
    assert report.complete and report.requests_added == 45 * 3
    out = rows(tmp_path / "e" / "output.jsonl")
    assert len(out) == 45 and len({r["key"] for r in out}) == 45
    answered = len(local_server.ledger()["requests"])
    assert sum(r["opinions"] for r in out) == answered
    for row in out:
        assert 3 <= row["opinions"] <= 5
        assert sum(row["emotions"].values()) == pytest.approx(1.0, abs=1e-3)
        assert (row["emotion"] is not None) == row["confident"]
        if row["confident"]:
            assert row["confidence"] >= 0.78 and row["emotion"] == row["majority"]
    assert answered > 45 * 3  # split verdicts asked for more opinions


def test_multi_opinion_resumes_after_wipe_requests(tmp_path: Path, target: dict) -> None:
    run_task(EmotionsTask(), tmp_path / "e", **{**target, "max_remote_batches": 0})
    run_task(EmotionsTask(), tmp_path / "e", wipe_requests=True, run=False, **target)
    report = run_task(EmotionsTask(), tmp_path / "e", **target)
    assert report.complete and len(rows(tmp_path / "e" / "output.jsonl")) == 45


def test_multi_opinion_with_failing_requests_and_wipe_failed(
    tmp_path: Path, target: dict, local_server: Any
) -> None:
    local_server.set_faults({"seed": 7, "requests": [{"status": 400, "probability": 0.8}]})
    report = run_task(EmotionsTask(), tmp_path / "e", max_retries=0, min_pass_ratio=0.0, **target)
    assert report.complete
    out = {r["key"]: r for r in rows(tmp_path / "e" / "output.jsonl")}
    assert len(out) == 45  # one row per utterance, concluded or failed
    failed = [r for r in out.values() if "error" in r]
    concluded = [r for r in out.values() if "error" not in r]
    assert failed and concluded and all(1 <= r["opinions"] <= 5 for r in concluded)
    snap = read_snapshot(tmp_path / "e")
    assert snap.items.get("failed", 0) == len(failed) and snap.requests.get("failed", 0) > 0
    local_server.set_faults(None)
    again = run_task(EmotionsTask(), tmp_path / "e", wipe_failed=True, max_retries=0, **target)
    assert again.complete and again.wiped["failed"] > 0
    assert read_snapshot(tmp_path / "e").items == {"succeeded": 45}
    out = rows(tmp_path / "e" / "output.jsonl")
    assert len(out) == 45 and all("error" not in row for row in out)  # failed rows went with the wipe
