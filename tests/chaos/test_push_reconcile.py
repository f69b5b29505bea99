"""Regression (found by the chaos soak): two uncertain pushes adopted by one reconciliation, created twice.

Two batches end up cut, created remotely and unrecorded (ambiguous 502s after the create) while listing
batches fails in between; the next pass reconciles on the first of them, adopting both — the second push
must not then create its batch again from its stale snapshot.
"""

from __future__ import annotations

from collections import Counter

from batchwright.config import EngineSettings
from batchwright.engine import Engine, RequestSpec, StopReason
from batchwright.pricing import PriceOverrides


def _spec(i: int) -> RequestSpec:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"fact {i}"}], "max_tokens": 50}
    return RequestSpec(f"k{i}", "/v1/chat/completions", body)


def test_batches_adopted_by_an_earlier_reconciliation_are_not_created_again(local_server, tmp_path):
    local_server.set_faults({"http": [
        {"endpoint": "POST /v1/batches", "kind": "error", "status": 502, "when": "after", "first": 2},
        {"endpoint": "GET /v1/batches", "kind": "error", "status": 500, "first": 3},  # the SDK tries 3 times
    ]})  # fmt: skip
    settings = EngineSettings(
        base_url=local_server.base_url, api_key=local_server.api_key, poll_interval=0.02,
        poll_interval_max=0.2, min_batch_requests=1, max_batch_requests=4,
        prices=PriceOverrides(cost_input_direct_mtoken=1.0, cost_output_direct_mtoken=4.0),
    )  # fmt: skip
    with Engine(tmp_path / "task", settings) as engine:
        engine.add_requests(_spec(i) for i in range(8))
        summary = engine.run()
        assert summary.reason is StopReason.DONE, summary.one_line()
        assert engine.counts()["requests"] == {"succeeded": 8}
    ledger = local_server.ledger()
    created = Counter(b["metadata"]["bw_uid"] for b in ledger["batches"])
    assert set(created.values()) == {1}, f"a local batch was created twice remotely: {created}"
    served = Counter(r["custom_id"] for r in ledger["requests"])
    assert set(served.values()) == {1}, "a request was processed (and paid) twice"
