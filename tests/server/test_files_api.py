"""Files endpoints through the official SDK: upload, retrieve, list, content, delete, limits, auth."""

from __future__ import annotations

import asyncio
import os
import stat
import time

import httpx
import openai
import pytest
from openai.types import FileDeleted, FileObject

from batchwright.server import INSTANT, ServerConfig, run_server

from .support import async_client_for, chat_line, client_for, jsonl


def test_upload_retrieve_content_delete(local_server):
    client = client_for(local_server)
    data = jsonl([chat_line("a"), chat_line("b")])
    uploaded = client.files.create(file=("requests.jsonl", data), purpose="batch")
    assert isinstance(uploaded, FileObject)
    assert (uploaded.bytes, uploaded.filename, uploaded.purpose) == (len(data), "requests.jsonl", "batch")
    assert (
        uploaded.expires_at is not None and uploaded.expires_at > uploaded.created_at
    )  # batch files: 30 days
    assert client.files.retrieve(uploaded.id) == uploaded
    assert client.files.content(uploaded.id).content == data
    deleted = client.files.delete(uploaded.id)
    assert deleted == FileDeleted(id=uploaded.id, deleted=True, object="file")
    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve(uploaded.id)
    assert caught.value.body["message"] == f"No such File object: {uploaded.id}"
    with pytest.raises(openai.NotFoundError):
        client.files.content(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(uploaded.id)
    ledger = local_server.ledger()
    assert [(f["id"], f["deleted"]) for f in ledger["files"]] == [(uploaded.id, True)]


def test_files_are_private_on_disk(local_server, tmp_path):
    client = client_for(local_server)
    uploaded = client.files.create(file=("x.jsonl", jsonl([chat_line("a")])), purpose="batch")
    root = tmp_path / "server"
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(root / "files" / uploaded.id).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(root / "server.sqlite3").st_mode) == 0o600


def test_list_pagination_order_and_purpose(local_server):
    client = client_for(local_server)
    ids = [client.files.create(file=(f"f{i}.jsonl", b"{}\n"), purpose="batch").id for i in range(5)]
    other = client.files.create(file=("notes.txt", b"hello"), purpose="user_data").id
    newest_first = [f.id for f in client.files.list(purpose="batch", limit=2)]
    assert newest_first == ids[::-1]  # the SDK follows has_more/after across pages
    page = client.files.list(purpose="batch", limit=2, order="asc")
    assert [f.id for f in page.data] == ids[:2] and page.has_more
    assert [f.id for f in client.files.list(order="asc")] == [*ids, other]
    assert [f.id for f in client.files.list(purpose="user_data")] == [other]


def test_batch_files_must_be_jsonl_and_purpose_valid(local_server):
    client = client_for(local_server)
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("input.csv", b"a,b\n"), purpose="batch")
    assert caught.value.code == "invalid_file_format"
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("x.jsonl", b"{}"), purpose="nonsense")  # type: ignore[arg-type]
    assert caught.value.param == "purpose"


def test_file_expires_after(tmp_path):
    config = ServerConfig(data_dir=tmp_path, speed=3600.0)  # an hour of file life is one second
    with run_server(config) as server:
        client = client_for(server)
        uploaded = client.files.create(
            file=("x.jsonl", b"{}\n"),
            purpose="batch",
            expires_after={"anchor": "created_at", "seconds": 3600},
        )
        assert client.files.retrieve(uploaded.id).id == uploaded.id
        assert uploaded.expires_at is not None and uploaded.expires_at <= uploaded.created_at + 2
        deadline_hit = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.files.retrieve(uploaded.id)
            except openai.NotFoundError:
                deadline_hit = True
                break
            time.sleep(0.05)
        assert deadline_hit
        assert uploaded.id not in [f.id for f in client.files.list()]
        expired = [f for f in server.ledger()["files"] if f["id"] == uploaded.id]
        assert expired[0]["expired"] is True
        client.files.create(file=("y.jsonl", b"{}\n"), purpose="batch")  # uploads sweep expired content
        assert not (tmp_path / "files" / uploaded.id).exists()


def test_file_too_large_and_storage_quota(tmp_path):
    config = ServerConfig(data_dir=tmp_path, speed=INSTANT, max_file_bytes=1000, storage_quota_bytes=1500)
    with run_server(config) as server:
        client = client_for(server)
        with pytest.raises(openai.APIStatusError) as caught:
            client.files.create(file=("big.jsonl", b"x" * 1001), purpose="batch")
        assert caught.value.status_code == 413 and caught.value.code == "file_too_large"
        client.files.create(file=("a.jsonl", b"x" * 900), purpose="batch")
        with pytest.raises(openai.BadRequestError) as caught:
            client.files.create(file=("b.jsonl", b"x" * 900), purpose="batch")
        assert caught.value.code == "storage_quota_exceeded"
        assert len(server.ledger()["files"]) == 1


def test_wrong_or_missing_key_gets_the_real_401(local_server):
    wrong = openai.OpenAI(base_url=local_server.base_url, api_key="sk-wrong-key-123456", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.files.list()
    assert caught.value.code == "invalid_api_key"
    assert "sk-wrong-key" not in caught.value.message  # the key is masked
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    response = httpx.get(local_server.base_url + "/files")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_async_client_files_roundtrip(local_server):
    async def scenario() -> None:
        async with async_client_for(local_server) as client:
            data = jsonl([chat_line("a")])
            uploaded = await client.files.create(file=("a.jsonl", data), purpose="batch")
            assert (await client.files.retrieve(uploaded.id)).bytes == len(data)
            assert (await client.files.content(uploaded.id)).content == data
            assert [f.id async for f in client.files.list()] == [uploaded.id]
            assert (await client.files.delete(uploaded.id)).deleted

    asyncio.run(scenario())
