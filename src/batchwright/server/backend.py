"""What answers a model request inside the local server: the fake model or an upstream server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class BackendResponse:
    """One model answer: the HTTP status and the JSON body (a response object or ``{"error": {...}}``)."""

    status_code: int
    body: dict[str, Any]


class ModelBackend(Protocol):
    """Answers one request to a model endpoint (``url`` like ``/v1/chat/completions``)."""

    async def respond(self, url: str, body: dict[str, Any]) -> BackendResponse:
        """Answer the request ``body`` sent to ``url``; never raises for a bad body (answers 400)."""
        ...

    async def aclose(self) -> None:
        """Release connections or other resources."""
        ...
