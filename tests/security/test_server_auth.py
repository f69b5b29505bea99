"""The local server: refuses requests without its key or with a wrong one (the real 401 shape), binds
127.0.0.1 unless told otherwise, and never logs request bodies (nor its key)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from batchwright.server import INSTANT, ServerConfig, run_server

BIN = Path(sys.executable).parent / "batchwright"

ROUTES = [
    ("GET", "/v1/models", None),
    ("GET", "/v1/files", None),
    ("GET", "/v1/batches", None),
    ("POST", "/v1/chat/completions", {"model": "gpt-4o-mini",
                                      "messages": [{"role": "user", "content": "hi"}]}),
    ("POST", "/v1/batches", {"input_file_id": "file-x", "endpoint": "/v1/chat/completions",
                             "completion_window": "24h"}),
    ("GET", "/_admin/ledger", None),
    ("PUT", "/_admin/faults", {}),
]  # fmt: skip


def assert_openai_error(response: httpx.Response, code: str | None) -> dict[str, Any]:
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] is None and error["code"] == code
    return error


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_every_route_needs_the_key(local_server: Any, method: str, path: str, body: Any) -> None:
    root = local_server.base_url.removesuffix("/v1")
    with httpx.Client(base_url=root, timeout=30) as http:
        missing = http.request(method, path, json=body)
        error = assert_openai_error(missing, None)
        assert "didn't provide an API key" in error["message"]
        for header in ("Basic abc", "Bearer", f"bearer {local_server.api_key}x", local_server.api_key):
            refused = http.request(method, path, json=body, headers={"Authorization": header})
            assert refused.status_code == 401, header
        wrong = f"sk-wrong-{secrets.token_hex(12)}"
        refused = http.request(method, path, json=body, headers={"Authorization": f"Bearer {wrong}"})
        error = assert_openai_error(refused, "invalid_api_key")
        assert "Incorrect API key provided" in error["message"]
        assert wrong not in refused.text and local_server.api_key not in refused.text  # neither key echoed
        right = {"Authorization": f"Bearer {local_server.api_key}"}
        assert http.request(method, path, json=body, headers=right).status_code != 401


def test_the_sdk_sees_an_authentication_error(local_server: Any) -> None:
    client = openai.OpenAI(base_url=local_server.base_url, api_key="sk-not-the-key-0000", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.models.list()
    assert raised.value.status_code == 401 and raised.value.code == "invalid_api_key"


def outward_address() -> str | None:
    """A non-loopback address of this machine, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def refuses_connections(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
    except OSError:
        return True
    return False


def test_binds_loopback_by_default(tmp_path: Path) -> None:
    assert ServerConfig(data_dir=tmp_path).host == "127.0.0.1"
    with run_server(ServerConfig(data_dir=tmp_path / "s", speed=INSTANT)) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        address = outward_address()
        if address is not None:
            assert refuses_connections(address, server.port)


@pytest.mark.parametrize("log_requests", [False, True], ids=["default", "--log-requests"])
def test_serve_never_logs_bodies_or_its_key(tmp_path: Path, log_requests: bool) -> None:
    """``batchwright serve`` as a user runs it: its whole output, while requests carrying a marker in
    their bodies (chat, file upload, batch, a request the fake model rejects) are served."""
    key = f"sk-serve-{secrets.token_hex(12)}"
    marker = f"MARKER{secrets.token_hex(8)}"
    env = {**os.environ, "BATCHWRIGHT_SERVER_API_KEY": key}
    command = [str(BIN), "serve", "--port", "0", "--speed", "instant", "--data-dir", str(tmp_path / "data")]
    server = subprocess.Popen(
        command + (["--log-requests"] if log_requests else []),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # "batchwright local batch server: http://127.0.0.1:PORT/v1"
        assert "http://127.0.0.1:" in first, first
        base_url = first.split()[-1]
        port = int(base_url.rsplit(":", 1)[1].split("/")[0])
        address = outward_address()
        if address is not None:
            assert refuses_connections(address, port)
        client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": marker}])
        line = (
            '{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
            f'"gpt-4o-mini", "messages": [{{"role": "user", "content": "{marker}"}}]}}}}\n'
        )
        uploaded = client.files.create(file=(f"{marker}.jsonl", line.encode()), purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"note": marker},
        )
        deadline = time.monotonic() + 30
        while client.batches.retrieve(batch.id).status != "completed":
            assert time.monotonic() < deadline, "the batch did not complete"
            time.sleep(0.05)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": marker}], temperature=marker
            )
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=base_url, api_key=marker, max_retries=0).models.list()
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    output = first + output
    assert marker not in output
    assert key not in output
    if log_requests:
        assert "POST /v1/chat/completions" in output  # the request log is on, with method and path only
