"""batchwright.complete_many: the one-call API on the local server (batch and direct), resume, bad input."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from rich.console import Console

import batchwright
from batchwright.errors import ConfigError


class Sum(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: int


def _server(server: Any) -> dict[str, Any]:
    return {
        "base_url": server.base_url,
        "api_key": server.api_key,
        "poll_interval": 0.05,
        "poll_interval_max": 0.2,
    }


def _sent(server: Any) -> int:
    tokens = server.ledger()["tokens"]
    return tokens["batch"]["requests"] + tokens["direct"]["requests"]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BATCHWRIGHT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_seed_example_in_input_order_with_progress_and_usage(local_server: Any, cache_dir: Path) -> None:
    messages: list[Any] = [
        {"id": f"calc_{i}", "content": [{"role": "user", "content": f"1 + {i} = "}]} for i in range(4)
    ]
    messages += [{"role": "user", "content": f"2 + {i} = "} for i in range(3)]
    messages += [
        "a plain prompt",
        [{"role": "system", "content": "Be short."}, {"role": "user", "content": "hi"}],
    ]
    out = io.StringIO()
    results = batchwright.complete_many(
        messages,
        model="gpt-4o-mini",
        max_completion_tokens=200,
        temperature=0,
        seed=42,
        batch_size=2,  # the seed library's name for max_batch_requests
        min_batch_requests=1,
        progress="plain",
        console=Console(file=out, width=200),
        **_server(local_server),
    )
    assert [r.id for r in results] == [f"calc_{i}" for i in range(4)] + ["4", "5", "6", "7", "8"]
    assert [r.index for r in results] == list(range(9))
    assert all(r.ok and r.text and r.response["object"] == "chat.completion" for r in results)
    log = out.getvalue()
    assert "items 9/9 done" in log and "Usage and cost" in log and "gpt-4o-mini" in log
    assert results.summary is not None and results.summary.exit_code == 0
    assert results.usage[0].requests == 9 and results.cost > 0
    table = io.StringIO()
    results.print_usage_table(Console(file=table, width=200))
    assert "Usage and cost" in table.getvalue() and f"${results.cost:,.4f}" in table.getvalue()
    ledger = local_server.ledger()
    assert len(ledger["batches"]) == 5 and ledger["tokens"]["batch"]["requests"] == 9
    assert not any((cache_dir / "complete-many").iterdir())  # the finished work is not kept


def test_direct_structured_and_resume_in_task_dir(local_server: Any, tmp_path: Path) -> None:
    prompts = [f"What is {i} + {i}?" for i in range(6)]
    common = dict(
        response_model=Sum,
        force_direct=True,
        progress="quiet",
        task_dir=tmp_path / "t",
        **_server(local_server),
    )
    first = batchwright.complete_many(prompts, session_max_requests=2, **common)
    done = [r for r in first if r.ok]
    assert len(done) == 2 and all(r.error.startswith("unfinished") for r in first if not r.ok)
    second = batchwright.complete_many(prompts, **common)
    assert all(r.ok and isinstance(r.parsed, Sum) for r in second)
    assert [r.parsed for r in second[:2]] == [r.parsed for r in first[:2]]
    assert _sent(local_server) == 6 and local_server.ledger()["batches"] == []  # nothing paid twice
    assert (tmp_path / "t").exists()  # a named task directory is kept


def test_called_from_async_code(local_server: Any) -> None:
    async def notebook_cell() -> list[batchwright.Completion]:
        return batchwright.complete_many(
            ["hi", "there"], force_direct=True, progress="quiet", **_server(local_server)
        )

    assert [r.ok for r in asyncio.run(notebook_cell())] == [True, True]


def test_cache_dir_resumes_an_interrupted_call(local_server: Any, cache_dir: Path) -> None:
    prompts = [f"p{i}" for i in range(5)]
    kw = dict(max_completion_tokens=200, force_direct=True, progress="quiet", **_server(local_server))
    first = batchwright.complete_many(prompts, session_max_requests=3, **kw)
    assert sum(r.ok for r in first) == 3 and len(list((cache_dir / "complete-many").iterdir())) == 1
    second = batchwright.complete_many(prompts, **kw)
    assert all(r.ok for r in second) and _sent(local_server) == 5
    assert [r.text for r in second[:3]] == [r.text for r in first[:3]]
    assert not any((cache_dir / "complete-many").iterdir())


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        (
            [
                {"id": "a", "content": [{"role": "user", "content": "x"}]},
                {"id": "a", "messages": [{"role": "user"}]},
            ],
            "repeats",
        ),
        ([{"id": "1", "content": [{"role": "user", "content": "x"}]}, "second"], "repeats"),
        ([{"id": "a", "prompt": "x"}], "not {'id'"),
        ([{"id": None, "content": []}], "not {'id'"),
        ([42], "no list of messages"),
        ([[{"content": "no role"}]], "no list of messages"),
    ],
)
def test_bad_inputs(tmp_path: Path, cache_dir: Path, inputs: list[Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        batchwright.complete_many(inputs, base_url="http://127.0.0.1:9", api_key="k", task_dir=tmp_path / "t")
    assert not (tmp_path / "t").exists() and not cache_dir.exists()


def test_a_misspelt_setting_or_bad_option_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'max_batch_requests'"):
        batchwright.complete_many(["hi"], task_dir=tmp_path / "t", max_batch_request=5)
    with pytest.raises(ConfigError, match="progress must be"):
        batchwright.complete_many(["hi"], task_dir=tmp_path / "t", progress="fancy")
    assert not (tmp_path / "t").exists()
