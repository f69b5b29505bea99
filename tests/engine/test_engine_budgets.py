"""Budgets in the batch path: session and task budgets on requests, tokens and cost stop submission."""

from __future__ import annotations

from tests.engine.engine_support import chat, settings

from batchwright.engine import Engine, StopReason


def test_session_request_budget_cuts_a_smaller_batch_then_stops(local_server, tmp_path):
    s = settings(local_server, max_batch_requests=3, session_max_requests=5)
    with Engine(tmp_path, s) as engine:
        engine.add_requests(chat(i) for i in range(10))
        summary = engine.run()
        assert summary.reason is StopReason.BUDGET and summary.exit_code == 3
        assert "--session-max-requests" in summary.message
        sizes = [n for (n,) in engine.store.conn.execute("SELECT n_requests FROM batches ORDER BY id")]
        assert sizes == [3, 2]
        assert engine.counts()["requests"] == {"pending": 5, "succeeded": 5}
        summary = engine.run()  # a new session has a fresh session budget
        assert summary.reason is StopReason.DONE, summary.one_line()


def test_task_budget_holds_across_sessions(local_server, tmp_path):
    s = settings(local_server, max_batch_requests=2, task_max_requests=4)
    with Engine(tmp_path, s) as engine:
        engine.add_requests(chat(i) for i in range(6))
        assert engine.run().reason is StopReason.BUDGET
    with Engine(tmp_path, s) as engine:
        summary = engine.run()
        assert summary.reason is StopReason.BUDGET and "--task-max-requests" in summary.message
        assert engine.counts()["requests"] == {"pending": 2, "succeeded": 4}


def test_cost_budget_smaller_than_one_request_sends_nothing(local_server, tmp_path):
    with Engine(tmp_path, settings(local_server, session_max_cost=1e-9)) as engine:
        engine.add_requests(chat(i) for i in range(3))
        summary = engine.run()
        assert summary.reason is StopReason.BUDGET and "cost budget" in summary.message
        assert local_server.ledger()["batches"] == []
