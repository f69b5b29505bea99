"""Packing: groups by (endpoint, model), per-batch limits, oversize rejection, custom ids, dry runs."""

from __future__ import annotations

import pytest
from tests.engine.engine_support import CHAT, chat, settings

from batchwright.engine import Engine, RequestSpec
from batchwright.errors import ConfigError, InputError, PriceUnknownError


def sizes(plan):
    return [(p.url, p.model, p.requests) for p in plan]


def test_groups_by_endpoint_and_model_and_respects_request_limit(tmp_path):
    with Engine(tmp_path, settings(max_batch_requests=3)) as engine:
        engine.add_requests([chat(i) for i in range(7)])
        engine.add_requests([chat(100 + i, model="gpt-4o") for i in range(2)])
        engine.add_requests(
            [RequestSpec("e", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"})]
        )
        summary = engine.run(dryrun=True)
        assert summary.reason.value == "dryrun" and summary.exit_code == 0
        assert sizes(summary.plan) == [
            (CHAT, "gpt-4o", 2), (CHAT, "gpt-4o-mini", 3), (CHAT, "gpt-4o-mini", 3), (CHAT, "gpt-4o-mini", 1),
            ("/v1/embeddings", "text-embedding-3-small", 1),
        ]  # fmt: skip
        assert engine.planner.pending_groups(cap=2) == [
            (CHAT, "gpt-4o", 2), (CHAT, "gpt-4o-mini", 2), ("/v1/embeddings", "text-embedding-3-small", 1)
        ]  # fmt: skip
        assert all(p.pred_cost > 0 and p.pred_input_tokens > 0 for p in summary.plan)
        # a dry run writes nothing
        assert engine.counts()["batches"] == {}
        assert engine.counts()["requests"] == {"pending": 10}


def test_byte_token_and_cost_limits_cut_batches(tmp_path):
    with Engine(tmp_path, settings()) as engine:
        engine.add_requests([chat(i) for i in range(10)])
        one = engine.planner.plan_all()[0]
        per_request_bytes = one.nbytes // 10
        tokens = (one.pred_input_tokens + one.pred_output_tokens) // 10
    for limit in (
        {"max_batch_bytes": per_request_bytes * 4 + 10},
        {"max_batch_tokens": tokens * 4 + 1},
        {"max_batch_cost": one.pred_cost / 10 * 4.5},
    ):
        with Engine(tmp_path, settings(**limit)) as engine:
            assert [p.requests for p in engine.planner.plan_all()] == [4, 4, 2], limit


def test_a_request_that_fits_no_batch_is_rejected_before_anything_is_written(tmp_path):
    with Engine(tmp_path, settings(max_batch_tokens=50)) as engine:
        with pytest.raises(InputError, match=r"cannot fit any batch.*max_batch_tokens"):
            engine.add_requests([chat(1), chat(2, text="word " * 200)])
        assert engine.counts()["requests"] == {}


def test_unknown_model_price_is_refused_at_add_time(tmp_path):
    with Engine(tmp_path, settings(prices=None)) as engine, pytest.raises(PriceUnknownError):
        engine.add_requests([chat(1, model="my-local-llama")])


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (RequestSpec("a", "/v1/images", {"model": "m"}), "unsupported endpoint"),
        (RequestSpec("a", CHAT, {"messages": []}), "naming its 'model'"),
        (RequestSpec("a", CHAT, {"model": "gpt-4o-mini", "messages": [], "x": {1, 2}}), "not JSON"),
    ],
)
def test_bad_specs_are_input_errors(tmp_path, spec, match):
    with Engine(tmp_path, settings()) as engine, pytest.raises(InputError, match=match):
        engine.add_requests([spec])


def test_cut_assigns_engine_owned_custom_ids_and_in_flight_limits(tmp_path):
    with Engine(tmp_path, settings(max_batch_requests=4, max_remote_batches=2)) as engine:
        engine.add_requests([chat(i) for i in range(10)])
        planner = engine.planner
        cut = []
        while (room := planner.room("gpt-4o-mini", planner.in_flight())) is not None:
            cut.append(planner.cut(CHAT, "gpt-4o-mini", room, alone=False))
        assert len(cut) == 2  # max_remote_batches
        ids = [r[0] for r in engine.store.conn.execute("SELECT custom_id FROM attempts ORDER BY id")]
        rids = [r[0] for r in engine.store.conn.execute("SELECT id FROM requests ORDER BY id LIMIT 8")]
        assert ids == [f"{rid}-1" for rid in rids]
        assert engine.counts()["requests"] == {"active": 8, "pending": 2}
        assert planner.in_flight().requests == 8


def test_enqueued_token_limit_alone_too_small_is_a_clear_error(tmp_path):
    with Engine(tmp_path, settings(enqueued_token_limit=3)) as engine:
        engine.add_requests([chat(1)])
        planner = engine.planner
        assert planner.room("gpt-4o-mini", planner.in_flight()) is not None
        with pytest.raises(ConfigError, match="cannot fit any batch"):
            planner.cut(CHAT, "gpt-4o-mini", planner.room("gpt-4o-mini", planner.in_flight()), alone=True)
