"""The durable batch engine: SQLite state, packing, limits, push/poll/collect, retries, reconciliation."""

from batchwright.engine.commit import CommitStats, OpenAttempt, OutcomeCommitter, ResultContext, ResultHook
from batchwright.engine.engine import Engine
from batchwright.engine.types import (
    ENDPOINTS,
    Kind,
    Outcome,
    PlannedBatch,
    RequestSpec,
    Result,
    RunSummary,
    StopReason,
)

__all__ = [
    "ENDPOINTS",
    "CommitStats",
    "Engine",
    "Kind",
    "OpenAttempt",
    "Outcome",
    "OutcomeCommitter",
    "PlannedBatch",
    "RequestSpec",
    "Result",
    "ResultContext",
    "ResultHook",
    "RunSummary",
    "StopReason",
]
