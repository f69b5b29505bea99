"""The live state one server shares between its routes and its batch runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchwright.server.backend import ModelBackend
from batchwright.server.config import ServerConfig
from batchwright.server.faults import FaultPlan, FaultState, load_fault_plan
from batchwright.server.ratelimit import RateLimiter
from batchwright.server.storage import Storage


@dataclass
class ServerState:
    """Configuration, storage, model backend and the current fault plan of one running server."""

    config: ServerConfig
    storage: Storage
    backend: ModelBackend
    faults: FaultState = field(init=False)
    limiter: RateLimiter | None = field(init=False)
    runner: Any = None
    direct_log: list[tuple] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.set_faults(self.config.faults)

    def set_faults(self, plan: FaultPlan | dict[str, Any] | str | None) -> None:
        """Replace the fault plan (counters, random streams and rate-limit windows start afresh)."""
        self.faults = FaultState(load_fault_plan(plan), self.config.seed)
        limits = self.faults.plan.rate_limits
        self.limiter = RateLimiter(limits) if limits and (limits.rpm or limits.tpm) else None

    def log_direct(self, row: tuple) -> None:
        """Record one direct request for the ledger (written in batches of 256)."""
        self.direct_log.append(row)
        if len(self.direct_log) >= 256:
            self.flush_direct_log()

    def flush_direct_log(self) -> None:
        """Write buffered direct-request records to storage."""
        if self.direct_log:
            rows, self.direct_log = self.direct_log, []
            self.storage.add_direct_requests(rows)
