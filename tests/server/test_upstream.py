"""UpstreamBackend over real loopback HTTP: pass-through, bounded concurrency, upstream failures."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from openai.types.chat import ChatCompletion

from batchwright.server.fake_model import FakeModel
from batchwright.server.upstream import UpstreamBackend

CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello upstream"}]}


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.005)


class ScriptedUpstream:
    """An OpenAI-compatible server on 127.0.0.1 answering with the fake model, plus scripted misbehaviour
    selected by the request's model name: ``hold`` waits until released, ``not-json`` answers plain text,
    ``plain-error`` answers an Ollama-style error body."""

    def __init__(self) -> None:
        self.model = FakeModel()
        self.release = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self.authorizations: list[str | None] = []
        app = FastAPI()
        app.post("/v1/chat/completions")(self.chat)
        app.get("/v1/models")(self.models)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    async def chat(self, request: Request):
        body = await request.json()
        self.authorizations.append(request.headers.get("authorization"))
        if body["model"] == "hold":
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            while not self.release.is_set():
                await asyncio.sleep(0.005)
            self.in_flight -= 1
        if body["model"] == "not-json":
            return PlainTextResponse("upstream exploded", status_code=500)
        if body["model"] == "plain-error":
            return JSONResponse({"error": "model 'plain-error' not found"}, status_code=404)
        answer = await self.model.respond("/v1/chat/completions", body)
        return JSONResponse(answer.body, status_code=answer.status_code)

    async def models(self):
        answer = await self.model.respond("/v1/models", {})
        return JSONResponse(answer.body)

    def __enter__(self) -> ScriptedUpstream:
        self.thread.start()
        wait_for(lambda: self.server.started)
        return self

    def __exit__(self, *exc_info) -> None:
        self.release.set()
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as server:
        yield server


async def respond_once(backend: UpstreamBackend, url: str, body: dict):
    try:
        return await backend.respond(url, body)
    finally:
        await backend.aclose()


@pytest.mark.parametrize("suffix", ["", "/v1", "/v1/"])
def test_passes_status_and_body_through(upstream, suffix):
    backend = UpstreamBackend(upstream.base_url + suffix, api_key="sk-upstream-test")
    answer = asyncio.run(respond_once(backend, "/v1/chat/completions", CHAT_BODY))
    assert answer.status_code == 200
    ChatCompletion.model_validate(answer.body)
    assert upstream.authorizations == ["Bearer sk-upstream-test"]
    bad = asyncio.run(respond_once(backend, "/v1/chat/completions", {"model": "gpt-4o", "messages": []}))
    assert bad.status_code == 400 and bad.body["error"]["code"] == "empty_array"
    models = asyncio.run(respond_once(backend, "/v1/models", {}))
    assert models.status_code == 200 and models.body["object"] == "list"


def test_no_key_sends_no_authorization(upstream):
    asyncio.run(respond_once(UpstreamBackend(upstream.base_url), "/v1/chat/completions", CHAT_BODY))
    assert upstream.authorizations == [None]


def test_concurrency_is_bounded(upstream):
    backend = UpstreamBackend(upstream.base_url, max_concurrency=3)
    held = {**CHAT_BODY, "model": "hold"}

    async def run_all():
        tasks = [asyncio.create_task(backend.respond("/v1/chat/completions", held)) for _ in range(10)]
        await asyncio.to_thread(wait_for, lambda: upstream.in_flight == 3)
        await asyncio.sleep(0.05)  # give a fourth request the chance to slip through if the bound were broken
        assert upstream.in_flight == 3
        upstream.release.set()
        answers = await asyncio.gather(*tasks)
        await backend.aclose()
        return answers

    answers = asyncio.run(run_all())
    assert [a.status_code for a in answers] == [200] * 10
    assert upstream.max_in_flight == 3


def test_unreachable_upstream_is_a_502():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    answer = asyncio.run(
        respond_once(UpstreamBackend(f"http://127.0.0.1:{port}"), "/v1/chat/completions", CHAT_BODY)
    )
    assert answer.status_code == 502
    assert answer.body["error"]["code"] == "upstream_unavailable"
    secret = UpstreamBackend(f"http://user:hunter2@127.0.0.1:{port}/v1")
    hidden = asyncio.run(respond_once(secret, "/v1/chat/completions", CHAT_BODY))
    assert hidden.status_code == 502 and "hunter2" not in hidden.body["error"]["message"]
    assert set(answer.body["error"]) == {"message", "type", "param", "code"}


def test_slow_upstream_is_a_504(upstream):
    backend = UpstreamBackend(upstream.base_url, timeout=0.3)
    answer = asyncio.run(respond_once(backend, "/v1/chat/completions", {**CHAT_BODY, "model": "hold"}))
    assert answer.status_code == 504 and answer.body["error"]["code"] == "upstream_timeout"


def test_odd_upstream_answers_become_openai_errors(upstream):
    backend = UpstreamBackend(upstream.base_url)
    not_json = asyncio.run(respond_once(backend, "/v1/chat/completions", {**CHAT_BODY, "model": "not-json"}))
    assert not_json.status_code == 502 and "upstream exploded" in not_json.body["error"]["message"]
    plain = asyncio.run(respond_once(backend, "/v1/chat/completions", {**CHAT_BODY, "model": "plain-error"}))
    assert plain.status_code == 404
    assert plain.body["error"] == {
        "message": "model 'plain-error' not found",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_a_new_event_loop_gets_a_working_client(upstream):
    backend = UpstreamBackend(upstream.base_url)
    for _ in range(2):  # asyncio.run makes a fresh loop each time; the backend must not reuse a dead pool
        assert asyncio.run(backend.respond("/v1/chat/completions", CHAT_BODY)).status_code == 200
    asyncio.run(backend.aclose())


def test_our_server_forwarding_to_our_server(tmp_path):
    """A second local server uses the first as its upstream: the SDK sees the first one's fake model."""
    import openai

    from batchwright.server import INSTANT, ServerConfig, run_server

    with run_server(ServerConfig(data_dir=tmp_path / "model", speed=INSTANT, seed=5)) as model_server:
        backend = UpstreamBackend(model_server.base_url, api_key=model_server.api_key, max_concurrency=4)
        config = ServerConfig(data_dir=tmp_path / "front", speed=INSTANT, backend=backend)
        with run_server(config) as front:
            client = openai.OpenAI(base_url=front.base_url, api_key=front.api_key)
            direct = openai.OpenAI(base_url=model_server.base_url, api_key=model_server.api_key)
            body = {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "via upstream"}],
                "temperature": 0,
            }
            forwarded = client.chat.completions.create(**body)
            assert (
                forwarded.choices[0].message.content
                == direct.chat.completions.create(**body).choices[0].message.content
            )
            with pytest.raises(openai.BadRequestError):
                client.chat.completions.create(model="gpt-4o-mini", messages=[])
        asyncio.run(backend.aclose())


def test_a_batch_on_the_front_server_runs_on_the_upstream(tmp_path):
    """--upstream gives a model server a batch API: every batch line becomes one upstream request."""
    from batchwright.server import INSTANT, ServerConfig, run_server

    from .support import chat_line, client_for, read_lines, submit
    from .support import wait_for as wait_for_batch

    with run_server(ServerConfig(data_dir=tmp_path / "model", speed=INSTANT)) as model_server:
        backend = UpstreamBackend(model_server.base_url, api_key=model_server.api_key, max_concurrency=2)
        with run_server(ServerConfig(data_dir=tmp_path / "front", speed=INSTANT, backend=backend)) as front:
            client = client_for(front)
            lines = [chat_line(f"line-{i}", f"question {i}") for i in range(6)]
            lines.append(chat_line("bad", model="gpt-4o-mini", n=0))
            batch = wait_for_batch(client, submit(client, lines).id)
            assert batch.status == "completed"
            assert (batch.request_counts.completed, batch.request_counts.failed) == (6, 1)
            outputs = read_lines(client, batch.output_file_id)
            assert sorted(line["custom_id"] for line in outputs) == [f"line-{i}" for i in range(6)]
            for line in outputs:
                ChatCompletion.model_validate(line["response"]["body"])
            (error_line,) = read_lines(client, batch.error_file_id)
            assert error_line["response"]["status_code"] == 400
        upstream_requests = model_server.ledger()["requests"]
        assert len(upstream_requests) == 7 and {r["kind"] for r in upstream_requests} == {"direct"}
    asyncio.run(backend.aclose())
