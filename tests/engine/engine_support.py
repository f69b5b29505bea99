"""Helpers for engine tests: settings pointing at the local server, request specs, ledger checks."""

from __future__ import annotations

from collections import Counter

from batchwright.config import EngineSettings
from batchwright.engine import Engine, RequestSpec
from batchwright.pricing import PriceOverrides

CHAT = "/v1/chat/completions"
MODEL = "gpt-4o-mini"
PRICES = PriceOverrides(cost_input_direct_mtoken=1.0, cost_output_direct_mtoken=4.0)


def settings(server=None, **values) -> EngineSettings:
    """Fast-polling settings (pointing at ``server`` when given) with fixed test prices."""
    base = {"poll_interval": 0.02, "poll_interval_max": 0.2, "prices": PRICES, "min_batch_requests": 1}
    if server is not None:
        base.update(base_url=server.base_url, api_key=server.api_key)
    base.update(values)
    return EngineSettings(**base)


def chat(
    i: int, *, model: str = MODEL, max_tokens: int = 400, text: str | None = None, **extra
) -> RequestSpec:
    """A small chat request for item ``k<i>``."""
    body = {"model": model, "messages": [{"role": "user", "content": text or f"Say something about {i}."}],
            "max_tokens": max_tokens, **extra}  # fmt: skip
    return RequestSpec(f"k{i}", CHAT, body)


def assert_exactly_once(engine: Engine, ledger: dict) -> None:
    """Every request final once; no custom_id processed twice by the server; true tokens match the ledger."""
    conn = engine.store.conn
    open_requests = conn.execute("SELECT COUNT(*) FROM requests WHERE state NOT IN ('succeeded', 'failed')")
    assert open_requests.fetchone()[0] == 0
    finals = conn.execute(
        "SELECT request_id, COUNT(*) FROM attempts WHERE outcome IN ('succeeded', 'failed') GROUP BY "
        "request_id"
    ).fetchall()
    assert all(n == 1 for _, n in finals)
    assert len(finals) == conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    served = Counter(r["custom_id"] for r in ledger["requests"] if r["kind"] == "batch")
    assert not [cid for cid, n in served.items() if n > 1], "a custom_id was processed twice"
    uids = [b["metadata"].get("bw_uid") for b in ledger["batches"]]
    assert len(uids) == len(set(uids)), "a local batch was created twice remotely"
    ours = conn.execute(
        "SELECT COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0) FROM attempts WHERE mode "
        "= 'batch'"
    ).fetchone()
    billed = ledger["tokens"]["batch"]
    assert ours == (billed["input_tokens"], billed["output_tokens"])
    true_cost, cached = conn.execute(
        "SELECT COALESCE(SUM(cost), 0), COALESCE(SUM(cached_tokens), 0) FROM attempts"
    ).fetchone()
    expected = engine.costs.cost(MODEL, "batch", billed["input_tokens"], cached, billed["output_tokens"])
    assert abs(true_cost - expected) < 1e-9, (true_cost, expected)  # cost is linear in the billed tokens


def remote_leftovers(ledger: dict) -> list[str]:
    """Input/output/error files of ours that were not deleted."""
    return [f["filename"] for f in ledger["files"] if not f["deleted"]]
