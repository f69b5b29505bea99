"""Helpers for server tests: building JSONL inputs and waiting on batches through the official SDK."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import openai
from openai.types import Batch

TERMINAL = ("completed", "failed", "expired", "cancelled")
CHAT = "/v1/chat/completions"


def chat_line(
    custom_id: str, text: str = "hello", model: str = "gpt-4o-mini", **extra: Any
) -> dict[str, Any]:
    """One batch input request for the chat endpoint."""
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return {"custom_id": custom_id, "method": "POST", "url": CHAT, "body": body}


def jsonl(requests: list[Any]) -> bytes:
    """JSONL bytes for ``requests`` (strings are written as they are)."""
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in requests).encode()


def client_for(server: Any, **options: Any) -> openai.OpenAI:
    """A sync SDK client for ``server`` (no automatic retries unless asked)."""
    options.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.base_url, api_key=server.api_key, **options)


def async_client_for(server: Any, **options: Any) -> openai.AsyncOpenAI:
    """An async SDK client for ``server`` (no automatic retries unless asked)."""
    options.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(base_url=server.base_url, api_key=server.api_key, **options)


def submit(client: openai.OpenAI, requests: list[Any], endpoint: str = CHAT, **options: Any) -> Batch:
    """Upload ``requests`` and create a batch on ``endpoint``."""
    upload = client.files.create(file=("input.jsonl", jsonl(requests)), purpose="batch")
    return client.batches.create(
        input_file_id=upload.id, endpoint=endpoint, completion_window="24h", **options
    )  # type: ignore[arg-type]


def wait_for(
    client: openai.OpenAI, batch_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 30.0
) -> Batch:
    """Poll until the batch reaches one of ``statuses`` (fails the test after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        assert time.monotonic() < deadline, f"batch {batch_id} stuck in {batch.status}"
        time.sleep(0.01)


async def async_wait_for(
    client: openai.AsyncOpenAI, batch_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 30.0
) -> Batch:
    """Async :func:`wait_for`."""
    deadline = time.monotonic() + timeout
    while True:
        batch = await client.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        assert time.monotonic() < deadline, f"batch {batch_id} stuck in {batch.status}"
        await asyncio.sleep(0.01)


def read_lines(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    """The parsed JSONL lines of a file (empty when ``file_id`` is None)."""
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]
