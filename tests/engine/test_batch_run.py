"""The batch engine end to end against the local server: exactly once, true cost = ledger, hooks, faults."""

from __future__ import annotations

import openai
import pydantic
import pytest
from tests.engine.engine_support import CHAT, MODEL, assert_exactly_once, chat, remote_leftovers, settings

from batchwright.engine import Engine, RequestSpec, StopReason
from batchwright.server import INSTANT, ServerConfig, run_server


def test_end_to_end_exactly_once_cost_matches_ledger_and_nothing_left_behind(local_server, tmp_path):
    with Engine(tmp_path / "task", settings(local_server, max_batch_requests=7)) as engine:
        assert engine.add_requests(chat(i) for i in range(20)) == 20
        summary = engine.run()
        assert summary.reason is StopReason.DONE and summary.exit_code == 0, summary.one_line()
        assert summary.requests_succeeded == 20 and summary.batches_committed == 3
        ledger = local_server.ledger()
        assert_exactly_once(engine, ledger)
        assert remote_leftovers(ledger) == []
        assert engine.counts()["items"] == {"succeeded": 20}
        (usage,) = engine.usage()
        assert usage["pred_input_tokens"] == usage["input_tokens"]  # same estimator on both sides
        assert usage["cost"] == pytest.approx(summary.true_cost)
        assert list((tmp_path / "task" / "tmp").iterdir()) == []


class Fact(pydantic.BaseModel):
    topic: str
    score: int


def test_result_hook_structured_outputs_outputs_reject_and_more_requests(local_server, tmp_path):
    seen = []

    def hook(ctx):
        r = ctx.result
        seen.append((r.item_key, r.succeeded))
        if not r.succeeded:
            ctx.write_output({"key": r.item_key, "error": r.error_code})
            return
        assert isinstance(r.parsed, Fact) and r.meta == {"n": int(r.item_key[1:])}
        state = ctx.item_state or {"answers": 0}
        state["answers"] += 1
        ctx.set_item_state(state)
        if r.item_key == "k0" and state["answers"] == 1:
            ctx.reject("wrong answer for k0")  # a retryable task error
        elif r.item_key == "k1" and state["answers"] == 1:
            ctx.add_request(_fact_spec(1))  # ask for a second sample of the same item
            ctx.write_output({"key": "k1", "sample": 1})
        else:
            ctx.write_output({"key": r.item_key, "topic": r.parsed.topic})

    with Engine(tmp_path, settings(local_server), result_hook=hook, response_models=[Fact]) as engine:
        engine.add_requests(_fact_spec(i) for i in range(4))
        summary = engine.run()
        assert summary.reason is StopReason.DONE, summary.one_line()
        outputs = [row for _, _, row in engine.iter_outputs()]
        assert sorted(o["key"] for o in outputs) == ["k0", "k1", "k1", "k2", "k3"]
        assert [s for s in seen if s[0] == "k0"] == [("k0", True), ("k0", True)]
        assert engine.counts()["items"] == {"succeeded": 4}
        items = {key: state for key, _, state, _ in engine.items()}
        assert items["k0"] == {"answers": 2} and items["k1"] == {"answers": 2}
        k0 = engine.store.conn.execute(
            "SELECT outcome, error_code FROM attempts a JOIN requests r ON r.id = a.request_id "
            "WHERE r.item_key = 'k0' ORDER BY a.id"
        ).fetchall()
        assert k0 == [("retried", "task_rejected"), ("succeeded", None)]
        assert_exactly_once(engine, local_server.ledger())


def _fact_spec(i: int) -> RequestSpec:
    body = {"model": MODEL, "messages": [{"role": "user", "content": f"fact {i}"}], "max_tokens": 400}
    return RequestSpec(f"k{i}", CHAT, body, response_model=Fact, meta={"n": i})


def test_fatal_and_retryable_request_errors(local_server, tmp_path):
    local_server.set_faults({"requests": [{"status": 500, "first": 2}, {"status": 400, "first": 1}]})
    with Engine(tmp_path, settings(local_server, max_retries=1, min_pass_ratio=0)) as engine:
        engine.add_requests(chat(i) for i in range(5))
        summary = engine.run()
        assert summary.reason is StopReason.DONE
        assert engine.counts()["requests"] == {"failed": 1, "succeeded": 4}
        failed = engine.store.conn.execute(
            "SELECT a.status_code, r.last_error FROM requests r JOIN attempts a ON a.request_id = r.id "
            "WHERE r.state = 'failed' AND a.outcome = 'failed'"
        ).fetchall()
        assert failed == [(400, "invalid_request: Invalid request (injected fault).")]
        retried = engine.store.conn.execute("SELECT status_code FROM attempts WHERE outcome = 'retried'")
        assert [s for (s,) in retried] == [500, 500]
        assert engine.counts()["items"] == {"failed": 1, "succeeded": 4}
        assert_exactly_once(engine, local_server.ledger())


def test_retry_fatal_retries_4xx(local_server, tmp_path):
    local_server.set_faults({"requests": [{"status": 400, "first": 1}]})
    with Engine(tmp_path, settings(local_server, retry_fatal=True, min_pass_ratio=0)) as engine:
        engine.add_requests(chat(i) for i in range(3))
        assert engine.run().reason is StopReason.DONE
        assert engine.counts()["requests"] == {"succeeded": 3}


@pytest.mark.parametrize(
    "faults",
    [
        {
            "http": [
                {"endpoint": "POST /v1/files", "kind": "error", "status": 500, "when": "after", "first": 1}
            ]
        },
        {
            "http": [
                {"endpoint": "POST /v1/batches", "kind": "error", "status": 502, "when": "after", "first": 1}
            ]
        },
        {"http": [{"endpoint": "POST /v1/batches", "kind": "reset", "when": "after", "first": 1}]},
        {
            "http": [
                {"endpoint": "POST /v1/batches", "kind": "error", "status": 503, "when": "before", "first": 1}
            ]
        },
        {"http": [{"endpoint": "POST /v1/batches", "kind": "error", "status": 429, "first": 1}]},
        {
            "http": [
                {"endpoint": "POST /v1/batches", "kind": "timeout", "seconds": 2, "when": "after", "first": 1}
            ]
        },
        {
            "http": [
                {"endpoint": "POST /v1/files", "kind": "timeout", "seconds": 2, "when": "after", "first": 1}
            ]
        },
        {"http": [{"endpoint": "GET /v1/files/*/content", "kind": "error", "status": 500, "first": 4}]},
        {"http": [{"endpoint": "GET /v1/batches*", "kind": "error", "status": 503, "first": 5}]},
        {"http": [{"endpoint": "DELETE /v1/files/*", "kind": "error", "status": 500, "first": 4}]},
    ],
    ids=[
        "upload-500-after",
        "create-502-after",
        "create-reset-after",
        "create-503-before",
        "create-429",
        "create-timeout-after",
        "upload-timeout-after",
        "download-500s",
        "poll-and-list-503s",
        "delete-500s",
    ],
)
def test_ambiguous_failures_reconcile_instead_of_paying_twice(local_server, tmp_path, faults):
    local_server.set_faults(faults)
    with Engine(tmp_path, settings(local_server, max_batch_requests=4, timeout=1.0)) as engine:
        engine.add_requests(chat(i) for i in range(8))
        summary = engine.run()
        assert summary.reason is StopReason.DONE, summary.one_line()
        ledger = local_server.ledger()
        assert len(ledger["batches"]) == 2  # exactly one remote batch per local batch
        assert_exactly_once(engine, ledger)
        assert remote_leftovers(ledger) == []


def test_expiry_keeps_finished_results_and_requeues_the_rest_without_a_retry(local_server, tmp_path):
    local_server.set_faults({"batches": [{"kind": "expire", "after_requests": 3, "first": 1}]})
    with Engine(tmp_path, settings(local_server, max_retries=0)) as engine:
        engine.add_requests(chat(i) for i in range(8))
        summary = engine.run()
        assert summary.reason is StopReason.DONE, summary.one_line()
        assert summary.requests_requeued == 5 and engine.counts()["requests"] == {"succeeded": 8}
        outcomes = engine.store.conn.execute(
            "SELECT outcome, COUNT(*) FROM attempts GROUP BY outcome"
        ).fetchall()
        assert dict(outcomes) == {"succeeded": 8, "requeued": 5}
        assert_exactly_once(engine, local_server.ledger())


def test_cancel_keeps_partial_output(local_server, tmp_path):
    local_server.set_faults({"batches": [{"kind": "stall", "after_requests": 2, "first": 1}]})
    with Engine(tmp_path, settings(local_server, max_retries=0)) as engine:
        engine.add_requests(chat(i) for i in range(6))
        summary = engine.run(wait=False)
        assert summary.reason is StopReason.WORK_LEFT and summary.exit_code == 3
        (remote_id,) = [r[0] for r in engine.store.conn.execute("SELECT remote_id FROM batches")]
        client = openai.OpenAI(base_url=local_server.base_url, api_key=local_server.api_key)
        client.batches.cancel(remote_id)  # e.g. cancelled by hand in the dashboard
        summary = engine.run()
        assert summary.reason is StopReason.DONE, summary.one_line()
        assert dict(engine.store.conn.execute("SELECT outcome, COUNT(*) FROM attempts GROUP BY outcome")) == {
            "succeeded": 6, "requeued": 4,
        }  # fmt: skip
        assert_exactly_once(engine, local_server.ledger())


@pytest.mark.parametrize("kind", ["malformed", "duplicated", "missing"])
def test_damaged_output_lines(local_server, tmp_path, kind):
    local_server.set_faults({"output": [{"kind": kind, "first": 2}], "shuffle_output": True})
    with Engine(tmp_path, settings(local_server)) as engine:
        engine.add_requests(chat(i) for i in range(6))
        summary = engine.run()
        assert summary.reason is StopReason.DONE, summary.one_line()
        assert engine.counts()["requests"] == {"succeeded": 6}
        events = [
            m for (m,) in engine.store.conn.execute("SELECT message FROM events WHERE kind = 'anomaly'")
        ]
        assert events and ("missing" in events[0] or "duplicate" in events[0]), events
        if kind != "duplicated":
            assert summary.requests_retried == 2


def test_token_limit_exceeded_requeues_and_shrinks_the_budget(tmp_path):
    config = ServerConfig(data_dir=tmp_path / "server", speed=INSTANT, model_token_limits={MODEL: 50})
    with (
        run_server(config) as server,
        Engine(tmp_path / "t", settings(server, max_batch_requests=5)) as engine,
    ):
        engine.add_requests(chat(i) for i in range(12))  # ~15 input tokens each: 5 per batch is too many
        summary = engine.run()
        assert summary.reason is StopReason.DONE, summary.one_line()
        assert engine.counts()["requests"] == {"succeeded": 12}
        assert engine.store.conn.execute("SELECT MAX(retries) FROM requests").fetchone()[0] == 0
        assert int(engine.store.get_meta(f"enqueued_limit:{MODEL}")) <= 50
        ledger = server.ledger()
        refused = [b for b in ledger["batches"] if b["status"] == "failed"]
        assert refused and all(b["errors"]["data"][0]["code"] == "token_limit_exceeded" for b in refused)
        assert_exactly_once(engine, ledger)


@pytest.mark.parametrize(
    "code",
    ["invalid_json_line", "missing_required_parameter", "invalid_url", "invalid_value", "invalid_type",
     "empty_file", "file_too_large", "duplicate_custom_id", "too_many_requests", "mismatched_model"],
)  # fmt: skip
def test_validation_failure_is_a_safety_stop_until_processing_is_allowed(local_server, tmp_path, code):
    local_server.set_faults({"batches": [{"kind": "fail_validation", "code": code, "first": 1}]})
    with Engine(tmp_path, settings(local_server)) as engine:
        engine.add_requests(chat(i) for i in range(3))
        summary = engine.run()
        assert summary.reason is StopReason.SAFETY_STOP and summary.exit_code == 4
        assert code in summary.message and "process-failed-batches" in summary.message
        assert engine.counts()["requests"] == {"active": 3}
    with Engine(tmp_path, settings(local_server, process_failed_batches="all")) as engine:
        summary = engine.run()
        assert summary.reason is StopReason.DONE, summary.one_line()
        assert engine.counts()["requests"] == {"succeeded": 3}
        errors = engine.store.conn.execute(
            "SELECT DISTINCT error_code FROM attempts WHERE outcome = 'retried'"
        )
        assert [e for (e,) in errors] == [code]
        assert_exactly_once(engine, local_server.ledger())


def test_pass_ratio_safety_stop(local_server, tmp_path):
    local_server.set_faults({"requests": [{"status": 500, "probability": 1.0}]})
    with Engine(tmp_path, settings(local_server, max_batch_requests=2, max_remote_batches=1)) as engine:
        engine.add_requests(chat(i) for i in range(8))
        summary = engine.run()
        assert summary.reason is StopReason.SAFETY_STOP and "min_pass_ratio" in summary.message
        assert summary.batches_committed == 2
