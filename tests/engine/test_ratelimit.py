"""The direct path's limiter: pacing, adaptation, header parsing and backoff, on an injected clock."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from bisect import bisect_left

import pytest

from batchwright.engine.ratelimit import RateLimiter, RateLimits
from batchwright.engine.ratelimit_headers import Backoff, ServerLimitView, parse_duration, parse_retry_after
from batchwright.errors import ConfigError


class ManualClock:
    """Virtual time: ``sleep`` parks the caller until the test advances the clock past its deadline."""

    def __init__(self) -> None:
        self.t = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + seconds, next(self._ids), future))
        await future

    def advance_to_next(self) -> bool:
        """Jump to the earliest sleeper's deadline and wake everyone due; False when nobody sleeps."""
        if not self._sleepers:
            return False
        self.t = max(self.t, self._sleepers[0][0])
        while self._sleepers and self._sleepers[0][0] <= self.t:
            heapq.heappop(self._sleepers)[2].set_result(None)
        return True


class SteppingClock:
    """Virtual time for one caller: ``sleep`` simply moves the clock forward."""

    def __init__(self) -> None:
        self.t = 50.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def max_in_window(times: list[float], window: float = 60.0, weights: list[float] | None = None) -> float:
    """The largest count (or weight sum) of events in any half-open window of ``window`` seconds."""
    weights = weights or [1.0] * len(times)
    prefix = [0.0, *itertools.accumulate(weights)]
    best = 0.0
    for i, start in enumerate(times):
        j = bisect_left(times, start + window)
        best = max(best, prefix[j] - prefix[i])
    return best


def send_sequentially(limiter: RateLimiter, clock: SteppingClock, tokens: list[float]) -> list[float]:
    async def run() -> list[float]:
        times = []
        for amount in tokens:
            permit = await limiter.acquire(amount)
            times.append(clock.now())
            limiter.observe(200, {}, permit)
        return times

    return asyncio.run(run())


# --- header parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("0.5", 0.5),
        ("17", 17.0),
        ("250us", 0.00025),
        ("2m", 120.0),
    ],
)
def test_parse_duration_reads_reset_formats(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5x", "-1", "1s 2", "s", "nan", "1s2"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    assert parse_duration(text) is None


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"Retry-After": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Sun, 22 Nov 2026 04:00:10 GMT"}, wall_now=1795320000.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_server_limit_view_parses_and_ignores_malformed() -> None:
    headers = {
        "x-ratelimit-limit-requests": "3000",
        "x-ratelimit-remaining-requests": "2999",
        "x-ratelimit-reset-requests": "20ms",
        "x-ratelimit-limit-tokens": "lots",
        "x-ratelimit-remaining-tokens": "150000",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert ServerLimitView.parse(headers, "requests") == ServerLimitView(3000.0, 2999.0, 0.02)
    assert ServerLimitView.parse(headers, "tokens") == ServerLimitView(None, 150000.0, 360.0)


# --- pacing ---------------------------------------------------------------------------------------------


def test_rpm_limit_holds_in_every_window_even_with_arrival_jitter() -> None:
    clock = SteppingClock()
    limiter = RateLimiter(RateLimits(max_rpm=600, concurrency=1000), clock=clock)
    times = send_sequentially(limiter, clock, [10.0] * 1500)
    assert max_in_window(times) <= 600
    # The network may delay any request by up to jitter_margin (0.5 s) more than an earlier one.
    assert max_in_window(times, window=60.5) <= 600
    # Paced, not bursty: no second holds more than a second's share plus the half-second burst.
    assert max_in_window(times, window=1.0) <= 600 / 60 * 1.5 + 1
    rate_per_minute = (len(times) - 1) / (times[-1] - times[0]) * 60
    assert 0.95 * 600 <= rate_per_minute <= 600


def test_tpm_limit_uses_predicted_tokens_and_never_starves_a_large_request() -> None:
    clock = SteppingClock()
    limiter = RateLimiter(RateLimits(max_tpm=60_000, concurrency=1000), clock=clock)
    rng = random.Random(7)
    tokens = [float(rng.choice([50, 200, 900, 5000])) for _ in range(400)]
    times = send_sequentially(limiter, clock, tokens)
    assert max_in_window(times, weights=tokens) <= 60_000
    assert max_in_window(times, window=60.5, weights=tokens) <= 60_000
    sent_per_minute = sum(tokens[1:]) / (times[-1] - times[0]) * 60
    assert sent_per_minute >= 0.9 * 60_000  # requests of up to 8% of the limit cost a little pacing


def test_no_limits_means_no_waiting() -> None:
    clock = SteppingClock()
    limiter = RateLimiter(RateLimits(concurrency=4), clock=clock)
    times = send_sequentially(limiter, clock, [100.0] * 50)
    assert times == [50.0] * 50


def test_reservations_are_first_come_first_served() -> None:
    limiter = RateLimiter(RateLimits(max_tpm=6100), clock=SteppingClock())
    first = limiter.reserve(5000)  # goes into debt
    second = limiter.reserve(10)
    assert first > 0
    assert second > first


def test_bad_limits_are_rejected_with_a_remedy() -> None:
    with pytest.raises(ConfigError, match="max_rpm"):
        RateLimits(max_rpm=0)
    with pytest.raises(ConfigError, match="direct_concurrency"):
        RateLimits(concurrency=0)


# --- adaptation -----------------------------------------------------------------------------------------


def test_429_honours_retry_after_and_slows_down_then_recovers() -> None:
    clock = SteppingClock()
    limiter = RateLimiter(RateLimits(max_rpm=1200, concurrency=8), clock=clock)
    assert limiter.reserve(1) == 0.0
    limiter.observe(429, {"retry-after": "2"})
    assert limiter.effective_limit("requests") == 600
    assert limiter.concurrency_limit == 4
    assert limiter.reserve(1) >= 2.0
    assert limiter.snapshot().paused_seconds == 2.0
    for _ in range(30):
        limiter.observe(200, {})
    assert limiter.effective_limit("requests") == 1200
    assert limiter.concurrency_limit == 8


def test_429_without_retry_after_still_pauses_and_the_slowdown_has_a_floor() -> None:
    limiter = RateLimiter(RateLimits(concurrency=10), clock=SteppingClock())
    for _ in range(20):
        limiter.observe(429, {})
    assert limiter.factor == pytest.approx(0.1)
    assert limiter.concurrency_limit == 1
    assert limiter.reserve(1) > 0


def test_server_limit_headers_are_adopted_when_lower_than_ours() -> None:
    limiter = RateLimiter(RateLimits(max_rpm=6000), clock=SteppingClock())
    limiter.observe(200, {"x-ratelimit-limit-requests": "120", "x-ratelimit-limit-tokens": "90000"})
    assert limiter.effective_limit("requests") == 120
    assert limiter.effective_limit("tokens") == 90000
    limiter.observe(200, {"x-ratelimit-limit-requests": "99999"})
    assert limiter.effective_limit("requests") == 6000


def test_exhausted_remaining_holds_sends_until_the_server_refills() -> None:
    clock = SteppingClock()
    limiter = RateLimiter(RateLimits(max_rpm=600), clock=clock)
    assert limiter.reserve(1) == 0.0
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "100ms"}
    limiter.observe(200, headers)
    # Nothing left at the server: the next request waits about one refill interval (61 s / 600).
    assert limiter.reserve(1) >= 60 / 600


def test_exhausted_remaining_without_a_known_limit_waits_for_the_reset() -> None:
    limiter = RateLimiter(RateLimits(), clock=SteppingClock())
    limiter.observe(200, {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1.5s"})
    assert limiter.reserve(1) == pytest.approx(1.5)
    limiter.observe(200, {"x-ratelimit-remaining-tokens": "500000", "x-ratelimit-reset-tokens": "1s"})
    assert limiter.reserve(1) == pytest.approx(1.5)  # a plentiful answer does not cut a pause short


# --- concurrency and pauses with concurrent callers -------------------------------------------------------


def test_concurrency_cap_blocks_until_a_permit_is_released() -> None:
    async def run() -> None:
        limiter = RateLimiter(RateLimits(concurrency=2), clock=ManualClock())
        first = await limiter.acquire(1)
        second = await limiter.acquire(1)
        third = asyncio.ensure_future(limiter.acquire(1))
        await settle()
        assert not third.done()
        assert limiter.snapshot().in_flight == 2
        limiter.observe(200, {}, first)
        await settle()
        assert third.done()
        second.release()
        (await third).release()
        assert limiter.snapshot().in_flight == 0

    asyncio.run(run())


def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    async def run() -> None:
        limiter = RateLimiter(RateLimits(concurrency=1), clock=ManualClock())
        held = await limiter.acquire(1)
        waiter = asyncio.ensure_future(limiter.acquire(1))
        await settle()
        waiter.cancel()
        await settle()
        held.release()
        again = await asyncio.wait_for(limiter.acquire(1), timeout=5)
        assert limiter.snapshot().in_flight == 1
        again.release()

    asyncio.run(run())


def test_requests_waiting_when_a_429_arrives_queue_again_behind_the_pause() -> None:
    async def run() -> None:
        clock = ManualClock()
        limiter = RateLimiter(RateLimits(max_rpm=60, concurrency=10), clock=clock, burst_seconds=0.0)
        start = clock.now()
        sent: list[float] = []

        async def one() -> None:
            permit = await limiter.acquire(1)
            sent.append(clock.now())
            permit.release()

        tasks = [asyncio.ensure_future(one()) for _ in range(4)]
        await settle()
        assert len(sent) == 1  # the bucket holds one request; the others are paced about 1 s apart
        limiter.observe(429, {"retry-after": "30"})
        while clock.advance_to_next():
            await settle()
        await asyncio.gather(*tasks)
        assert all(t >= start + 30 for t in sent[1:])
        # After the pause the halved rate (30/min) spaces the re-queued requests about 2 s apart.
        gaps = [b - a for a, b in itertools.pairwise(sent[1:])]
        assert all(gap >= 1.9 for gap in gaps)

    asyncio.run(run())


def test_snapshot_reports_rates_against_limits() -> None:
    clock = SteppingClock()
    limiter = RateLimiter(RateLimits(max_rpm=600, max_tpm=100_000), clock=clock)
    send_sequentially(limiter, clock, [100.0] * 300)
    snap = limiter.snapshot()
    assert snap.rpm_limit == 600 and snap.tpm_limit == 100_000
    assert 0.9 * 600 <= snap.rpm <= 600
    assert snap.tpm == pytest.approx(snap.rpm * 100)
    assert snap.in_flight == 0


# --- backoff --------------------------------------------------------------------------------------------


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    backoff = Backoff(base=0.5, cap=8.0, rng=random.Random(3))
    for attempt in range(10):
        ceiling = min(8.0, 0.5 * 2**attempt)
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling  # jitter spans the range
    assert Backoff(rng=random.Random(1)).delay(3) == Backoff(rng=random.Random(1)).delay(3)


def test_a_limit_learned_mid_run_counts_the_requests_already_sent() -> None:
    clock = SteppingClock()
    limiter = RateLimiter(RateLimits(concurrency=100), clock=clock)
    times = send_sequentially(limiter, clock, [1.0] * 50)  # no limit known yet: all at once
    limiter.observe(200, {"x-ratelimit-limit-requests": "60"})
    times += send_sequentially(limiter, clock, [1.0] * 40)
    assert max_in_window(times) <= 60
    assert max_in_window(times, window=60.5) <= 60
