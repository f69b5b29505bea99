"""Local models (no catalogue price, served from loopback) cost nothing; remote ones need prices."""

from __future__ import annotations

import pytest

from batchwright.config import EngineSettings
from batchwright.engine import Engine
from batchwright.engine.predict import CostModel
from batchwright.errors import PriceUnknownError
from batchwright.pricing import is_local_base_url

from .engine_support import chat, settings


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://localhost:11434/v1", True),
        ("http://127.0.0.1:8000/v1", True),
        ("http://127.5.0.9/v1", True),
        ("http://[::1]:8000/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://192.168.1.20:8000/v1", False),
        (None, False),
    ],
)
def test_loopback_base_urls_are_local(url, local) -> None:
    assert is_local_base_url(url) is local


def test_unknown_model_on_a_remote_base_url_needs_prices() -> None:
    costs = CostModel(EngineSettings(base_url="https://llm.example.com/v1"))
    with pytest.raises(PriceUnknownError, match="cost-input-direct-mtoken"):
        costs.price("my-local-llama")


def test_local_model_runs_with_zero_cost(local_server, tmp_path) -> None:
    with Engine(tmp_path / "task", settings(local_server, prices=None)) as engine:
        engine.add_requests(chat(i, model="llama3.2") for i in range(5))
        summary = engine.run()
        assert summary.exit_code == 0
        rows = engine.store.conn.execute("SELECT outcome, cost, output_tokens FROM attempts").fetchall()
    assert [outcome for outcome, _, _ in rows] == ["succeeded"] * 5
    assert all(cost == 0 and output_tokens > 0 for _, cost, output_tokens in rows)


def test_openai_base_url_env_counts_as_the_base_url(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    assert CostModel(EngineSettings()).price("my-local-llama").source == "local-model"
