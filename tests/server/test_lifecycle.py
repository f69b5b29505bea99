"""Batch lifecycle paths: timed progression, expiry and cancel with partial output, restart, output expiry."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest

from batchwright.errors import ConfigError
from batchwright.server import INSTANT, ServerConfig, run_server

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


def requests_for(n, prefix="r"):
    return [chat_line(f"{prefix}{i}", f"question {i}") for i in range(n)]


def timed_config(tmp_path, **overrides):
    """Real-time progression: 20 requests/s, short validating and finalizing phases."""
    options = {
        "speed": 1.0,
        "validation_seconds": 0.2,
        "requests_per_second": 20.0,
        "finalizing_seconds": 0.2,
    }
    return ServerConfig(data_dir=tmp_path, **{**options, **overrides})


def test_timed_progression_shows_every_status_and_growing_counts(tmp_path):
    with run_server(timed_config(tmp_path)) as server:
        client = client_for(server)
        batch = submit(client, requests_for(10))
        seen, counts = [], []
        deadline = time.monotonic() + 30
        while batch.status not in ("completed", "failed"):
            assert time.monotonic() < deadline
            batch = client.batches.retrieve(batch.id)
            if not seen or seen[-1] != batch.status:
                seen.append(batch.status)
            if batch.status == "in_progress":
                counts.append(batch.request_counts.completed)
            time.sleep(0.01)
        assert seen == ["validating", "in_progress", "finalizing", "completed"]
        assert any(0 < c < 10 for c in counts), counts
        assert counts == sorted(counts)
        assert batch.request_counts.completed == 10


def test_expiry_by_window_keeps_partial_output(tmp_path):
    config = timed_config(tmp_path, validation_seconds=0.0, completion_window_seconds=0.5)
    with run_server(config) as server:
        client = client_for(server)
        batch = wait_for(client, submit(client, requests_for(40)).id)
        assert batch.status == "expired" and batch.expired_at is not None
        done = read_lines(client, batch.output_file_id)
        unrun = read_lines(client, batch.error_file_id)
        assert 0 < len(done) < 40
        assert len(done) + len(unrun) == 40
        assert {line["custom_id"] for line in done} | {line["custom_id"] for line in unrun} == {
            f"r{i}" for i in range(40)
        }
        assert all(line["error"]["code"] == "batch_expired" and line["response"] is None for line in unrun)
        assert batch.request_counts.completed == len(done)
        assert batch.request_counts.failed == len(unrun)
        assert batch.usage.input_tokens > 0


def test_forced_expiry_after_exact_number_of_requests(local_server):
    client = client_for(local_server)
    local_server.set_faults({"batches": [{"kind": "expire", "after_requests": 3}]})
    batch = wait_for(client, submit(client, requests_for(8)).id)
    assert batch.status == "expired"
    assert sorted(line["custom_id"] for line in read_lines(client, batch.output_file_id)) == [
        "r0",
        "r1",
        "r2",
    ]
    codes = [line["error"]["code"] for line in read_lines(client, batch.error_file_id)]
    assert codes == ["batch_expired"] * 5
    assert len(local_server.ledger()["requests"]) == 3


def test_cancel_keeps_partial_output(local_server):
    client = client_for(local_server)
    local_server.set_faults({"batches": [{"kind": "stall", "after_requests": 4}]})
    batch = wait_for(client, submit(client, requests_for(10)).id, ("in_progress",))
    deadline = time.monotonic() + 10
    while client.batches.retrieve(batch.id).request_counts.completed < 4:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    done = wait_for(client, batch.id)
    assert done.status == "cancelled" and done.cancelled_at >= done.cancelling_at
    assert len(read_lines(client, done.output_file_id)) == 4
    unrun = read_lines(client, done.error_file_id)
    assert [line["error"]["code"] for line in unrun] == ["batch_cancelled"] * 6
    assert (done.request_counts.completed, done.request_counts.failed, done.request_counts.total) == (
        4,
        6,
        10,
    )


def test_slow_cancel_stays_cancelling_for_a_while(local_server):
    client = client_for(local_server)
    local_server.set_faults(
        {"batches": [{"kind": "stall", "after_requests": 1}, {"kind": "slow_cancel", "seconds": 0.6}]}
    )
    batch = wait_for(client, submit(client, requests_for(3)).id, ("in_progress",))
    started = time.monotonic()
    client.batches.cancel(batch.id)
    assert client.batches.retrieve(batch.id).status == "cancelling"
    done = wait_for(client, batch.id)
    assert done.status == "cancelled" and time.monotonic() - started >= 0.5


def test_cancel_while_validating_ends_without_files(tmp_path):
    with run_server(timed_config(tmp_path, validation_seconds=3600.0)) as server:
        client = client_for(server)
        batch = submit(client, requests_for(3))
        assert client.batches.cancel(batch.id).status == "cancelling"
        done = wait_for(client, batch.id)
        assert done.status == "cancelled"
        assert done.output_file_id is None and done.error_file_id is None


def test_stall_in_finalizing_and_forced_validation_failure(local_server):
    client = client_for(local_server)
    local_server.set_faults(
        {"batches": [{"kind": "stall_finalizing", "first": 1}, {"kind": "fail_validation", "first": 1}]}
    )
    stalled = wait_for(client, submit(client, requests_for(2)).id, ("finalizing", "failed"))
    assert stalled.status == "failed" and stalled.errors.data[0].code == "invalid_request"
    local_server.set_faults({"batches": [{"kind": "stall_finalizing", "first": 1}]})
    stalled = wait_for(client, submit(client, requests_for(2)).id, ("finalizing",))
    time.sleep(0.2)  # it must stay there (no sync on an event that is not expected to happen)
    assert client.batches.retrieve(stalled.id).status == "finalizing"
    client.batches.cancel(stalled.id)
    assert wait_for(client, stalled.id).status == "cancelled"
    local_server.set_faults({"batches": [{"kind": "stall_finalizing", "seconds": 0.3}]})
    brief = wait_for(client, submit(client, requests_for(2)).id, ("finalizing",))
    assert wait_for(client, brief.id).status == "completed"


def test_restart_carries_on_with_in_flight_batches(tmp_path):
    with run_server(timed_config(tmp_path, validation_seconds=0.0)) as server:
        client = client_for(server)
        running = submit(client, requests_for(30, "a"))
        validating = submit(client, requests_for(5, "b"))
        deadline = time.monotonic() + 10
        while (seen := client.batches.retrieve(running.id)).request_counts.completed < 4:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert seen.status == "in_progress" and seen.request_counts.completed < 30
        server.restart()
        client = client_for(server)
        for batch, n in ((running, 30), (validating, 5)):
            done = wait_for(client, batch.id)
            assert done.status == "completed"
            assert done.request_counts.completed == n
            assert len({line["custom_id"] for line in read_lines(client, done.output_file_id)}) == n
        ledger = server.ledger()
        assert len(ledger["requests"]) == 35  # nothing processed twice
        assert len({(r["batch_id"], r["line"]) for r in ledger["requests"]}) == 35


def test_restart_keeps_a_stalled_batch_cancellable(tmp_path):
    with run_server(ServerConfig(data_dir=tmp_path, speed=INSTANT)) as server:
        client = client_for(server)
        server.set_faults({"batches": [{"kind": "stall", "after_requests": 2}]})
        batch = wait_for(client, submit(client, requests_for(5)).id, ("in_progress",))
        server.restart()
        client = client_for(server)
        assert client.batches.retrieve(batch.id).status == "in_progress"
        client.batches.cancel(batch.id)
        done = wait_for(client, batch.id)
        assert done.status == "cancelled" and done.request_counts.completed == 2


def test_output_files_honour_output_expires_after(tmp_path):
    with run_server(ServerConfig(data_dir=tmp_path, speed=3600.0)) as server:  # 1 h lasts 1 s
        client = client_for(server)
        batch = wait_for(
            client,
            submit(
                client, requests_for(2), output_expires_after={"anchor": "created_at", "seconds": 3600}
            ).id,
        )
        assert batch.status == "completed"
        output = client.files.retrieve(batch.output_file_id)
        assert output.expires_at is not None and output.expires_at <= output.created_at + 2
        deadline = time.monotonic() + 10
        while True:
            try:
                client.files.retrieve(batch.output_file_id)
            except openai.NotFoundError:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(openai.NotFoundError):
            client.files.content(batch.output_file_id)


def test_deleting_the_input_file_does_not_break_a_running_batch(local_server):
    client = client_for(local_server)
    local_server.set_faults({"batches": [{"kind": "stall", "after_requests": 2}]})
    batch = wait_for(client, submit(client, requests_for(4)).id, ("in_progress",))
    client.files.delete(batch.input_file_id)
    client.batches.cancel(batch.id)
    done = wait_for(client, batch.id)
    assert done.status == "cancelled"
    assert len(read_lines(client, done.error_file_id)) == 2  # the unrun requests are still named


def test_async_client_cancel_and_create_after_fault(local_server):
    async def scenario() -> None:
        async with async_client_for(local_server) as client:
            upload = await client.files.create(file=("a.jsonl", jsonl(requests_for(6))), purpose="batch")
            local_server.set_faults(
                {
                    "http": [{"endpoint": "POST /v1/batches", "status": 502, "when": "after", "first": 1}],
                    "batches": [{"kind": "stall", "after_requests": 2}],
                }
            )
            with pytest.raises(openai.InternalServerError):
                await client.batches.create(
                    input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
                )
            [batch] = [b async for b in client.batches.list()]  # it was created before the 502
            await async_wait_for(client, batch.id, ("in_progress",))
            assert (await client.batches.cancel(batch.id)).status == "cancelling"
            done = await async_wait_for(client, batch.id)
            assert done.status == "cancelled" and done.request_counts.completed == 2
            errors = (await client.files.content(done.error_file_id)).text.splitlines()
            assert len(errors) == 4

    asyncio.run(scenario())


def test_one_server_per_data_dir(tmp_path):
    with run_server(ServerConfig(data_dir=tmp_path, speed=INSTANT)) as server:
        with pytest.raises(ConfigError, match="in use by another running server"):
            run_server(ServerConfig(data_dir=tmp_path, speed=INSTANT)).__enter__()
        server.restart()  # the lock is released on stop and taken again on start
        assert client_for(server).files.list().data == []
