"""Direct endpoints through the official SDK (sync and async), recorded in the ledger."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from batchwright.server import INSTANT, ServerConfig, run_server

from .support import async_client_for, client_for

MESSAGES = [{"role": "user", "content": "Say hello."}]


def test_every_direct_endpoint_sync(local_server):
    client = client_for(local_server)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.headers["x-request-id"].startswith("req_")
    chat = raw.parse()
    assert chat.choices[0].message.content and chat.usage.prompt_tokens > 0
    response = client.responses.create(model="gpt-4o-mini", input="Say hello.")
    assert response.output_text and response.usage.input_tokens > 0
    embedding = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=8)
    assert [len(item.embedding) for item in embedding.data] == [8, 8]
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once", max_tokens=5)
    assert completion.choices[0].text is not None
    assert "gpt-4o-mini" in {model.id for model in client.models.list()}
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("no-such-model")
    assert caught.value.code == "model_not_found"
    ledger = local_server.ledger()
    direct = [r for r in ledger["requests"] if r["kind"] == "direct"]
    assert [r["url"] for r in direct] == [
        "/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions",
    ]  # fmt: skip
    assert direct[0]["input_tokens"] == chat.usage.prompt_tokens
    assert ledger["tokens"]["direct"]["requests"] == 4


def test_bad_bodies_get_real_400s(local_server):
    client = client_for(local_server)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens="x")  # type: ignore[arg-type]
    assert caught.value.body["type"] == "invalid_request_error"
    response = httpx.post(
        local_server.base_url + "/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {local_server.api_key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and "parse the JSON body" in response.json()["error"]["message"]
    unknown = httpx.get(
        local_server.base_url + "/nothing", headers={"Authorization": f"Bearer {local_server.api_key}"}
    )
    assert (
        unknown.status_code == 404 and unknown.json()["error"]["message"] == "Invalid URL (GET /v1/nothing)"
    )


def test_paths_without_the_v1_prefix_work(local_server):
    client = openai.OpenAI(base_url=local_server.base_url[: -len("/v1")], api_key=local_server.api_key)
    assert client.models.list().data
    assert client.files.list().data == []


def test_every_direct_endpoint_async(local_server):
    async def scenario() -> None:
        async with async_client_for(local_server) as client:
            answers = await asyncio.gather(
                *(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES) for _ in range(20))
            )
            assert all(a.choices[0].message.content for a in answers)
            response = await client.responses.create(model="gpt-4o-mini", input="hi")
            assert response.output_text
            embedding = await client.embeddings.create(model="text-embedding-3-small", input="a")
            assert embedding.data[0].embedding
            completion = await client.completions.create(
                model="gpt-3.5-turbo-instruct", prompt="x", max_tokens=3
            )
            assert completion.choices
            assert [m.id async for m in client.models.list()]

    asyncio.run(scenario())
    assert local_server.ledger()["tokens"]["direct"]["requests"] == 23


def test_oversized_request_body_is_413(tmp_path):
    with run_server(ServerConfig(data_dir=tmp_path, speed=INSTANT, max_file_bytes=2000)) as server:
        client = client_for(server)
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x" * 3000}]
            )
        assert caught.value.status_code == 413 and caught.value.code == "request_too_large"
        assert client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices


def test_request_log_names_paths_never_bodies(tmp_path, caplog):
    secret = "canary-3f9d2a-body-text"
    config = ServerConfig(data_dir=tmp_path, speed=INSTANT, log_requests=True)
    with caplog.at_level("INFO", logger="batchwright.server"), run_server(config) as server:
        client = client_for(server)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": secret}])
    assert "POST /v1/chat/completions" in caplog.text
    assert secret not in caplog.text
