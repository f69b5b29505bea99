"""The OpenAI provider against the local server: plain-data objects, paging, streaming, error mapping."""

from __future__ import annotations

import asyncio
import json

import pytest

from batchwright.config import EngineSettings
from batchwright.errors import ConfigError
from batchwright.providers.base import ProviderError
from batchwright.providers.openai import OpenAIProvider

BODY = {"model": "text-embedding-3-small", "input": "x"}
LINE = (
    json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": BODY}).encode() + b"\n"
)


def provider_for(server, **values) -> OpenAIProvider:
    return OpenAIProvider(EngineSettings(base_url=server.base_url, api_key=server.api_key, **values))


def test_upload_create_list_download_delete_round_trip(local_server, tmp_path):
    async def scenario():
        provider = provider_for(local_server)
        try:
            path = tmp_path / "in.jsonl"
            path.write_bytes(LINE)
            uploaded = [await provider.upload_file(f"bw-test-{i}.jsonl", path) for i in range(105)]
            listed = [f async for f in provider.list_files()]  # more than one page of 100
            assert {f.id for f in uploaded} <= {f.id for f in listed}
            batch = await provider.create_batch(uploaded[0].id, "/v1/embeddings", {"bw_uid": "u1"})
            assert batch.metadata == {"bw_uid": "u1"} and batch.input_file_id == uploaded[0].id
            while not (batch := await provider.retrieve_batch(batch.id)).finished:
                await asyncio.sleep(0.02)
            assert batch.status == "completed" and batch.request_total == 1
            assert [b.id async for b in provider.list_batches()] == [batch.id]
            dest = tmp_path / "out.jsonl"
            assert await provider.download_file(batch.output_file_id, dest) == dest.stat().st_size > 0
            assert (dest.stat().st_mode & 0o777) == 0o600
            assert await provider.delete_file(uploaded[1].id) is True
            assert await provider.delete_file(uploaded[1].id) is False  # already gone counts as done
            with pytest.raises(ProviderError) as info:
                await provider.retrieve_batch("batch_does_not_exist")
            assert info.value.status_code == 404 and not info.value.transient and not info.value.ambiguous
        finally:
            await provider.aclose()

    asyncio.run(scenario())


def test_direct_returns_http_errors_as_data(local_server):
    async def scenario():
        provider = provider_for(local_server)
        try:
            ok = await provider.direct("/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"})
            assert ok.status_code == 200 and b"embedding" in ok.body
            bad = await provider.direct("/v1/chat/completions", b'{"model": "gpt-4o-mini"}')
            assert bad.status_code == 400 and b"messages" in bad.body
        finally:
            await provider.aclose()

    asyncio.run(scenario())


def test_wrong_key_is_a_fatal_provider_error(local_server):
    async def scenario():
        provider = OpenAIProvider(EngineSettings(base_url=local_server.base_url, api_key="sk-wrong"))
        try:
            with pytest.raises(ProviderError) as info:
                await provider.retrieve_batch("batch_x")
            assert info.value.status_code == 401 and not info.value.transient
            assert "sk-wrong" not in str(info.value)
        finally:
            await provider.aclose()

    asyncio.run(scenario())


def test_unreachable_server_is_ambiguous_and_transient():
    async def scenario():
        provider = OpenAIProvider(EngineSettings(base_url="http://127.0.0.1:9/v1", api_key="k", timeout=2))
        try:
            with pytest.raises(ProviderError) as info:
                await provider.create_batch("file-x", "/v1/embeddings", {})
            assert info.value.ambiguous and info.value.transient and info.value.status_code is None
        finally:
            await provider.aclose()

    asyncio.run(scenario())


def test_no_key_is_a_config_error_and_azure_uses_the_azure_client(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="No API key"):
        OpenAIProvider(EngineSettings())
    azure = OpenAIProvider(
        EngineSettings(
            azure_endpoint="https://example.openai.azure.com", api_version="2024-10-21", api_key="k"
        )
    )
    import openai

    assert isinstance(azure._client, openai.AsyncAzureOpenAI)
