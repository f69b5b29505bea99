"""Each fault kind, injected through a plan, observed through the official SDK."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from batchwright.errors import ConfigError
from batchwright.server import INSTANT, FaultPlan, ServerConfig, load_fault_plan, run_server

from .support import chat_line, client_for, jsonl, read_lines, submit, wait_for

UPLOAD = ("in.jsonl", jsonl([chat_line("a"), chat_line("b")]))


def batch_count(server):
    return len(server.ledger()["batches"])


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (502, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_http_error_before_the_action_creates_nothing(local_server, status, error_class):
    client = client_for(local_server)
    local_server.set_faults({"http": [{"endpoint": "POST /v1/files", "status": status, "first": 1}]})
    with pytest.raises(error_class) as caught:
        client.files.create(file=UPLOAD, purpose="batch")
    assert caught.value.status_code == status
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    assert local_server.ledger()["files"] == []
    assert client.files.create(file=UPLOAD, purpose="batch").id  # only the first call was hit


def test_429_carries_retry_after_and_rate_limit_headers(local_server):
    client = client_for(local_server)
    local_server.set_faults(
        {"http": [{"endpoint": "GET /v1/batches", "status": 429, "retry_after": 3, "first": 1}]}
    )
    with pytest.raises(openai.RateLimitError) as caught:
        client.batches.list()
    headers = caught.value.response.headers
    assert headers["retry-after"] == "3" and headers["retry-after-ms"] == "3000"
    assert headers["x-ratelimit-remaining-requests"] == "0" and int(headers["x-ratelimit-limit-requests"]) > 0
    assert {"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
            "x-ratelimit-reset-tokens"} <= set(headers)  # fmt: skip
    assert caught.value.code == "rate_limit_exceeded"


def test_http_error_after_the_action_still_creates_the_batch(local_server):
    client = client_for(local_server)
    upload = client.files.create(file=UPLOAD, purpose="batch")
    local_server.set_faults(
        {"http": [{"endpoint": "POST /v1/batches", "status": 500, "when": "after", "first": 1}]}
    )
    with pytest.raises(openai.InternalServerError):
        client.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    [created] = client.batches.list().data  # the client must reconcile: the create did happen
    assert created.input_file_id == upload.id
    assert wait_for(client, created.id).status == "completed"


def test_timeout_before_and_after(local_server):
    client = client_for(local_server, timeout=0.3)
    local_server.set_faults(
        {"http": [{"endpoint": "POST /v1/files", "kind": "timeout", "seconds": 1.0, "first": 1}]}
    )
    with pytest.raises(openai.APITimeoutError):
        client.files.create(file=UPLOAD, purpose="batch")
    assert local_server.ledger()["files"] == []
    local_server.set_faults(
        {
            "http": [
                {"endpoint": "POST /v1/files", "kind": "timeout", "when": "after", "seconds": 1.0, "first": 1}
            ]
        }
    )
    with pytest.raises(openai.APITimeoutError):
        client.files.create(file=UPLOAD, purpose="batch")
    assert len(local_server.ledger()["files"]) == 1


def test_connection_reset_before_and_after(local_server):
    client = client_for(local_server)
    local_server.set_faults({"http": [{"endpoint": "POST /v1/files", "kind": "reset", "first": 1}]})
    with pytest.raises(openai.APIConnectionError):
        client.files.create(file=UPLOAD, purpose="batch")
    assert local_server.ledger()["files"] == []
    local_server.set_faults(
        {"http": [{"endpoint": "POST /v1/files", "kind": "reset", "when": "after", "first": 1}]}
    )
    with pytest.raises(openai.APIConnectionError):
        client.files.create(file=UPLOAD, purpose="batch")
    assert len(local_server.ledger()["files"]) == 1
    with pytest.raises(httpx.ReadError):  # a real TCP reset, not an HTTP answer
        local_server.set_faults({"http": [{"endpoint": "GET /v1/files", "kind": "reset", "first": 1}]})
        httpx.get(
            local_server.base_url + "/files", headers={"Authorization": f"Bearer {local_server.api_key}"}
        )


def test_latency_on_direct_endpoint(local_server):
    client = client_for(local_server)
    local_server.set_faults(
        {"http": [{"endpoint": "/v1/chat/completions", "kind": "latency", "seconds": 0.3}]}
    )
    started = time.monotonic()
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    answered = time.time()
    assert time.monotonic() - started >= 0.3
    [entry] = local_server.ledger()["requests"]
    assert entry["arrived_at"] <= answered - 0.3  # arrival is stamped before the latency
    started = time.monotonic()
    client.files.list()
    assert time.monotonic() - started < 0.3


def test_probability_is_deterministic_under_a_seed_and_count_caps(tmp_path):
    plan = {
        "seed": 11,
        "http": [{"endpoint": "GET /v1/files", "status": 503, "probability": 0.5, "count": 6}],
    }

    def pattern(path):
        with run_server(ServerConfig(data_dir=path, speed=INSTANT, faults=plan)) as server:
            client = client_for(server)
            outcome = []
            for _ in range(30):
                try:
                    client.files.list()
                    outcome.append(0)
                except openai.InternalServerError:
                    outcome.append(1)
            return outcome

    first, second = pattern(tmp_path / "a"), pattern(tmp_path / "b")
    assert first == second
    assert sum(first) == 6 and first.index(1) < 15


def test_sdk_retries_absorb_first_n_errors(local_server):
    client = client_for(local_server, max_retries=2)
    local_server.set_faults({"http": [{"endpoint": "GET /v1/files", "status": 500, "first": 2}]})
    assert client.files.list().data == []


def test_per_request_errors_inside_batches(local_server):
    client = client_for(local_server)
    local_server.set_faults({"requests": [{"status": 500, "first": 2}, {"status": 429, "first": 3}]})
    done = wait_for(client, submit(client, [chat_line(f"r{i}") for i in range(6)]).id)
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 5)
    statuses = sorted(line["response"]["status_code"] for line in read_lines(client, done.error_file_id))
    assert statuses == [429, 429, 429, 500, 500]
    rate_limited = [
        line for line in read_lines(client, done.error_file_id) if line["response"]["status_code"] == 429
    ]
    assert rate_limited[0]["response"]["body"]["error"]["code"] == "rate_limit_exceeded"


def test_per_request_error_rate_is_deterministic(tmp_path):
    plan = {"seed": 5, "requests": [{"status": 500, "probability": 0.3}]}

    def failed_ids(path):
        with run_server(ServerConfig(data_dir=path, speed=INSTANT, faults=plan)) as server:
            client = client_for(server)
            done = wait_for(client, submit(client, [chat_line(f"r{i}") for i in range(50)]).id)
            return sorted(line["custom_id"] for line in read_lines(client, done.error_file_id))

    first = failed_ids(tmp_path / "a")
    assert first == failed_ids(tmp_path / "b") and 5 <= len(first) <= 25


def test_output_damage_malformed_duplicated_missing(local_server):
    client = client_for(local_server)
    requests = [chat_line(f"r{i}") for i in range(10)]
    local_server.set_faults({"output": [{"kind": "malformed", "first": 1}]})
    done = wait_for(client, submit(client, requests).id)
    raw = client.files.content(done.output_file_id).text.splitlines()
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw[0])
    assert len(raw) == 10
    local_server.set_faults({"output": [{"kind": "duplicated", "first": 2}]})
    ids = [
        line["custom_id"]
        for line in read_lines(client, wait_for(client, submit(client, requests).id).output_file_id)
    ]
    assert len(ids) == 12 and len(set(ids)) == 10
    local_server.set_faults({"output": [{"kind": "missing", "count": 3}]})
    missing_batch = wait_for(client, submit(client, requests).id)
    ids = [line["custom_id"] for line in read_lines(client, missing_batch.output_file_id)]
    assert len(ids) == 7
    damage = [
        (r["custom_id"], r["output_damage"])
        for r in local_server.ledger()["requests"]
        if r["batch_id"] == missing_batch.id
    ]
    missing = {custom_id for custom_id, kind in damage if kind == "missing"}
    assert missing == {f"r{i}" for i in range(10)} - set(ids) and len(missing) == 3


def test_shuffled_output_is_deterministic_under_a_seed(tmp_path):
    plan = {"seed": 3, "shuffle_output": True}

    def order(path):
        with run_server(ServerConfig(data_dir=path, speed=INSTANT, faults=plan)) as server:
            client = client_for(server)
            done = wait_for(client, submit(client, [chat_line(f"r{i}") for i in range(30)]).id)
            return [line["custom_id"] for line in read_lines(client, done.output_file_id)]

    first = order(tmp_path / "a")
    assert first == order(tmp_path / "b")
    assert first != [f"r{i}" for i in range(30)] and sorted(first) == sorted(f"r{i}" for i in range(30))


def test_rpm_and_tpm_limits_on_direct_endpoints(local_server):
    client = client_for(local_server)
    local_server.set_faults({"rate_limits": {"rpm": 2}})
    message = [{"role": "user", "content": "hi"}]
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=message)
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    client.chat.completions.create(model="gpt-4o-mini", messages=message)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=message)
    assert caught.value.code == "rate_limit_exceeded" and caught.value.type == "requests"
    assert "requests per min (RPM): Limit 2, Used 2, Requested 1" in caught.value.message
    assert int(caught.value.response.headers["retry-after"]) >= 1
    client.files.list()  # Files/Batches endpoints are not rate limited
    local_server.set_faults({"rate_limits": {"tpm": 30}})
    long = [{"role": "user", "content": "word " * 40}]
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=long)
    assert caught.value.type == "tokens" and "TPM" in caught.value.message
    assert client.chat.completions.create(model="gpt-4o-mini", messages=message).choices
    refused = [r for r in local_server.ledger()["requests"] if r["kind"] == "direct"]
    assert len(refused) == 3  # refused requests are not processed, nor billed


def test_fault_plans_from_files_and_the_admin_endpoint(local_server, tmp_path):
    yaml_plan = tmp_path / "plan.yaml"
    yaml_plan.write_text("seed: 2\nhttp:\n  - {endpoint: '*', kind: error, status: 502, first: 1}\n")
    json_plan = tmp_path / "plan.json"
    json_plan.write_text(json.dumps({"batches": [{"kind": "expire", "after_requests": 1}]}))
    assert load_fault_plan(yaml_plan).http[0].status == 502
    assert load_fault_plan(json_plan).batches[0].kind == "expire"
    assert load_fault_plan(FaultPlan()) == FaultPlan()
    with pytest.raises(ConfigError):
        load_fault_plan({"http": [{"kind": "explode"}]})
    with pytest.raises(ConfigError):
        load_fault_plan(tmp_path / "missing.yaml")
    local_server.set_faults(yaml_plan)
    admin = httpx.Client(
        base_url=local_server.base_url.replace("/v1", "/_admin"),
        headers={"Authorization": f"Bearer {local_server.api_key}"},
    )
    assert admin.get("/faults").json()["http"][0]["status"] == 502
    bad = admin.put("/faults", json={"http": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "plan"
    assert admin.put("/faults", json={}).json()["http"] == []
    assert httpx.get(local_server.base_url.replace("/v1", "/_admin/ledger")).status_code == 401


def test_skip_then_first_targets_exact_calls(local_server):
    client = client_for(local_server)
    local_server.set_faults({"http": [{"endpoint": "GET /v1/files", "status": 503, "skip": 2, "first": 2}]})
    outcome = []
    for _ in range(6):
        try:
            client.files.list()
            outcome.append("ok")
        except openai.InternalServerError:
            outcome.append("503")
    assert outcome == ["ok", "ok", "503", "503", "ok", "ok"]


def test_bad_fault_plan_fails_before_starting(tmp_path):
    with pytest.raises(ConfigError, match="Invalid fault plan"):
        run_server(ServerConfig(data_dir=tmp_path, faults={"http": [{"kind": "explode"}]})).__enter__()
    with run_server(ServerConfig(data_dir=tmp_path, speed=INSTANT)) as server:  # nothing was left locked
        assert client_for(server).files.list().data == []
