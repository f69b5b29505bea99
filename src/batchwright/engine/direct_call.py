"""One direct request, from send to an outcome worth committing.

:class:`DirectCaller` sends a request under the :class:`RateLimiter`, absorbs transient trouble (connection
errors, timeouts, 408/409/429/5xx answers) with backoff and without using the request's retry budget, up to
``max_transient_retries`` tries, and classifies the answer exactly as the batch path classifies a batch
line. It also prints requests and answers for ``direct_verbose``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from batchwright.config import EngineSettings
from batchwright.engine.budgets import Spend
from batchwright.engine.classify import classify_response
from batchwright.engine.commit import OpenAttempt
from batchwright.engine.ratelimit import Clock, RateLimiter
from batchwright.engine.ratelimit_headers import TRANSIENT_STATUSES, Backoff
from batchwright.engine.structured import ResponseModels
from batchwright.engine.types import Kind, Outcome
from batchwright.errors import BatchwrightError, RemoteError
from batchwright.providers.base import Provider, ProviderError


@dataclass(slots=True)
class DirectJob:
    """An opened direct attempt and what sending it needs."""

    attempt: OpenAttempt
    body: bytes
    """The request body exactly as stored."""
    tokens: int
    """Predicted input + output tokens (what the tokens-per-minute limit counts)."""
    predicted: Spend
    """Predicted spend at direct prices (for budgets)."""


class DirectStop(Exception):
    """Every request would fail the same way (bad key, no quota, server unreachable): stop the run."""

    def __init__(self, error: BatchwrightError) -> None:
        super().__init__(error.message)
        self.error = error


def lost(attempt_id: int, why: str) -> Outcome:
    """The outcome of an attempt that has no answer: back to pending, no retry used."""
    return Outcome(attempt_id, Kind.REQUEUE, None, "interrupted", why)


class DirectCaller:
    """Sends direct requests; counts the transient errors and 429s it absorbed."""

    def __init__(
        self,
        settings: EngineSettings,
        provider: Provider,
        models: ResponseModels,
        limiter: RateLimiter,
        clock: Clock,
        backoff: Backoff,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.provider = provider
        self.models = models
        self.limiter = limiter
        self.clock = clock
        self.backoff = backoff
        self.echo = echo or echo_stderr
        self.transient_errors = 0
        self.rate_limited = 0

    async def call(self, job: DirectJob) -> Outcome:
        """Send ``job`` until it has an answer to commit; raises :class:`DirectStop` to end the run."""
        att = job.attempt
        headers = {"X-Client-Request-Id": att.custom_id}
        transient = 0
        while True:
            permit = await self.limiter.acquire(job.tokens)
            status: int | None = None
            raw = b""
            try:
                response = await self.provider.direct(att.url, job.body, headers=headers)
            except ProviderError as error:
                self.limiter.observe(None, {}, permit)
                problem = f"no answer ({error})"
            except BaseException:
                permit.release()
                raise
            else:
                status, raw = response.status_code, response.body
                self.limiter.observe(status, response.headers, permit)
                self.rate_limited += status == 429
                outcome = self._answer(job, status, raw)
                if outcome is not None:
                    return outcome
                problem = f"HTTP {status}"
            if transient >= self.settings.max_transient_retries:
                if status is None:
                    raise DirectStop(
                        RemoteError(
                            f"Direct request {att.custom_id} got {problem} in {transient + 1} tries.",
                            remedy="Check the base URL and the network, then run again (nothing is lost).",
                        )
                    )
                return self._classify(job, status, raw, _json(raw))
            transient += 1
            self.transient_errors += 1
            if self.settings.direct_verbose in ("warn", "always"):
                self.echo(exchange_text(job, f"{problem} → trying again (no retry used)", _json(raw) or raw))
            if status != 429:  # after a 429 the limiter waits as long as the server asked
                await self.clock.sleep(self.backoff.delay(transient - 1))

    def _answer(self, job: DirectJob, status: int, raw: bytes) -> Outcome | None:
        """The outcome of an HTTP answer, or ``None`` when it is transient and worth another try."""
        body = _json(raw)
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if status == 401 or code == "insufficient_quota":
            what = "the API key was refused" if status == 401 else "the account has no quota left"
            raise DirectStop(
                RemoteError(
                    f"Direct requests stopped: {what} (HTTP {status}: {_error_message(body)}).",
                    remedy="Fix the API key or the account's quota, then run again (nothing is lost).",
                )
            )
        if status in TRANSIENT_STATUSES:
            return None
        return self._classify(job, status, raw, body)

    def _classify(self, job: DirectJob, status: int, raw: bytes, body: Any) -> Outcome:
        att = job.attempt
        if body is None and status != 200:
            body = {}  # an error page that is not JSON: classified by its status alone
        model = self.models.get(att.response_model) if att.response_model else None
        text = raw.decode("utf-8", "replace")
        outcome = classify_response(att.attempt_id, att.url, status, body, text, model)
        verbose = self.settings.direct_verbose
        if verbose == "always" or (verbose != "never" and outcome.kind is not Kind.SUCCESS):
            self.echo(exchange_text(job, f"HTTP {status} → {outcome.kind.value}", body or text))
        return outcome


def exchange_text(job: DirectJob, headline: str, answer: Any) -> str:
    """A request and its answer, for ``direct_verbose`` output."""
    att = job.attempt
    parts = [f"direct {att.custom_id}: POST {att.url}", pretty(_json(job.body)), f"← {headline}"]
    if answer:
        parts.append(pretty(answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer))
    return "\n".join(parts)


def pretty(value: Any, limit: int = 4000) -> str:
    """JSON (or text) for people, cut at ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def echo_stderr(text: str) -> None:
    """The default ``echo``: print to standard error."""
    print(text, file=sys.stderr, flush=True)


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _error_message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or body["error"].get("code") or "no message")
    return "no message"
