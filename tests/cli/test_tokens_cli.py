"""``batchwright tokens FILE.jsonl [--json]`` on real files through the CLI entry point."""

from __future__ import annotations

import json

import pytest

from batchwright.cli import run_app
from batchwright.pricing import request_cost, resolve_price
from batchwright.tokens import count_input_tokens, predict_output_tokens


def line(custom_id: str, url: str, body: dict) -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body})


LINES = [
    line(
        "chat-1",
        "/v1/chat/completions",
        {
            "model": "gpt-4o-mini-2024-07-18",
            "messages": [{"role": "user", "content": "Hello world"}],
            "max_tokens": 100,
        },
    ),
    line(
        "emb-1",
        "/v1/embeddings",
        {"model": "text-embedding-3-small", "input": ["Hello world", "How are you?"]},
    ),
    line("resp-1", "/v1/responses", {"model": "gpt-5", "input": "Hello world", "max_output_tokens": 40}),
    line(
        "chat-2",
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Sunny, 21 C"}]},
    ),
]


@pytest.fixture
def batch_file(tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join(LINES) + "\n\n", encoding="utf-8")
    return path


def test_json_output_per_request_and_totals(batch_file, capsys):
    assert run_app(["tokens", str(batch_file), "--json", "--completion-ratio", "0.25"]) == 0
    records = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    *requests, totals = records
    assert [r["custom_id"] for r in requests] == ["chat-1", "emb-1", "resp-1", "chat-2"]
    for record, raw in zip(requests, LINES, strict=True):
        request = json.loads(raw)
        url, body = request["url"], request["body"]
        assert set(record) == {
            "custom_id",
            "model",
            "input_tokens",
            "output_tokens",
            "cost_batch",
            "cost_direct",
        }
        assert record["model"] == body["model"]
        assert record["input_tokens"] == count_input_tokens(url, body)
        assert record["output_tokens"] == predict_output_tokens(url, body, 0.25, 2048)
        price = resolve_price(body["model"])
        tokens = {"input_tokens": record["input_tokens"], "output_tokens": record["output_tokens"]}
        assert record["cost_batch"] == pytest.approx(request_cost(price, batch=True, **tokens))
        assert record["cost_direct"] == pytest.approx(request_cost(price, batch=False, **tokens))
    assert [r["output_tokens"] for r in requests] == [25, 0, 10, 512]
    assert totals["totals"]["requests"] == 4
    assert totals["totals"]["input_tokens"] == sum(r["input_tokens"] for r in requests)
    assert totals["totals"]["cost_direct"] == pytest.approx(sum(r["cost_direct"] for r in requests))
    assert totals["models"]["gpt-4o-mini"]["requests"] == 1
    assert set(totals["models"]) == {
        "gpt-4o-mini-2024-07-18",
        "gpt-4o-mini",
        "text-embedding-3-small",
        "gpt-5",
    }


def test_table_output(batch_file, capsys):
    assert run_app(["tokens", str(batch_file)]) == 0
    out = capsys.readouterr().out
    assert "chat-1" in out and "resp-1" in out and "Total" in out


def test_price_flags_make_unknown_models_work(tmp_path, capsys):
    path = tmp_path / "local.jsonl"
    body = {"model": "my-llama", "messages": [{"role": "user", "content": "Hello world"}], "max_tokens": 10}
    path.write_text(line("a", "/v1/chat/completions", body) + "\n", encoding="utf-8")
    assert run_app(["tokens", str(path)]) == 2
    err = capsys.readouterr().err
    assert "my-llama" in err and "--cost-input-direct-mtoken" in err
    flags = ["--cost-input-direct-mtoken", "1", "--cost-output-direct-mtoken", "2", "--json"]
    assert run_app(["tokens", str(path), *flags]) == 0
    captured = capsys.readouterr()
    assert "'my-llama' is not a known OpenAI model" in captured.err and "o200k_base" in captured.err
    first = json.loads(captured.out.splitlines()[0])
    assert first["cost_direct"] == pytest.approx((9 * 1 + 5 * 2) / 1e6)
    assert first["cost_batch"] == pytest.approx((9 * 1 + 5 * 2) / 2e6)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not json\n", "line 1 is not valid JSON"),
        (b"\xff\xfe\x00garbage\n", "line 1 is not UTF-8"),
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"custom_id": "a", "url": "/v1/chat/completions"}\n', "lacks body"),
        (
            b'{"custom_id": "a", "url": "/v1/chat/completions", "body": {"messages": []}}\n',
            "lacks body.model",
        ),
        (
            b'{"custom_id": "a", "url": "/v1/audio/speech", "body": {"model": "tts-1"}}\n',
            "Unsupported endpoint",
        ),
        (
            b'{"custom_id": "a", "url": "/v1/chat/completions", "body": {"model": "gpt-4o"}}\n',
            "line 1: A chat",
        ),
        (b"\n\n", "holds no requests"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, capsys, content, problem):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    assert run_app(["tokens", str(path)]) == 2
    captured = capsys.readouterr()
    assert problem in captured.err.replace("\n", " ")
    assert captured.out == ""  # nothing printed before the error


def test_moderation_is_free_without_a_price(tmp_path, capsys):
    path = tmp_path / "moderation.jsonl"
    body = {"model": "omni-moderation-latest", "input": "Hello world"}
    path.write_text(line("m", "/v1/moderations", body) + "\n", encoding="utf-8")
    assert run_app(["tokens", str(path), "--json"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert (first["input_tokens"], first["cost_batch"], first["cost_direct"]) == (2, 0, 0)


def test_missing_file_exits_2(tmp_path, capsys):
    assert run_app(["tokens", str(tmp_path / "nope.jsonl")]) == 2
    assert "Cannot read" in capsys.readouterr().err
