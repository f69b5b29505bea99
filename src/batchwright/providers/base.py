"""The provider protocol: the few remote operations the engine needs, as plain data.

A provider maps one vendor's batch API onto these calls. Objects come back as small dataclasses, never as
SDK models, so the engine stays independent of any SDK and an odd server cannot make state unloadable.
Errors: providers raise :class:`ProviderError` with ``ambiguous=True`` when the remote side may have acted
(timeouts, connection drops after sending, 5xx) so the engine reconciles before acting again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

#: Remote batch statuses after which nothing changes any more.
FINISHED_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file stored at the provider."""

    id: str
    filename: str
    bytes: int
    purpose: str
    created_at: int


@dataclass(frozen=True, slots=True)
class RemoteBatch:
    """A batch at the provider; ``errors`` holds validation errors as ``(code, message, line)``."""

    id: str
    status: str
    endpoint: str
    input_file_id: str
    created_at: int
    output_file_id: str | None = None
    error_file_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    request_total: int = 0
    request_completed: int = 0
    request_failed: int = 0
    errors: tuple[tuple[str, str, int | None], ...] = ()

    @property
    def finished(self) -> bool:
        """True once the batch reached a terminal status."""
        return self.status in FINISHED_STATUSES


@dataclass(frozen=True, slots=True)
class DirectResponse:
    """The answer to one direct (non-batch) request: HTTP status, headers and the raw body bytes."""

    status_code: int
    headers: dict[str, str]
    body: bytes


class ProviderError(Exception):
    """A remote call failed. ``ambiguous``: the remote side may have performed the action anyway.

    ``status_code`` is the HTTP status when there was one; ``retry_after`` seconds when the server said.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        ambiguous: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.ambiguous = ambiguous
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Worth retrying later: network trouble, timeouts, 408/409/429 and 5xx."""
        return self.status_code is None or self.status_code in (408, 409, 429) or self.status_code >= 500


class Provider(Protocol):
    """The remote operations of a batch API. All methods are coroutines except :meth:`aclose` helpers."""

    async def upload_file(self, name: str, path: Path) -> RemoteFile:
        """Upload the JSONL file at ``path`` for batch use under the file name ``name`` (streamed)."""
        ...

    async def create_batch(self, file_id: str, endpoint: str, metadata: dict[str, str]) -> RemoteBatch:
        """Create a batch over an uploaded file. Must never be retried automatically by the client."""
        ...

    async def retrieve_batch(self, batch_id: str) -> RemoteBatch:
        """The current state of one batch."""
        ...

    def list_batches(self) -> AsyncIterator[RemoteBatch]:
        """All batches, newest first, fetched page by page."""
        ...

    def list_files(self) -> AsyncIterator[RemoteFile]:
        """All files with purpose ``batch``, fetched page by page."""
        ...

    async def cancel_batch(self, batch_id: str) -> RemoteBatch:
        """Ask the provider to cancel a batch (it ends ``cancelled`` later)."""
        ...

    async def download_file(self, file_id: str, dest: Path) -> int:
        """Stream a file's content to ``dest``; returns the number of bytes written."""
        ...

    async def delete_file(self, file_id: str) -> bool:
        """Delete a file; False if it did not exist (already deleted counts as done)."""
        ...

    async def direct(
        self, url: str, body: bytes | dict[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> DirectResponse:
        """Send one request directly (``url`` like ``/v1/chat/completions``; ``body`` as JSON bytes or a
        dict; extra ``headers``). HTTP error statuses are returned, not raised; network failures raise."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
