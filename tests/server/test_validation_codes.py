"""Every batch validation failure, reported as ``failed`` with ``errors.data[]`` codes and lines."""

from __future__ import annotations

import json

import pytest

from batchwright.server import INSTANT, ServerConfig, run_server

from .support import chat_line, client_for, submit, wait_for


def failed_errors(client, requests, endpoint="/v1/chat/completions"):
    batch = wait_for(client, submit(client, requests, endpoint=endpoint).id)
    assert batch.status == "failed", batch
    assert batch.failed_at is not None and batch.in_progress_at is None
    assert batch.output_file_id is None and batch.error_file_id is None
    return [(e.code, e.line, e.param) for e in batch.errors.data]


def without(name):
    line = chat_line("x")
    del line[name]
    return line


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ("this is not json", ("invalid_json_line", 2, None)),
        ("[1, 2, 3]", ("invalid_json_line", 2, None)),
        ("", ("invalid_json_line", 2, None)),
        (without("custom_id"), ("missing_required_parameter", 2, "custom_id")),
        (without("method"), ("missing_required_parameter", 2, "method")),
        (without("url"), ("missing_required_parameter", 2, "url")),
        (without("body"), ("missing_required_parameter", 2, "body")),
        ({**chat_line("x"), "body": {"messages": []}}, ("missing_required_parameter", 2, "body.model")),
        ({**chat_line("x"), "custom_id": 7}, ("invalid_type", 2, "custom_id")),
        ({**chat_line("x"), "custom_id": ""}, ("invalid_value", 2, "custom_id")),
        ({**chat_line("x"), "method": "GET"}, ("invalid_value", 2, "method")),
        ({**chat_line("x"), "url": "/v1/nothing"}, ("invalid_url", 2, "url")),
        ({**chat_line("x"), "url": "/v1/embeddings"}, ("url_mismatch", 2, "url")),
        ({**chat_line("x"), "body": "text"}, ("invalid_type", 2, "body")),
        (chat_line("first"), ("duplicate_custom_id", 2, "custom_id")),
        (chat_line("x", model="gpt-4o"), ("model_mismatch", 2, "body.model")),
    ],
)
def test_line_errors(local_server, bad_line, expected):
    client = client_for(local_server)
    assert failed_errors(client, [chat_line("first"), bad_line, chat_line("last")]) == [expected]


def test_every_bad_line_is_reported_with_its_line_number(local_server):
    client = client_for(local_server)
    requests = [chat_line("a"), "{oops", chat_line("a"), chat_line("b"), {**chat_line("c"), "method": "PUT"}]
    assert [(code, line) for code, line, _ in failed_errors(client, requests)] == [
        ("invalid_json_line", 2),
        ("duplicate_custom_id", 3),
        ("invalid_value", 5),
    ]


def test_empty_file(local_server):
    client = client_for(local_server)
    assert failed_errors(client, []) == [("empty_file", None, None)]


def test_too_many_tasks_at_the_real_limit(local_server):
    client = client_for(local_server)
    requests = [json.dumps(chat_line(f"r{i}", "x")) for i in range(50_001)]
    assert failed_errors(client, requests) == [("too_many_tasks", 50_001, None)]


def test_file_too_large_for_a_batch(tmp_path):
    with run_server(ServerConfig(data_dir=tmp_path, speed=INSTANT, max_batch_input_bytes=500)) as server:
        client = client_for(server)
        requests = [chat_line(f"r{i}", "x" * 50) for i in range(10)]
        assert failed_errors(client, requests) == [("file_too_large", None, None)]


def test_token_limit_counts_same_model_in_flight_batches(tmp_path):
    config = ServerConfig(
        data_dir=tmp_path, speed=INSTANT, enqueued_token_limit=250, model_token_limits={"gpt-4o": 10}
    )
    with run_server(config) as server:
        client = client_for(server)
        server.set_faults({"batches": [{"kind": "stall", "after_requests": 0, "first": 1}]})
        requests = [chat_line(f"r{i}", "one two three four five six seven") for i in range(10)]
        holder = wait_for(client, submit(client, requests).id, ("in_progress",))  # stalls, holds its tokens
        assert holder.status == "in_progress"
        alone_ok = wait_for(client, submit(client, requests[:1], endpoint="/v1/chat/completions").id)
        assert alone_ok.status == "completed"  # small enough next to the stalled one
        over = wait_for(client, submit(client, requests).id)
        assert over.status == "failed"
        [error] = over.errors.data
        assert (error.code, error.line) == ("token_limit_exceeded", None)
        assert "Enqueued token limit reached for gpt-4o-mini" in error.message
        other_model = [chat_line(f"m{i}", "one two three", model="gpt-4o") for i in range(3)]
        assert wait_for(client, submit(client, other_model).id).errors.data[0].code == "token_limit_exceeded"
        client.batches.cancel(holder.id)
        wait_for(client, holder.id)
        assert wait_for(client, submit(client, requests).id).status == "completed"  # room again
