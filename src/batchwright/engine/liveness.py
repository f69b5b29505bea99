"""Notice when the API stops answering at all, so a run against an unreachable server stops clearly.

Transient errors (5xx, 429, resets) are retried with back-off for as long as the server answers now and
then. A server that gives no answer at all — connection refused, DNS failure, every call timing out — for
``unreachable_after`` seconds and at least ``MIN_SILENT_FAILURES`` calls in a row stops the run with a
:class:`~batchwright.errors.RemoteError` naming the base URL, instead of backing off forever in silence.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from batchwright.config import EngineSettings
from batchwright.errors import RemoteError
from batchwright.providers.base import Provider, ProviderError

MIN_SILENT_FAILURES = 3
DEFAULT_BASE_URL = "https://api.openai.com/v1"


def api_location(settings: EngineSettings) -> str:
    """Where the API calls go (scheme, host, port and path; credentials in the URL are left out)."""
    url = settings.azure_endpoint or settings.base_url or os.environ.get("OPENAI_BASE_URL")
    parts = urlsplit(url or DEFAULT_BASE_URL)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class Liveness:
    """Counts remote calls that got no answer at all since the last answer of any kind."""

    def __init__(
        self, unreachable_after: float, where: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.unreachable_after = unreachable_after
        self.where = where
        self._clock = clock
        self.silent_failures = 0
        self.silent_since: float | None = None
        self.last_error = ""

    def answered(self) -> None:
        """The server answered (any HTTP status)."""
        self.silent_failures, self.silent_since = 0, None

    def failed(self, error: ProviderError) -> None:
        """A call failed: with an HTTP status the server is alive; without one it said nothing."""
        if error.status_code is not None:
            self.answered()
            return
        if self.silent_since is None:
            self.silent_since = self._clock()
        self.silent_failures += 1
        self.last_error = str(error)

    def check(self) -> None:
        """Raise :class:`RemoteError` when the server has given no answer for too long."""
        if self.silent_since is None or self.silent_failures < MIN_SILENT_FAILURES:
            return
        silent_for = self._clock() - self.silent_since
        if silent_for >= self.unreachable_after:
            raise RemoteError(
                f"The API at {self.where} has given no answer for {silent_for:.0f} s "
                f"({self.silent_failures} calls in a row; last: {self.last_error}).",
                remedy="Check the base URL (--base-url / OPENAI_BASE_URL) and the network, then run again: "
                "state is consistent and in-flight batches are collected next run "
                "(--unreachable-after sets how long to wait).",
            )


class WatchedProvider:
    """A :class:`Provider` that reports the outcome of every remote call to a :class:`Liveness`."""

    def __init__(self, provider: Provider, liveness: Liveness) -> None:
        self._provider = provider
        self._liveness = liveness

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._provider, name)
        if inspect.isasyncgenfunction(attr):
            return functools.partial(self._watch_listing, attr)
        if inspect.iscoroutinefunction(attr) and name != "aclose":
            return functools.partial(self._watch_call, attr)
        return attr

    async def _watch_call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            result = await method(*args, **kwargs)
        except ProviderError as error:
            self._liveness.failed(error)
            raise
        self._liveness.answered()
        return result

    async def _watch_listing(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            async for item in method(*args, **kwargs):
                self._liveness.answered()
                yield item
        except ProviderError as error:
            self._liveness.failed(error)
            raise
        self._liveness.answered()
