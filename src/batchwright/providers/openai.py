"""The OpenAI (and Azure OpenAI) batch API through the official SDK's async client, public API only.

Calls that create something (file upload, batch create) run with ``max_retries=0``: an automatic SDK
retry after a timeout could create a second file or batch. The engine reconciles by listing instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import openai

from batchwright.config import EngineSettings
from batchwright.errors import ConfigError
from batchwright.providers.base import DirectResponse, ProviderError, RemoteBatch, RemoteFile

try:  # openai >= 3 ships its own fork of httpx; older releases use httpx itself.
    import httpx2 as _http
except ImportError:  # pragma: no cover - depends on the installed SDK generation
    import httpx as _http

_LIST_PAGE = 100


def require_api_key(settings: EngineSettings) -> None:
    """Raise :class:`ConfigError` when no API key is configured (checked before anything is written)."""
    if settings.api_key is None and not os.environ.get("OPENAI_API_KEY") and settings.azure_endpoint is None:
        raise ConfigError(
            "No API key: neither api_key nor the OPENAI_API_KEY environment variable is set.",
            remedy="Set OPENAI_API_KEY or pass --api-key (for the local server, use its printed key).",
        )


class OpenAIProvider:
    """:class:`~batchwright.providers.base.Provider` for OpenAI-compatible servers and Azure OpenAI."""

    def __init__(self, settings: EngineSettings) -> None:
        require_api_key(settings)
        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        common: dict[str, Any] = {"timeout": settings.timeout, "max_retries": 2}
        if settings.azure_endpoint is not None:
            self._client: openai.AsyncOpenAI = openai.AsyncAzureOpenAI(
                azure_endpoint=settings.azure_endpoint,
                api_version=settings.api_version,
                api_key=key,
                **common,
            )
        else:
            self._client = openai.AsyncOpenAI(
                api_key=key,
                organization=settings.organization,
                project=settings.project,
                base_url=settings.base_url,
                **common,
            )
        self._once = self._client.with_options(max_retries=0)
        self._direct = self._once
        if _has_aiohttp():  # the SDK's aiohttp transport: about half the CPU per direct request
            http_client = openai.DefaultAioHttpClient(timeout=settings.timeout)
            self._direct = self._client.with_options(max_retries=0, http_client=http_client)

    async def aclose(self) -> None:
        if self._direct is not self._once:
            await self._direct.close()
        await self._client.close()

    async def upload_file(self, name: str, path: Path) -> RemoteFile:
        with open(path, "rb") as fh:
            obj = await _call(self._once.files.create(file=(name, fh, "application/jsonl"), purpose="batch"))
        return _file(obj)

    async def create_batch(self, file_id: str, endpoint: str, metadata: dict[str, str]) -> RemoteBatch:
        obj = await _call(
            self._once.batches.create(
                input_file_id=file_id,
                endpoint=endpoint,  # type: ignore[arg-type]
                completion_window="24h",
                metadata=metadata,
            )
        )
        return _batch(obj)

    async def retrieve_batch(self, batch_id: str) -> RemoteBatch:
        return _batch(await _call(self._client.batches.retrieve(batch_id)))

    async def list_batches(self) -> AsyncIterator[RemoteBatch]:
        try:
            async for obj in self._client.batches.list(limit=_LIST_PAGE):
                yield _batch(obj)
        except openai.OpenAIError as exc:
            raise _provider_error(exc) from None

    async def list_files(self) -> AsyncIterator[RemoteFile]:
        try:
            async for obj in self._client.files.list(purpose="batch", limit=_LIST_PAGE):
                yield _file(obj)
        except openai.OpenAIError as exc:
            raise _provider_error(exc) from None

    async def cancel_batch(self, batch_id: str) -> RemoteBatch:
        return _batch(await _call(self._client.batches.cancel(batch_id)))

    async def download_file(self, file_id: str, dest: Path) -> int:
        written = 0
        try:
            async with self._client.files.with_streaming_response.content(file_id) as response:
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    async for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                        written += len(chunk)
        except openai.OpenAIError as exc:
            raise _provider_error(exc) from None
        return written

    async def delete_file(self, file_id: str) -> bool:
        try:
            await self._client.files.delete(file_id)
        except openai.NotFoundError:
            return False
        except openai.OpenAIError as exc:
            raise _provider_error(exc) from None
        return True

    async def direct(
        self, url: str, body: bytes | dict[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> DirectResponse:
        path = url.removeprefix("/v1")
        extra = {"Content-Type": "application/json", **(headers or {})}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            response = await self._direct.post(
                path, cast_to=_http.Response, content=content, options={"headers": extra}
            )
        except openai.APIStatusError as exc:
            response = exc.response
        except openai.APIConnectionError as exc:
            raise _provider_error(exc) from None
        return DirectResponse(response.status_code, dict(response.headers), response.content)


def _has_aiohttp() -> bool:
    """True when the SDK offers its aiohttp transport (``openai[aiohttp]``) and aiohttp is installed."""
    return hasattr(openai, "DefaultAioHttpClient") and importlib.util.find_spec("aiohttp") is not None


async def _call(awaitable: Any) -> Any:
    try:
        return await awaitable
    except openai.OpenAIError as exc:
        raise _provider_error(exc) from None


def _provider_error(exc: openai.OpenAIError) -> ProviderError:
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retry_after = None
        header = exc.response.headers.get("retry-after")
        if header is not None:
            try:
                retry_after = float(header)
            except ValueError:
                retry_after = None
        return ProviderError(
            f"HTTP {status}: {exc.message}",
            status_code=status,
            ambiguous=status >= 500,
            retry_after=retry_after,
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(f"connection failed: {exc.message}", ambiguous=True)
    return ProviderError(str(exc), ambiguous=True)


def _file(obj: Any) -> RemoteFile:
    return RemoteFile(
        id=obj.id,
        filename=obj.filename or "",
        bytes=obj.bytes or 0,
        purpose=obj.purpose,
        created_at=obj.created_at,
    )


def _batch(obj: Any) -> RemoteBatch:
    counts = obj.request_counts
    errors: tuple[tuple[str, str, int | None], ...] = ()
    if obj.errors is not None and obj.errors.data:
        errors = tuple((e.code or "unknown", e.message or "", e.line) for e in obj.errors.data)
    return RemoteBatch(
        id=obj.id,
        status=obj.status,
        endpoint=obj.endpoint,
        input_file_id=obj.input_file_id,
        created_at=obj.created_at,
        output_file_id=obj.output_file_id,
        error_file_id=obj.error_file_id,
        metadata=dict(obj.metadata or {}),
        request_total=counts.total if counts else 0,
        request_completed=counts.completed if counts else 0,
        request_failed=counts.failed if counts else 0,
        errors=errors,
    )
