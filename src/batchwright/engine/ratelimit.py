"""Client-side rate limiting for the direct API: pacing, concurrency, adaptation and backoff.

:class:`RateLimiter` paces requests with two token buckets (requests per minute and predicted tokens per
minute), caps how many requests are in flight, and adapts to what the server says: it honours
``retry-after``, mirrors ``x-ratelimit-remaining-*``/``x-ratelimit-reset-*`` and adopts
``x-ratelimit-limit-*``, and slows down on 429 (the headers are read by
:mod:`batchwright.engine.ratelimit_headers`, which also holds the jittered :class:`Backoff`).

Guarantee: with a limit of ``N`` per minute, at most ``N`` requests (or predicted tokens) are sent in any
window of 60 seconds, and still at most ``N`` arrive at the server in any 60-second window when the
network delays them by up to ``jitter_margin`` seconds more or less than each other. Sends are paced
evenly (a burst of at most ``burst_seconds`` worth), so finer-grained server windows are respected too.

All time comes from an injectable :class:`Clock`, so the behaviour is testable without real waiting.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from batchwright.engine.ratelimit_headers import ServerLimitView, parse_retry_after
from batchwright.errors import ConfigError

WINDOW_SECONDS = 60.0
"""The window that per-minute limits refer to."""


class Clock(Protocol):
    """A monotonic clock and a way to wait on it."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class MonotonicClock:
    """The real clock: :func:`time.monotonic` and :func:`asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# --- one per-minute limit -------------------------------------------------------------------------------


class _Lane:
    """One per-minute limit: an even pacer (a token bucket that may go into debt) and an exact window log.

    The pacer spreads sends out at ``limit / window`` per second, first come first served, so a large
    request is never starved by small ones. The log holds every send of the last ``window`` seconds and
    delays a send until the window has room for it, which bounds the total exactly whatever the sizes.
    """

    def __init__(
        self, per_minute: float, *, burst_seconds: float, log_window: float, pace_window: float, now: float
    ) -> None:
        self.window = log_window
        self.pace_window = pace_window
        self.burst_seconds = burst_seconds
        self.level = 0.0
        self.updated = now
        self.set_limit(per_minute, now)
        self.level = self.capacity
        self._log: deque[tuple[float, float]] = deque()
        self._log_sum = 0.0

    def set_limit(self, per_minute: float, now: float) -> None:
        self._refill(now)
        self.per_minute = per_minute
        self.rate = per_minute / self.pace_window
        self.capacity = max(1.0, self.rate * self.burst_seconds)
        self.level = min(self.level, self.capacity)

    def _refill(self, at: float) -> None:
        if at > self.updated:
            if self.level < self.capacity:
                self.level = min(self.capacity, self.level + (at - self.updated) * self.rate)
            self.updated = at

    def pace(self, amount: float, at: float) -> float:
        """Debit ``amount`` from the pacer at time ``at``; return the earliest time it may be sent."""
        self._refill(at)
        self.level -= amount
        return at if self.level >= 0 else at + -self.level / self.rate

    def fit(self, amount: float, at: float) -> float:
        """The earliest time from ``at`` when the window has room for ``amount`` (times never decrease)."""
        amount = min(amount, self.per_minute)  # an oversized request goes alone
        while self._log and self._log[0][0] <= at - self.window:
            self._log_sum -= self._log.popleft()[1]
        while self._log and self._log_sum + amount > self.per_minute + 1e-9:
            sent_at, sent = self._log.popleft()
            self._log_sum -= sent
            at = max(at, sent_at + self.window)
        return at

    def record(self, amount: float, at: float) -> None:
        self._log.append((at, min(amount, self.per_minute)))
        self._log_sum += min(amount, self.per_minute)

    def forget_after(self, moment: float, restart: float) -> None:
        """Void reservations for sends after ``moment`` and let the pacer start empty at ``restart``."""
        while self._log and self._log[-1][0] > moment:
            self._log_sum -= self._log.pop()[1]
        self.level = 0.0
        self.updated = max(self.updated, restart)

    def drain_to(self, level: float, at: float) -> None:
        """Lower the pacer to at most ``level`` (what the server says is left)."""
        self._refill(at)
        self.level = min(self.level, level)


# --- the limiter ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimits:
    """Client-side limits. ``None`` means no limit of that kind (the server's headers may still set one)."""

    max_rpm: float | None = None
    max_tpm: float | None = None
    concurrency: int = 16

    def __post_init__(self) -> None:
        for name in ("max_rpm", "max_tpm"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"{name} must be a positive number, got {value!r}.", remedy="Omit it for no limit."
                )
        if self.concurrency < 1:
            raise ConfigError(
                f"direct_concurrency must be at least 1, got {self.concurrency}.",
                remedy="Use 1 for serial requests.",
            )


@dataclass(frozen=True)
class LimiterSnapshot:
    """Current send rates against the effective limits (for progress displays)."""

    in_flight: int
    rpm: float
    tpm: float
    rpm_limit: float | None
    tpm_limit: float | None
    concurrency_limit: int
    paused_seconds: float


class Permit:
    """One admitted request: hand it to :meth:`RateLimiter.observe` with the answer, or release it."""

    __slots__ = ("_limiter", "released", "tokens")

    def __init__(self, limiter: RateLimiter, tokens: float) -> None:
        self._limiter = limiter
        self.tokens = tokens
        self.released = False

    def release(self) -> None:
        """Free the concurrency slot (idempotent)."""
        if not self.released:
            self.released = True
            self._limiter._release(self.tokens)


_DIMENSIONS = ("requests", "tokens")


class RateLimiter:
    """Admits requests so that limits are never exceeded, adapting to what the server reports.

    Use ``permit = await limiter.acquire(tokens)`` right before sending, then ``limiter.observe(status,
    headers, permit)`` with the answer (``status`` ``None`` when there was no HTTP answer).
    """

    def __init__(
        self,
        limits: RateLimits,
        *,
        clock: Clock | None = None,
        burst_seconds: float = 0.5,
        jitter_margin: float = 0.5,
        slowdown_factor: float = 0.5,
        recovery_per_success: float = 0.02,
        min_factor: float = 0.1,
    ) -> None:
        self.limits = limits
        self.clock: Clock = clock or MonotonicClock()
        self._burst = burst_seconds
        # The log window is stretched by the jitter margin: sends that are at most `limit` per 60.5 s stay at
        # most `limit` per 60 s at the server when the network shifts them by up to 0.5 s against each other.
        # The pacer runs at limit / (60 + burst + margin) per second, so the log rarely has to hold anything.
        self._log_window = WINDOW_SECONDS + jitter_margin
        self._pace_window = WINDOW_SECONDS + burst_seconds + jitter_margin
        self._slowdown = slowdown_factor
        self._recovery = recovery_per_success
        self._min_factor = min_factor
        now = self.clock.now()
        self._configured = {"requests": limits.max_rpm, "tokens": limits.max_tpm}
        self._server_limit: dict[str, float | None] = {"requests": None, "tokens": None}
        self._lanes: dict[str, _Lane | None] = {"requests": None, "tokens": None}
        self.factor = 1.0
        self._pause_until = now
        self._epoch = 0
        self._last_send_at = now
        self._in_flight = 0
        self._in_flight_tokens = 0.0
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._sent: deque[tuple[float, float]] = deque()
        self._sent_tokens = 0.0
        self._first_send: float | None = None
        self._update_lanes(now)

    # limits ------------------------------------------------------------------------------------------

    def effective_limit(self, dimension: str) -> float | None:
        """The per-minute limit for ``"requests"`` or ``"tokens"`` now: ours or the server's, if lower."""
        known = [v for v in (self._configured[dimension], self._server_limit[dimension]) if v is not None]
        return min(known) * self.factor if known else None

    @property
    def concurrency_limit(self) -> int:
        """How many requests may be in flight now (shrinks after 429s, recovers on success)."""
        return max(1, math.floor(self.limits.concurrency * self.factor))

    def _update_lanes(self, now: float) -> None:
        for dimension in _DIMENSIONS:
            limit = self.effective_limit(dimension)
            lane = self._lanes[dimension]
            if limit is None:
                self._lanes[dimension] = None
            elif lane is None:
                lane = self._lanes[dimension] = _Lane(
                    limit,
                    burst_seconds=self._burst,
                    log_window=self._log_window,
                    pace_window=self._pace_window,
                    now=now,
                )
                self._expire(now)  # a limit learned mid-run counts what was sent before it was known
                for sent_at, tokens in self._sent:
                    lane.record(1.0 if dimension == "requests" else tokens, sent_at)
            elif lane.per_minute != limit:
                lane.set_limit(limit, now)

    # admission ---------------------------------------------------------------------------------------

    def reserve(self, tokens: float) -> float:
        """Book the send of one request of ``tokens`` predicted tokens; return how long to wait for it."""
        now = self.clock.now()
        start = max(now, self._pause_until)
        at = max(start, self._last_send_at)
        amounts = {"requests": 1.0, "tokens": float(tokens)}
        for dimension in _DIMENSIONS:
            lane = self._lanes[dimension]
            if lane is not None:
                at = max(at, lane.pace(amounts[dimension], start))
        for dimension in _DIMENSIONS:
            lane = self._lanes[dimension]
            if lane is not None:
                at = max(at, lane.fit(amounts[dimension], at))
        for dimension in _DIMENSIONS:
            lane = self._lanes[dimension]
            if lane is not None:
                lane.record(amounts[dimension], at)
        self._last_send_at = at
        return at - now

    async def acquire(self, tokens: float) -> Permit:
        """Wait for a concurrency slot and for the rate limits; return the permit to send one request."""
        await self._acquire_slot()
        try:
            while True:
                epoch = self._epoch
                wait = self.reserve(tokens)
                if wait > 0:
                    await self.clock.sleep(wait)
                if epoch == self._epoch:
                    break  # no pause began while waiting (a pause voids the booking: book again behind it)
        except BaseException:
            self._in_flight -= 1
            self._wake_slot_waiters()
            raise
        self._record_send(tokens)
        return Permit(self, tokens)

    async def _acquire_slot(self) -> None:
        while self._in_flight >= self.concurrency_limit:
            waiter = asyncio.get_running_loop().create_future()
            self._slot_waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._slot_waiters:
                    self._slot_waiters.remove(waiter)
                elif not waiter.cancelled():
                    self._wake_slot_waiters()  # pass on the wake-up we were given
                raise
        self._in_flight += 1

    def _release(self, tokens: float) -> None:
        self._in_flight -= 1
        self._in_flight_tokens -= tokens
        self._wake_slot_waiters()

    def _wake_slot_waiters(self) -> None:
        free = self.concurrency_limit - self._in_flight
        while free > 0 and self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    # measurement -------------------------------------------------------------------------------------

    def _record_send(self, tokens: float) -> None:
        now = self.clock.now()
        if self._first_send is None:
            self._first_send = now
        self._sent.append((now, float(tokens)))
        self._sent_tokens += float(tokens)
        self._in_flight_tokens += float(tokens)
        self._expire(now)

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0][0] <= now - WINDOW_SECONDS:
            self._sent_tokens -= self._sent.popleft()[1]

    def snapshot(self) -> LimiterSnapshot:
        """Send rates per minute over the last 60 s (or since the first send), against the limits in force."""
        now = self.clock.now()
        self._expire(now)
        span = WINDOW_SECONDS if self._first_send is None else min(WINDOW_SECONDS, now - self._first_send)
        scale = WINDOW_SECONDS / max(span, 1.0)
        return LimiterSnapshot(
            in_flight=self._in_flight,
            rpm=len(self._sent) * scale,
            tpm=max(0.0, self._sent_tokens) * scale,
            rpm_limit=self.effective_limit("requests"),
            tpm_limit=self.effective_limit("tokens"),
            concurrency_limit=self.concurrency_limit,
            paused_seconds=max(0.0, self._pause_until - now),
        )

    # adaptation --------------------------------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds``; requests already waiting book again behind the pause."""
        now = self.clock.now()
        until = now + max(0.0, seconds)
        if until > self._pause_until:
            self._pause_until = until
            self._epoch += 1
            self._last_send_at = min(self._last_send_at, now)
            for lane in self._lanes.values():
                if lane is not None:
                    lane.forget_after(now, until)

    def observe(self, status: int | None, headers: Mapping[str, str], permit: Permit | None = None) -> None:
        """Adapt to one answer (``status`` ``None`` = no HTTP answer) and release its permit."""
        now = self.clock.now()
        headers = {  # only the headers read here, with lower-case names
            name.lower(): value
            for name, value in headers.items()
            if name[:1] in "xXrR" and name.lower().startswith(("x-ratelimit-", "retry-after"))
        }
        if headers:
            in_flight = (self._in_flight - 1, self._in_flight_tokens - (permit.tokens if permit else 0.0))
            self._adopt_server_limits(headers, now, in_flight)
        if status == 429:
            self.factor = max(self._min_factor, self.factor * self._slowdown)
            self._update_lanes(now)
            retry_after = parse_retry_after(headers)
            self.pause(retry_after if retry_after is not None else self._fallback_pause())
        elif status is not None and 200 <= status < 300 and self.factor < 1.0:
            self.factor = min(1.0, self.factor + self._recovery)
            self._update_lanes(now)
        if permit is not None:
            permit.release()
        else:
            self._wake_slot_waiters()

    def _fallback_pause(self) -> float:
        lane = self._lanes["requests"]
        return 1.0 if lane is None else max(1.0 / lane.rate, 0.05)

    def _adopt_server_limits(
        self, headers: Mapping[str, str], now: float, in_flight: tuple[float, float]
    ) -> None:
        views = {dimension: ServerLimitView.parse(headers, dimension) for dimension in _DIMENSIONS}
        changed = False
        for dimension, view in views.items():
            if view.limit is not None and view.limit > 0 and view.limit != self._server_limit[dimension]:
                self._server_limit[dimension] = view.limit
                changed = True
        if changed:
            self._update_lanes(now)
        for (dimension, view), others in zip(views.items(), in_flight, strict=True):
            if view.remaining is None:
                continue
            # `remaining` counts this request; others still in flight may not be counted yet: assume so.
            left = view.remaining - max(0.0, others)
            lane = self._lanes[dimension]
            if lane is not None:
                lane.drain_to(left, now)
            elif left < 1 and view.reset_seconds is not None:
                self.pause(view.reset_seconds)
