"""Plain data the engine takes in and gives back: request specs, outcomes, results and run summaries."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import pydantic

from batchwright.errors import ExitCode

#: Endpoints the engine accepts (the Batch API's set).
ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions")


@dataclass(slots=True)
class RequestSpec:
    """One request to send: ``body`` is the JSON body for ``url`` (it must name its ``model``).

    ``response_model``: a pydantic model turned into a strict JSON-schema output format; results are parsed
    back into it (a parse or validation failure is a retryable error). ``meta``: JSON-able data handed back
    with the result.
    """

    item_key: str | None
    url: str
    body: dict[str, Any]
    response_model: type[pydantic.BaseModel] | None = None
    meta: dict[str, Any] | None = None


class Kind(str, enum.Enum):
    """How one attempt ended, for retry decisions."""

    SUCCESS = "success"
    RETRY = "retry"
    """Retryable; uses one of the request's retries."""
    REQUEUE = "requeue"
    """Not processed (expired, cancelled, token limit, lost in a crash): back to pending, no retry used."""
    FATAL = "fatal"
    """Not retryable (unless ``retry_fatal``)."""


@dataclass(slots=True)
class Outcome:
    """The classified result of one attempt, before it is committed."""

    attempt_id: int
    kind: Kind
    status_code: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    response: str | None = None
    """The raw result (batch line or direct response body) as stored."""
    body: dict[str, Any] | None = None
    """The parsed response body (for the result hook)."""
    parsed: pydantic.BaseModel | None = None


@dataclass(slots=True)
class Result:
    """A final (or candidate final) result as the task layer sees it in the result hook."""

    request_id: int
    item_key: str | None
    custom_id: str
    succeeded: bool
    meta: dict[str, Any] | None
    body: dict[str, Any] | None
    """The response body (success) or error body, when there was one."""
    parsed: pydantic.BaseModel | None
    error_code: str | None
    error_message: str | None
    mode: str
    """``batch`` or ``direct``."""
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float = 0.0


class StopReason(str, enum.Enum):
    """Why :meth:`Engine.run` returned."""

    DONE = "done"
    WORK_LEFT = "work_left"
    """Nothing more could be done now (in-flight batches with wait=False, limits, only_process)."""
    BUDGET = "budget"
    INTERRUPTED = "interrupted"
    SAFETY_STOP = "safety_stop"
    DRYRUN = "dryrun"

    @property
    def exit_code(self) -> ExitCode:
        """The CLI exit code for this reason."""
        if self in (StopReason.DONE, StopReason.DRYRUN):
            return ExitCode.DONE
        if self is StopReason.SAFETY_STOP:
            return ExitCode.SAFETY_STOP
        return ExitCode.WORK_LEFT


@dataclass
class PlannedBatch:
    """A batch as packing would cut it (dry runs report these)."""

    url: str
    model: str
    requests: int
    nbytes: int
    pred_input_tokens: int
    pred_output_tokens: int
    pred_cost: float


@dataclass
class RunSummary:
    """What one :meth:`Engine.run` did and why it stopped."""

    reason: StopReason
    message: str
    batches_submitted: int = 0
    batches_committed: int = 0
    requests_succeeded: int = 0
    requests_failed: int = 0
    requests_retried: int = 0
    requests_requeued: int = 0
    pending: int = 0
    in_flight: int = 0
    pred_cost_sent: float = 0.0
    true_cost: float = 0.0
    plan: list[PlannedBatch] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        """The CLI exit code."""
        return self.reason.exit_code

    def one_line(self) -> str:
        """A one-line summary for logs and the end of a run."""
        return (
            f"{self.reason.value}: {self.message} — {self.requests_succeeded} succeeded, "
            f"{self.requests_failed} failed, {self.requests_retried} retried, {self.pending} pending, "
            f"{self.in_flight} in flight, true cost ${self.true_cost:.4f}"
        )
