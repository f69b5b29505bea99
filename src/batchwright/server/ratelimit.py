"""RPM/TPM limits on direct endpoints over a sliding one-minute window, with the real 429 answer."""

from __future__ import annotations

import time
from collections import deque

from batchwright.server.api_errors import APIError
from batchwright.server.faults import RateLimits

WINDOW = 60.0


class RateLimiter:
    """Admits or refuses direct requests against requests-per-minute and tokens-per-minute limits."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._events: deque[tuple[float, int]] = deque()
        self._tokens = 0

    def applies_to(self, url: str) -> bool:
        """True when ``url`` is rate limited."""
        return url in self.limits.endpoints

    def _expire(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - WINDOW:
            self._tokens -= self._events.popleft()[1]

    def _wait_until(self, now: float, enough: int, key: int) -> float:
        """Seconds until the window frees ``enough`` of requests (key 0) or tokens (key 1)."""
        freed = 0
        for stamp, tokens in self._events:
            freed += 1 if key == 0 else tokens
            if freed >= enough:
                return max(0.001, stamp + WINDOW - now)
        return WINDOW

    def headers(self) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers describing the current window."""
        now = time.monotonic()
        self._expire(now)
        rpm, tpm = self.limits.rpm, self.limits.tpm
        headers: dict[str, str] = {}
        if rpm:
            headers["x-ratelimit-limit-requests"] = str(rpm)
            headers["x-ratelimit-remaining-requests"] = str(max(0, rpm - len(self._events)))
            reset = self._wait_until(now, 1, 0) if self._events else 0.0
            headers["x-ratelimit-reset-requests"] = f"{reset:.3f}s"
        if tpm:
            headers["x-ratelimit-limit-tokens"] = str(tpm)
            headers["x-ratelimit-remaining-tokens"] = str(max(0, tpm - self._tokens))
            reset = self._wait_until(now, 1, 1) if self._events else 0.0
            headers["x-ratelimit-reset-tokens"] = f"{reset:.3f}s"
        return headers

    def admit(self, model: str, tokens: int) -> None:
        """Count one request of ``tokens`` input tokens, or raise the API's 429 when over a limit."""
        now = time.monotonic()
        self._expire(now)
        rpm, tpm = self.limits.rpm, self.limits.tpm
        if rpm and len(self._events) + 1 > rpm:
            wait = self._wait_until(now, len(self._events) + 1 - rpm, 0)
            self._refuse(model, "requests", "RPM", rpm, len(self._events), 1, wait)
        if tpm and self._tokens + tokens > tpm:
            wait = self._wait_until(now, self._tokens + tokens - tpm, 1) if tokens <= tpm else WINDOW
            self._refuse(model, "tokens", "TPM", tpm, self._tokens, tokens, wait)
        self._events.append((now, tokens))
        self._tokens += tokens

    def _refuse(
        self, model: str, kind: str, short: str, limit: int, used: int, requested: int, wait: float
    ) -> None:
        headers = self.headers()
        headers["retry-after"] = str(max(1, round(wait + 0.4999)))
        headers["retry-after-ms"] = str(int(wait * 1000))
        raise APIError(
            429,
            f"Rate limit reached for {model} in organization org-local on {kind} per min ({short}): "
            f"Limit {limit}, Used {used}, Requested {requested}. Please try again in {wait:.3f}s. "
            "Visit https://platform.openai.com/account/rate-limits to learn more.",
            type=kind,
            code="rate_limit_exceeded",
            headers=headers,
        )
