"""The ASGI layer in front of every route: ``/v1`` prefix, bearer-key check, HTTP fault injection.

Faults with ``when: after`` let the route act (create the file or batch) and then replace its answer
with an error, a hang or a connection reset — how a client learns that a create may have happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import socket
import struct
import time
from typing import Any

from batchwright.server.api_errors import error_body
from batchwright.server.faults import HttpFault
from batchwright.server.state import ServerState

logger = logging.getLogger("batchwright.server")

TRANSPORT_KEY = "batchwright.transport"
ARRIVED_KEY = "batchwright.arrived_at"

_INJECTED = {
    429: ("Rate limit reached for requests (injected fault).", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
}


INJECTED_LIMITS = (10_000, 30_000_000)
"""Requests and tokens per minute that injected 429s report (plausible tier limits, nothing left)."""


def rate_limit_headers(retry_after: float) -> dict[str, str]:
    """``retry-after`` and ``x-ratelimit-*`` headers of an injected 429 answer."""
    reset = f"{retry_after:g}s"
    return {
        "retry-after": str(round(retry_after)),
        "retry-after-ms": str(int(retry_after * 1000)),
        "x-ratelimit-limit-requests": str(INJECTED_LIMITS[0]),
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": reset,
        "x-ratelimit-limit-tokens": str(INJECTED_LIMITS[1]),
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": reset,
    }


async def send_json(send: Any, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    """Send a complete JSON response through raw ASGI ``send``."""
    data = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": data})


async def reset_connection(scope: dict[str, Any], receive: Any) -> None:
    """Abort the TCP connection with a reset (RST), as a crashing proxy would."""
    transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
    if transport is None:
        raise ConnectionAbortedError("injected connection reset")  # uvicorn closes the connection
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, ValueError):  # ValueError: the client already closed it (fd -1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass


class Gate:
    """Pure ASGI middleware: prefix, auth and HTTP faults (cheap enough for the direct hot path)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    @property
    def state(self) -> ServerState:
        """The running server's state (set by the app's lifespan)."""
        return self.app.state.server

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not path.startswith(("/v1/", "/_admin/")) and path != "/v1":
            path = "/v1" + path
            scope = dict(scope, path=path, raw_path=path.encode())
        scope[ARRIVED_KEY] = time.time()  # before any latency fault or rate limit (for the ledger)
        if not self._authorised(scope):
            await self._unauthorised(scope, send)
            return
        if self.state.config.log_requests:
            logger.info("%s %s", scope["method"], path)
        if path.startswith("/_admin/") or not self.state.faults.plan.http:
            await self.app(scope, receive, send)
            return
        await self._with_faults(scope, receive, send, self.state.faults.http_faults(scope["method"], path))

    def _authorised(self, scope: dict[str, Any]) -> bool:
        expected = b"Bearer " + self.state.config.key.encode()
        return any(
            name == b"authorization" and hmac.compare_digest(value, expected)
            for name, value in scope["headers"]
        )

    async def _unauthorised(self, scope: dict[str, Any], send: Any) -> None:
        given = next((v for n, v in scope["headers"] if n == b"authorization"), None)
        if given is None or not given.startswith(b"Bearer ") or len(given) <= 7:
            body = error_body(
                "You didn't provide an API key. You need to provide your API key in an Authorization header"
                " using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        else:
            key = given[7:].decode(errors="replace")
            shown = f"{key[:3]}{'*' * 8}{key[-4:]}" if len(key) > 8 else "*" * len(key)
            body = error_body(f"Incorrect API key provided: {shown}.", code="invalid_api_key")
        await send_json(send, 401, body)

    async def _with_faults(
        self, scope: dict[str, Any], receive: Any, send: Any, faults: list[HttpFault]
    ) -> None:
        for fault in faults:
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
        fault = next((f for f in faults if f.kind != "latency"), None)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.when == "after":
            held: list[dict[str, Any]] = []

            async def hold(message: dict[str, Any]) -> None:
                held.append(message)

            await self.app(scope, receive, hold)
        if fault.kind == "error":
            await self._send_error(send, fault)
            return
        if fault.kind == "timeout":
            await asyncio.sleep(fault.seconds)
        await reset_connection(scope, receive)

    @staticmethod
    async def _send_error(send: Any, fault: HttpFault) -> None:
        message, kind, code = _INJECTED.get(
            fault.status, (f"Injected error {fault.status}.", "server_error", None)
        )
        headers = rate_limit_headers(fault.retry_after) if fault.status == 429 else {}
        await send_json(send, fault.status, error_body(message, type=kind, code=code), headers)
