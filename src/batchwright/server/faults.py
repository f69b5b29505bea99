"""Fault plans: what the server breaks, where, and how often — deterministic under a seed.

A plan is a YAML/JSON file, a mapping or a :class:`FaultPlan`. Every rule is targeted by a trigger:
``skip: K`` (ignore the first K matching events), ``first: N`` (only the N events after those),
``probability: p`` (seeded; default 1) and ``count: N`` (fire at most N times). Example::

    seed: 7
    http:                       # direct and Files/Batches endpoints
      - {endpoint: "POST /v1/batches", kind: error, status: 500, when: after, first: 1}
      - {endpoint: "POST /v1/files", kind: timeout, seconds: 5, first: 1}
      - {endpoint: "GET /v1/batches/*", kind: reset, probability: 0.1}
      - {endpoint: "*", kind: latency, seconds: 0.05}
    batches:                    # whole-batch behaviour, decided when a batch is created
      - {kind: fail_validation, first: 1}
      - {kind: expire, after_requests: 10}
      - {kind: stall, after_requests: 5}           # stays in_progress until cancelled or expired
      - {kind: stall_finalizing, seconds: 3}       # real seconds (omit: stays finalizing until cancelled)
      - {kind: slow_cancel, seconds: 2}            # real seconds in cancelling
    requests:                   # per request inside batches
      - {status: 500, probability: 0.05}
      - {status: 429, first: 3}
    output:                     # lines of output files
      - {kind: malformed, first: 1}
      - {kind: duplicated, probability: 0.01}
      - {kind: missing, count: 2}
    shuffle_output: true
    rate_limits: {rpm: 600, tpm: 100000}          # direct endpoints only
"""

from __future__ import annotations

import fnmatch
import random
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from batchwright.errors import ConfigError

DIRECT_ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions")


class Trigger(BaseModel):
    """When a rule fires among the events it matches."""

    model_config = ConfigDict(extra="forbid")

    skip: int = Field(0, ge=0, description="Ignore the first N matching events.")
    first: int | None = Field(None, ge=0, description="Only the first N matching events (after skip).")
    probability: float = Field(1.0, ge=0.0, le=1.0, description="Chance per matching event (seeded).")
    count: int | None = Field(None, ge=0, description="Fire at most N times in total.")


class HttpFault(Trigger):
    """An HTTP-level fault on an endpoint ("METHOD /v1/path" glob, or a path glob, or "*")."""

    endpoint: str = "*"
    kind: Literal["error", "timeout", "reset", "latency"] = "error"
    status: int = Field(500, description="HTTP status for kind=error: 429, 500, 502, 503, ...")
    when: Literal["before", "after"] = "before"
    seconds: float = Field(30.0, ge=0.0, description="Latency, or how long a timeout hangs (real seconds).")
    retry_after: float = Field(1.0, ge=0.0, description="retry-after seconds on 429 answers.")

    def matches(self, method: str, path: str) -> bool:
        """True when this rule targets ``method path``."""
        pattern = self.endpoint.strip()
        if " " in pattern:
            want_method, want_path = pattern.split(None, 1)
            return want_method.upper() in (method, "*") and fnmatch.fnmatchcase(path, want_path)
        return fnmatch.fnmatchcase(path, pattern)


class BatchFault(Trigger):
    """A whole-batch fault, assigned to a batch when it is created."""

    kind: Literal["fail_validation", "expire", "stall", "stall_finalizing", "slow_cancel"]
    after_requests: int = Field(0, ge=0, description="expire/stall: after this many processed requests.")
    seconds: float | None = Field(None, ge=0.0, description="stall_finalizing/slow_cancel: real seconds.")
    code: str = "invalid_request"
    message: str = "The batch failed validation (injected fault)."


class RequestFault(Trigger):
    """A request inside a batch answered with an error status instead of the model's answer."""

    status: int = 500


class OutputFault(Trigger):
    """Damage to the lines of output files."""

    kind: Literal["malformed", "duplicated", "missing"]


class RateLimits(BaseModel):
    """Requests-per-minute and tokens-per-minute limits on direct endpoints."""

    model_config = ConfigDict(extra="forbid")

    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    endpoints: list[str] = Field(default_factory=lambda: list(DIRECT_ENDPOINTS))


class FaultPlan(BaseModel):
    """Every fault the server injects. The empty plan injects nothing."""

    model_config = ConfigDict(extra="forbid")

    seed: int | None = None
    http: list[HttpFault] = Field(default_factory=list)
    batches: list[BatchFault] = Field(default_factory=list)
    requests: list[RequestFault] = Field(default_factory=list)
    output: list[OutputFault] = Field(default_factory=list)
    shuffle_output: bool = False
    rate_limits: RateLimits | None = None


def load_fault_plan(source: Any) -> FaultPlan:
    """A plan from a :class:`FaultPlan`, a mapping, a YAML/JSON file path, or None (no faults)."""
    if source is None:
        return FaultPlan()
    if isinstance(source, FaultPlan):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            source = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as error:
            raise ConfigError(
                f"Cannot read the fault plan {path}: {error.strerror}.",
                remedy="Pass an existing YAML or JSON file to --faults.",
            ) from error
        except yaml.YAMLError as error:
            raise ConfigError(
                f"The fault plan {path} is not valid YAML/JSON: {error}.", remedy="Fix the file's syntax."
            ) from error
    try:
        return FaultPlan.model_validate(source)
    except ValidationError as error:
        raise ConfigError(
            f"Invalid fault plan: {error}",
            remedy="See batchwright.server.faults for the plan format.",
        ) from error


class _RuleState:
    __slots__ = ("fired", "matched", "rng")

    def __init__(self, seed: str) -> None:
        self.matched = 0
        self.fired = 0
        self.rng = random.Random(seed)


class FaultState:
    """A plan plus its counters and seeded random streams (one per rule, so rules don't interfere)."""

    def __init__(self, plan: FaultPlan, seed: int) -> None:
        self.plan = plan
        self.seed = plan.seed if plan.seed is not None else seed
        self._rules: dict[tuple[str, int], _RuleState] = {}

    def fires(self, section: str, index: int, rule: Trigger, key: str | None = None) -> bool:
        """Count one matching event for ``rule`` and say whether it fires.

        With ``key`` (e.g. a batch and line), the probability draw depends on the key instead of the
        order of events, so concurrent batches cannot change each other's outcomes.
        """
        state = self._rules.get((section, index))
        if state is None:
            state = self._rules[(section, index)] = _RuleState(f"{self.seed}/{section}/{index}")
        state.matched += 1
        if state.matched <= rule.skip:
            return False
        if rule.first is not None and state.matched > rule.skip + rule.first:
            return False
        if rule.count is not None and state.fired >= rule.count:
            return False
        if rule.probability < 1.0:
            rng = state.rng if key is None else random.Random(f"{self.seed}/{section}/{index}/{key}")
            if rng.random() >= rule.probability:
                return False
        state.fired += 1
        return True

    def http_faults(self, method: str, path: str) -> list[HttpFault]:
        """The HTTP faults that fire for this call (latency rules first)."""
        fired = [
            rule
            for index, rule in enumerate(self.plan.http)
            if rule.matches(method, path) and self.fires("http", index, rule)
        ]
        return sorted(fired, key=lambda rule: rule.kind != "latency")

    def batch_faults(self) -> list[dict[str, Any]]:
        """The batch faults assigned to a newly created batch (stored with it, so restarts keep them)."""
        return [
            rule.model_dump(include={"kind", "after_requests", "seconds", "code", "message"})
            for index, rule in enumerate(self.plan.batches)
            if self.fires("batches", index, rule)
        ]

    def request_status(self, key: str) -> int | None:
        """An injected error status for the request ``key`` (batch and line) inside a batch, or None."""
        for index, rule in enumerate(self.plan.requests):
            if self.fires("requests", index, rule, key):
                return rule.status
        return None

    def output_damage(self, key: str) -> str | None:
        """How to damage output line ``key`` (file and position): malformed/duplicated/missing, or None."""
        for index, rule in enumerate(self.plan.output):
            if self.fires("output", index, rule, key):
                return rule.kind
        return None
