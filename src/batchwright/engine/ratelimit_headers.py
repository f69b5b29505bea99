"""What rate-limit answers say, and how long to back off: header parsing and jittered backoff.

Used by :mod:`batchwright.engine.ratelimit`; the formats are the OpenAI API's (``retry-after`` in seconds or
as an HTTP date, ``retry-after-ms``, ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` with reset
durations such as ``"1s"``, ``"6m0s"`` or ``"20ms"``).
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

TRANSIENT_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
"""HTTP statuses that say "try again later" rather than "this request is wrong"."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float | None:
    """Seconds in a rate-limit reset value: ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"`` or ``"0.5"``.

    Returns ``None`` for anything else (the caller then ignores the header).
    """
    text = text.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    return total if position == len(text) else None


def parse_retry_after(headers: Mapping[str, str], wall_now: float | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date).

    ``wall_now`` is the current Unix time (for the date form); ``None`` means :func:`time.time`.
    """
    value = _header(headers, "retry-after-ms")
    if value is not None:
        try:
            milliseconds = float(value)
        except ValueError:
            milliseconds = math.nan
        if math.isfinite(milliseconds) and milliseconds >= 0:
            return milliseconds / 1000.0
    value = _header(headers, "retry-after")
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    try:
        moment = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, moment - (time.time() if wall_now is None else wall_now))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = _header(headers, name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


@dataclass(frozen=True)
class ServerLimitView:
    """What one response's ``x-ratelimit-*`` headers say about one dimension (requests or tokens)."""

    limit: float | None
    remaining: float | None
    reset_seconds: float | None

    @classmethod
    def parse(cls, headers: Mapping[str, str], dimension: str) -> ServerLimitView:
        """Read ``x-ratelimit-{limit,remaining,reset}-{dimension}`` (bad or absent values: ``None``)."""
        reset = _header(headers, f"x-ratelimit-reset-{dimension}")
        return cls(
            limit=_number(headers, f"x-ratelimit-limit-{dimension}"),
            remaining=_number(headers, f"x-ratelimit-remaining-{dimension}"),
            reset_seconds=None if reset is None else parse_duration(reset),
        )


class Backoff:
    """Exponential backoff with full jitter: retry ``k`` waits uniformly in ``[0, min(cap, base·2^k)]``."""

    def __init__(self, base: float = 0.25, cap: float = 20.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        """Seconds to wait before transient retry number ``attempt`` (0 = the first retry)."""
        ceiling = min(self.cap, self.base * (2.0 ** min(attempt, 60)))
        return self._rng.uniform(0.0, ceiling)
