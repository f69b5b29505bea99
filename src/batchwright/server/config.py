"""Settings of the local batch server (one object for the CLI and the in-process runner)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchwright.errors import ConfigError

INSTANT = math.inf
"""``speed`` value for instant mode: batches run as fast as the machine allows, with no simulated delays."""

DEFAULT_API_KEY = "sk-batchwright-local"
"""The bearer key the server accepts when none is configured (printed at start)."""

MB = 1024 * 1024


@dataclass
class ServerConfig:
    """Everything that shapes one server: where state lives, how fast time runs, limits and faults.

    ``speed`` scales simulated time: phase durations and the 24h completion window are divided by it
    (``speed=60`` turns a minute into a second); ``INSTANT`` (``math.inf``) removes every delay and never
    expires batches unless a fault says so. ``backend`` replaces the model backend (default: the fake
    model, or ``upstream`` when set). ``faults`` is a :class:`~batchwright.server.faults.FaultPlan`,
    a mapping of the same shape, or a path to a YAML/JSON file.
    """

    data_dir: Path | str
    host: str = "127.0.0.1"
    port: int = 0
    speed: float = 1.0
    faults: Any = None
    api_key: str | None = None
    enqueued_token_limit: int = 2_000_000_000
    model_token_limits: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    upstream: str | None = None
    upstream_api_key: str | None = None
    upstream_concurrency: int = 16
    max_file_bytes: int = 200 * MB
    max_batch_input_bytes: int = 200 * MB
    storage_quota_bytes: int = 100 * 1024 * MB
    max_requests_per_batch: int = 50_000
    validation_seconds: float = 10.0
    requests_per_second: float = 50.0
    finalizing_seconds: float = 10.0
    completion_window_seconds: float = 24 * 3600.0
    log_requests: bool = False
    backend: Any = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not self.speed > 0:
            raise ConfigError(
                f"The server speed must be positive, got {self.speed!r}.",
                remedy="Use a factor like 60 (a minute per second), or INSTANT for no delays.",
            )

    @property
    def instant(self) -> bool:
        """True when batches run with no simulated delays."""
        return math.isinf(self.speed)

    @property
    def key(self) -> str:
        """The bearer key clients must send."""
        return self.api_key or DEFAULT_API_KEY

    def token_limit(self, model: str) -> int:
        """The enqueued-token limit for ``model`` (its own limit, else the global one)."""
        return self.model_token_limits.get(model, self.enqueued_token_limit)

    def delay(self, seconds: float) -> float:
        """Real seconds that a simulated wait of ``seconds`` takes at this speed (0 in instant mode)."""
        return 0.0 if self.instant else seconds / self.speed

    def window(self, seconds: float) -> float:
        """Real length of a deadline ``seconds`` long (expiry windows; unscaled in instant mode)."""
        return seconds if self.instant else seconds / self.speed
