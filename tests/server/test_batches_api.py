"""Batches endpoints through the official SDK: create, retrieve, list, cancel, and the lifecycle."""

from __future__ import annotations

import asyncio

import openai
import pytest
from openai.types import Batch

from .support import (
    async_client_for,
    async_wait_for,
    chat_line,
    client_for,
    jsonl,
    read_lines,
    submit,
    wait_for,
)


def test_batch_completes_with_output_usage_and_timestamps(local_server):
    client = client_for(local_server)
    requests = [chat_line(f"r{i}", f"question {i}") for i in range(20)]
    created = submit(client, requests, metadata={"task": "t1"})
    assert isinstance(created, Batch)
    assert created.status == "validating" and created.metadata == {"task": "t1"}
    assert created.expires_at == created.created_at + 24 * 3600
    done = wait_for(client, created.id)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (
        20,
        20,
        0,
    )
    assert done.created_at <= done.in_progress_at <= done.finalizing_at <= done.completed_at
    assert done.model == "gpt-4o-mini" and done.error_file_id is None
    lines = read_lines(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in lines) == sorted(r["custom_id"] for r in requests)
    for line in lines:
        assert set(line) == {"id", "custom_id", "response", "error"} and line["error"] is None
        assert line["response"]["status_code"] == 200
        assert line["response"]["request_id"].startswith("req_")
        assert line["response"]["body"]["object"] == "chat.completion"
    assert done.usage is not None
    assert done.usage.input_tokens == sum(
        line["response"]["body"]["usage"]["prompt_tokens"] for line in lines
    )
    assert done.usage.output_tokens == sum(
        line["response"]["body"]["usage"]["completion_tokens"] for line in lines
    )
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    output = client.files.retrieve(done.output_file_id)
    assert output.purpose == "batch_output"
    ledger = local_server.ledger()
    assert ledger["tokens"]["batch"]["requests"] == 20
    assert ledger["tokens"]["batch"]["input_tokens"] == done.usage.input_tokens
    assert [b["id"] for b in ledger["batches"]] == [created.id]


def test_request_level_failures_go_to_the_error_file(local_server):
    client = client_for(local_server)
    requests = [chat_line("good"), chat_line("bad", max_tokens="many")]
    done = wait_for(client, submit(client, requests).id)
    assert done.status == "completed"
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 1)
    [good] = read_lines(client, done.output_file_id)
    [bad] = read_lines(client, done.error_file_id)
    assert good["custom_id"] == "good"
    assert bad["custom_id"] == "bad" and bad["error"] is None
    assert bad["response"]["status_code"] == 400
    assert bad["response"]["body"]["error"]["type"] == "invalid_request_error"


def test_all_failed_batch_completes_without_output_file(local_server):
    client = client_for(local_server)
    requests = [chat_line(f"bad{i}", max_tokens="many") for i in range(3)]
    done = wait_for(client, submit(client, requests).id)
    assert done.status == "completed"
    assert done.output_file_id is None and done.error_file_id is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (0, 3)
    assert len(read_lines(client, done.error_file_id)) == 3


def test_list_newest_first_with_pagination(local_server):
    client = client_for(local_server)
    ids = [submit(client, [chat_line("x")]).id for _ in range(4)]
    assert [b.id for b in client.batches.list(limit=3)] == ids[::-1]
    page = client.batches.list(limit=3)
    assert [b.id for b in page.data] == ids[:0:-1] and page.has_more
    assert [b.id for b in client.batches.list(after=ids[1]).data] == [ids[0]]


def test_retrieve_and_cancel_unknown_batch_is_404(local_server):
    client = client_for(local_server)
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")
    with pytest.raises(openai.NotFoundError):
        client.batches.cancel("batch_nope")


def test_cancel_finished_batch_is_a_conflict(local_server):
    client = client_for(local_server)
    done = wait_for(client, submit(client, [chat_line("x")]).id)
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(done.id)


def test_create_validates_parameters(local_server):
    client = client_for(local_server)
    upload = client.files.create(file=("x.jsonl", b'{"a": 1}\n'), purpose="batch")
    notes = client.files.create(file=("n.txt", b"hi"), purpose="user_data")

    def create(**overrides):
        params = {"input_file_id": upload.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        params.update(overrides)
        with pytest.raises(openai.APIStatusError) as caught:
            client.batches.create(**params)
        return caught.value

    assert create(input_file_id="file-missing").status_code == 404
    assert create(input_file_id=notes.id).param == "input_file_id"
    assert create(completion_window="48h").param == "completion_window"
    assert create(endpoint="/v1/images").param == "endpoint"
    too_many = create(metadata={f"k{i}": "v" for i in range(17)})
    assert too_many.param == "metadata" and too_many.status_code == 400
    assert create(metadata={"k" * 65: "v"}).code == "string_above_max_length"
    assert create(metadata={"k": "v" * 513}).code == "string_above_max_length"
    assert create(output_expires_after={"anchor": "created_at", "seconds": 60}).param.startswith(
        "output_expires_after"
    )
    error = create(input_file_id="")
    assert (error.status_code, error.code, error.param) == (
        400,
        "missing_required_parameter",
        "input_file_id",
    )
    ok = client.batches.create(
        input_file_id=upload.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={f"k{i}": "v" * 512 for i in range(16)},
    )
    assert len(ok.metadata) == 16


def test_async_client_batch_lifecycle(local_server):
    async def scenario() -> None:
        async with async_client_for(local_server) as client:
            data = jsonl([chat_line(f"a{i}") for i in range(5)])
            upload = await client.files.create(file=("a.jsonl", data), purpose="batch")
            batch = await client.batches.create(
                input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            done = await async_wait_for(client, batch.id)
            assert done.status == "completed" and done.request_counts.completed == 5
            assert [b.id async for b in client.batches.list()] == [batch.id]
            content = await client.files.content(done.output_file_id)
            assert len(content.text.splitlines()) == 5

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("endpoint", "body", "object_name"),
    [
        ("/v1/responses", {"model": "gpt-4o-mini", "input": "Say hi."}, "response"),
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "Say hi."}, "list"),
        (
            "/v1/completions",
            {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi.", "max_tokens": 5},
            "text_completion",
        ),
    ],
)
def test_batches_on_other_endpoints(local_server, endpoint, body, object_name):
    client = client_for(local_server)
    requests = [{"custom_id": f"r{i}", "method": "POST", "url": endpoint, "body": body} for i in range(3)]
    done = wait_for(client, submit(client, requests, endpoint=endpoint).id)
    assert done.status == "completed" and done.request_counts.completed == 3
    lines = read_lines(client, done.output_file_id)
    assert {line["response"]["body"]["object"] for line in lines} == {object_name}
    assert done.usage.input_tokens > 0


def test_usage_sums_cached_and_reasoning_tokens(local_server):
    client = client_for(local_server)
    long_prompt = "word " * 3000  # long enough for cached prompt tokens (half of it, at least 1,024)
    cached = wait_for(client, submit(client, [chat_line(f"c{i}", long_prompt) for i in range(2)]).id)
    bodies = [line["response"]["body"] for line in read_lines(client, cached.output_file_id)]
    expected = sum(b["usage"]["prompt_tokens_details"]["cached_tokens"] for b in bodies)
    assert cached.usage.input_tokens_details.cached_tokens == expected > 0
    reasoning = wait_for(
        client, submit(client, [chat_line(f"r{i}", "why?", model="o4-mini") for i in range(2)]).id
    )
    bodies = [line["response"]["body"] for line in read_lines(client, reasoning.output_file_id)]
    expected = sum(b["usage"]["completion_tokens_details"]["reasoning_tokens"] for b in bodies)
    assert reasoning.usage.output_tokens_details.reasoning_tokens == expected > 0


def test_a_body_the_endpoint_rejects_fails_at_run_time_not_validation(local_server):
    client = client_for(local_server)
    no_messages = {"custom_id": "bad", "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": "gpt-4o-mini"}}  # fmt: skip
    done = wait_for(client, submit(client, [chat_line("good"), no_messages]).id)
    assert done.status == "completed"
    [bad] = read_lines(client, done.error_file_id)
    assert bad["custom_id"] == "bad" and bad["response"]["status_code"] == 400
