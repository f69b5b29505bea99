"""Forwarding model requests to any OpenAI-compatible server (Ollama, vLLM, llama.cpp, OpenAI itself).

:class:`UpstreamBackend` posts each request body unchanged to the upstream server, at most
``max_concurrency`` at a time, and passes the status and JSON body back. Failures of the upstream itself
become OpenAI-shaped errors: 502 when it cannot be reached or answers something that is not a JSON object,
504 when it does not answer within ``timeout``; an upstream error body that is not OpenAI-shaped is
wrapped into one. The API key, if any, is only ever sent as the ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from batchwright.server.backend import BackendResponse


class UpstreamBackend:
    """A :class:`~batchwright.server.backend.ModelBackend` that forwards to ``base_url``.

    ``base_url`` may end in ``/v1`` (``http://localhost:11434/v1``) or not (``http://localhost:8000``);
    request paths like ``/v1/chat/completions`` are joined to it without doubling the ``/v1``.
    """

    def __init__(
        self, base_url: str, api_key: str | None = None, max_concurrency: int = 16, timeout: float = 600
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        # What error messages name: the URL without any user:password part (messages land in error files).
        self._shown_url = str(httpx.URL(self.base_url).copy_with(username=None, password=None))
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None

    def target_url(self, url: str) -> str:
        """The upstream URL for the request path ``url``."""
        path = url if url.startswith("/") else "/" + url
        if not path.startswith("/v1/"):
            path = "/v1" + path
        if self.base_url.endswith("/v1"):
            return self.base_url + path[len("/v1") :]
        return self.base_url + path

    async def respond(self, url: str, body: dict[str, Any]) -> BackendResponse:
        """Forward ``body`` to the upstream ``url`` (``GET`` for ``/v1/models``) and pass its answer back."""
        client, semaphore = self._connection()
        target = self.target_url(url)
        async with semaphore:
            try:
                if url.rstrip("/").endswith("/models"):
                    response = await client.get(target)
                else:
                    response = await client.post(target, json=body)
            except httpx.TimeoutException:
                return _upstream_error(
                    504,
                    f"The upstream server at {self._shown_url} did not answer within {self.timeout:g} s.",
                    "upstream_timeout",
                )
            except httpx.HTTPError as exc:
                return _upstream_error(
                    502,
                    f"The upstream server at {self._shown_url} cannot be reached "
                    f"({type(exc).__name__}: {exc}).",
                    "upstream_unavailable",
                )
        return _pass_through(response)

    async def aclose(self) -> None:
        """Close the connection pool (a pool left by an event loop that has ended is just dropped)."""
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()

    def _connection(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """The client and semaphore of the running event loop (a new loop gets new ones)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._semaphore is None or self._loop is not loop:
            limits = httpx.Limits(
                max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency
            )
            self._client = httpx.AsyncClient(headers=self._headers, timeout=self.timeout, limits=limits)
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._loop = loop
        return self._client, self._semaphore


def _pass_through(response: httpx.Response) -> BackendResponse:
    try:
        body = response.json()
    except ValueError:
        snippet = response.text[:200]
        return _upstream_error(
            502,
            f"The upstream server answered HTTP {response.status_code} with a body that "
            f"is not JSON: {snippet!r}",
            "upstream_invalid_response",
        )
    if not isinstance(body, dict):
        return _upstream_error(
            502,
            f"The upstream server answered HTTP {response.status_code} with JSON that is not an object.",
            "upstream_invalid_response",
        )
    if response.status_code >= 400 and not isinstance(body.get("error"), dict):
        message = body.get("error") or body.get("detail") or body.get("message") or str(body)
        kind = "invalid_request_error" if response.status_code < 500 else "server_error"
        body = {"error": {"message": str(message), "type": kind, "param": None, "code": None}}
    return BackendResponse(response.status_code, body)


def _upstream_error(status_code: int, message: str, code: str) -> BackendResponse:
    return BackendResponse(
        status_code, {"error": {"message": message, "type": "server_error", "param": None, "code": code}}
    )
