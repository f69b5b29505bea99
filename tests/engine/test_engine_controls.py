"""Engine controls against the local server: lock, restart, only_process, wipes, cleanup sweep, queries."""

from __future__ import annotations

import json
import time

import openai
import pytest
from tests.engine.engine_support import CHAT, MODEL, assert_exactly_once, chat, remote_leftovers, settings

from batchwright.engine import Engine, RequestSpec, StopReason
from batchwright.errors import StateError, TaskLockedError

STALL = {"batches": [{"kind": "stall", "after_requests": 0}]}


def test_second_engine_on_the_same_directory_is_locked_out(tmp_path):
    with Engine(tmp_path, settings()), pytest.raises(TaskLockedError, match="in use by pid"):
        Engine(tmp_path, settings())
    Engine(tmp_path, settings()).close()  # released on close


def test_task_name_mismatch_is_refused_and_meta_round_trips(tmp_path):
    with Engine(tmp_path, settings(), task_name="unicode") as engine:
        engine.set_task_meta({"model": MODEL, "temperature": 1})
    with Engine(tmp_path, settings(), task_name="unicode") as engine:
        assert engine.task_meta == {"model": MODEL, "temperature": 1}
    with pytest.raises(StateError, match="belongs to task 'unicode'"):
        Engine(tmp_path, settings(), task_name="emotions")
    Engine(tmp_path, settings()).close()  # the refused open released the lock


def test_restart_collects_batches_left_in_flight(local_server, tmp_path):
    local_server.set_faults(STALL)
    with Engine(tmp_path, settings(local_server, max_batch_requests=3)) as engine:
        engine.add_requests(chat(i) for i in range(6))
        summary = engine.run(wait=False)
        assert summary.reason is StopReason.WORK_LEFT and summary.in_flight == 6
        assert engine.counts()["remote"] == {"in_progress": 2}
    local_server.set_faults(None)
    client = openai.OpenAI(base_url=local_server.base_url, api_key=local_server.api_key)
    with Engine(tmp_path, settings(local_server)) as engine:
        assert engine.run(only_process=True, wait=False).reason is StopReason.WORK_LEFT  # still running
        for (remote_id,) in engine.store.conn.execute("SELECT remote_id FROM batches"):
            client.batches.cancel(remote_id)
        summary = engine.run(only_process=True)
        assert summary.reason is StopReason.WORK_LEFT and summary.pending == 6  # requeued, not resubmitted
        assert engine.run().reason is StopReason.DONE
        assert_exactly_once(engine, local_server.ledger())
        assert len(local_server.ledger()["batches"]) == 3  # the 6 requeued requests fit one new batch


def test_wipe_requests_cancels_and_deletes_remote_files_and_drops_unfinished(local_server, tmp_path):
    local_server.set_faults(STALL)
    with Engine(tmp_path, settings(local_server, max_batch_requests=2)) as engine:
        engine.add_requests(chat(i) for i in range(4))
        engine.run(wait=False)
        assert engine.wipe_requests() == 4
        assert engine.counts()["requests"] == {}
        assert engine.counts()["items"] == {"pending": 4}
        ledger = local_server.ledger()
        assert {b["status"] for b in ledger["batches"]} <= {"cancelling", "cancelled"}
        assert [f for f in ledger["files"] if f["purpose"] == "batch" and not f["deleted"]] == []


def test_wipe_failed_gives_fresh_retries(local_server, tmp_path):
    local_server.set_faults({"requests": [{"status": 400, "first": 2}]})
    with Engine(tmp_path, settings(local_server, min_pass_ratio=0)) as engine:
        engine.add_requests(chat(i) for i in range(3))
        engine.run()
        assert engine.counts()["requests"] == {"failed": 2, "succeeded": 1}
        assert engine.wipe_failed() == 2
        assert engine.counts()["items"] == {"committed": 2, "succeeded": 1}
        assert engine.run().reason is StopReason.DONE
        assert engine.counts()["requests"] == {"succeeded": 3}


def test_wipe_task_starts_afresh_and_keeps_the_task_name(local_server, tmp_path):
    with Engine(tmp_path, settings(local_server), task_name="t") as engine:
        engine.add_requests(chat(i) for i in range(2))
        old = engine.task_id
        engine.wipe_task()
        assert engine.task_id != old and engine.counts()["requests"] == {}
        assert engine.store.get_meta("task_name") == "t"


def test_cleanup_sweeps_unknown_remote_objects_of_this_task_only(local_server, tmp_path):
    client = openai.OpenAI(base_url=local_server.base_url, api_key=local_server.api_key)
    with Engine(tmp_path, settings(local_server)) as engine:
        engine.add_requests(chat(i) for i in range(2))
        assert engine.run().reason is StopReason.DONE
        task = engine.task_id
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        line = json.dumps(
            {"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", "body": body}
        ).encode()
        orphan = client.files.create(file=(f"bw-{task}-deadbeef.jsonl", line), purpose="batch")
        foreign = client.files.create(file=("someone-elses.jsonl", line), purpose="batch")
        local_server.set_faults(STALL)
        batch = client.batches.create(
            input_file_id=orphan.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"bw_task": task, "bw_uid": "deadbeef"},
        )
        assert engine.cleanup() == 2  # the batch (cancelled) and its file
        deadline = time.monotonic() + 20
        while client.batches.retrieve(batch.id).status != "cancelled" and time.monotonic() < deadline:
            time.sleep(0.05)
        files = {f["id"]: f["deleted"] for f in local_server.ledger()["files"]}
        assert files[orphan.id] is True and files[foreign.id] is False
        engine.cleanup()  # the cancelled batch's error file exists only now
        assert remote_leftovers(local_server.ledger()) == ["someone-elses.jsonl"]


def test_learned_completion_ratio_is_persisted(local_server, tmp_path):
    s = settings(local_server, learned_ratio_min_samples=3, completion_ratio=0.9)
    with Engine(tmp_path, s) as engine:
        engine.add_requests(chat(i) for i in range(4))
        engine.run()
    with Engine(tmp_path, s) as engine:
        stats = engine.costs.ratios.stats(MODEL)
        assert stats.samples == 4 and stats.max_output_tokens == 4 * 400
        learned = engine.costs.ratios.ratio(MODEL)
        assert learned == stats.output_tokens / stats.max_output_tokens < 0.9
        engine.add_requests([chat(10)])
        (pred,) = engine.store.conn.execute("SELECT pred_output_tokens FROM requests WHERE item_key = 'k10'")
        assert pred[0] == pytest.approx(learned * 400, abs=1)


@pytest.mark.parametrize(
    "spec",
    [
        RequestSpec("e", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "hello"}),
        RequestSpec("r", "/v1/responses", {"model": MODEL, "input": "hello", "max_output_tokens": 300}),
        RequestSpec(
            "c", "/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "max_tokens": 300}
        ),
    ],
    ids=["embeddings", "responses", "completions"],
)
def test_every_endpoint_runs_through_batches(local_server, tmp_path, spec):
    with Engine(tmp_path, settings(local_server)) as engine:
        engine.add_requests([spec])
        summary = engine.run()
        assert summary.reason is StopReason.DONE and summary.requests_succeeded == 1, summary.one_line()
        (usage,) = engine.usage()
        assert usage["input_tokens"] == usage["pred_input_tokens"] > 0


def test_item_queries(tmp_path):
    with Engine(tmp_path, settings()) as engine:
        assert engine.add_items([("a", {"x": 1}), ("b", None)]) == 2
        assert engine.add_items([("a", {"x": 2}), ("c", None)]) == 1
        assert engine.known_item_keys(["a", "c", "zzz"]) == {"a", "c"}
        assert [(k, s, m) for k, s, m, _ in engine.items()] == [
            ("a", "pending", {"x": 1}), ("b", "pending", None), ("c", "pending", None)
        ]  # fmt: skip
        engine.add_requests([chat(1)])
        assert [k for k, *_ in engine.items(["committed"])] == ["k1"]


def test_failed_batch_with_line_errors_fails_those_lines_and_requeues_the_rest(tmp_path):
    from batchwright.engine.collect import BatchCollector
    from batchwright.providers.base import RemoteBatch

    with Engine(tmp_path, settings(max_batch_requests=4)) as engine:
        engine.add_requests(chat(i) for i in range(4))
        planner = engine.planner
        batch_id = planner.cut(CHAT, MODEL, planner.room(MODEL, planner.in_flight()), alone=True)
        collector = BatchCollector(
            engine.store, None, engine.committer, planner, engine.models, tmp_path, False
        )
        errors = (("invalid_json_line", "bad line", 2), ("brand_new_code", "?", 4))
        remote = RemoteBatch("b1", "failed", CHAT, "f1", 0, errors=errors)
        result = collector._commit_failed(batch_id, remote, collector.open_attempts(batch_id))
        assert (result.stats.failed, result.stats.requeued) == (2, 2)
        rows = engine.store.conn.execute(
            "SELECT item_key, state, last_error FROM requests ORDER BY id"
        ).fetchall()
        assert rows == [
            ("k0", "pending", "batch_failed: not processed"),
            ("k1", "failed", "invalid_json_line: bad line"),
            ("k2", "pending", "batch_failed: not processed"),
            ("k3", "failed", "brand_new_code: ?"),
        ]
        no_details = RemoteBatch("b2", "failed", CHAT, "f2", 0)
        batch_id = planner.cut(CHAT, MODEL, planner.room(MODEL, planner.in_flight()), alone=True)
        result = collector._commit_failed(batch_id, no_details, collector.open_attempts(batch_id))
        assert result.stats.retried == 2  # no details: a counted retry, so it cannot loop forever


def test_iter_results_pages_final_outcomes_in_commit_order(local_server, tmp_path):
    local_server.set_faults({"requests": [{"status": 400, "first": 1}]})
    with Engine(tmp_path, settings(local_server, min_pass_ratio=0)) as engine:
        engine.add_requests(chat(i) for i in range(5))
        engine.run()
        results = list(engine.iter_results(page=2))
        assert len(results) == 5 and [r.attempt_id for r in results] == sorted(r.attempt_id for r in results)
        assert sum(r.succeeded for r in results) == 4
        (failed,) = [r for r in results if not r.succeeded]
        assert failed.status_code == 400 and failed.error_code == "invalid_request"
        assert all(json.loads(r.response)["custom_id"] == r.custom_id for r in results)
        assert list(engine.iter_results(after_id=results[-2].attempt_id)) == results[-1:]


def test_wipe_failed_leaves_failed_samples_of_succeeded_items_alone(local_server, tmp_path):
    local_server.set_faults({"requests": [{"status": 400, "first": 1}]})
    with Engine(tmp_path, settings(local_server, min_pass_ratio=0)) as engine:
        engine.add_requests([chat(1), chat(1, text="a second sample of item 1")])
        engine.run()
        assert engine.counts()["requests"] == {"failed": 1, "succeeded": 1}
        assert engine.counts()["items"] == {"succeeded": 1}
        assert engine.wipe_failed() == 0  # re-sending it would cost money for nothing
