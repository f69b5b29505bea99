"""Budgets: limits on requests, tokens and cost per batch, in flight, per session and per task.

A pure model, independent of the engine loop. The engine asks before it acts and reports what happened:

* ``check_batch(batch, request)`` — may ``request`` join a batch being packed? (batch level; a request that
  does not fit an *empty* batch is flagged ``request_too_large``: the limits are too strict for it);
* ``check_submit(predicted)`` — may a batch (or a direct request) with this predicted spend be submitted?
  (in-flight, session and task levels, against predicted spend still outstanding plus true spend settled);
* ``reserve(predicted)`` after submitting, ``settle(predicted, true)`` when its results arrive (the
  prediction is replaced by the true spend), ``release(predicted)`` when it ends without results.

Spend at the session and task levels is *effective* spend: true spend of settled work plus predicted spend of
work still in flight. So a budget is reached either by predictions (reserve before submit) or by true spend
reconciled as results arrive; both stop submission. A check answers ``None`` (allowed) or a
:class:`BudgetReached` whose message names the budget and the flag and setting that raise it. An in-flight
budget only pauses submission (``waits``) while work is in flight; a step that exceeds an empty batch or an
empty in-flight budget is ``request_too_large`` (no waiting can help).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


class BudgetLevel(str, Enum):
    """Where a budget applies."""

    BATCH = "batch"
    IN_FLIGHT = "in_flight"
    SESSION = "session"
    TASK = "task"


RESOURCES = ("requests", "tokens", "cost")
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Spend:
    """Requests, tokens (input + output) and cost in USD."""

    requests: int = 0
    tokens: int = 0
    cost: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.requests + other.requests, self.tokens + other.tokens, self.cost + other.cost)

    def __sub__(self, other: Spend) -> Spend:
        return Spend(self.requests - other.requests, self.tokens - other.tokens, self.cost - other.cost)


ZERO = Spend()


@dataclass(frozen=True)
class BudgetLimits:
    """Limits of one level; ``None`` means unlimited."""

    max_requests: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None

    def limit(self, resource: str) -> float | None:
        """The limit on ``resource`` (``requests``, ``tokens`` or ``cost``)."""
        return getattr(self, f"max_{resource}")


SETTING_PATTERNS = {
    BudgetLevel.BATCH: "max_batch_{}",
    BudgetLevel.IN_FLIGHT: "max_remote_{}",
    BudgetLevel.SESSION: "session_max_{}",
    BudgetLevel.TASK: "task_max_{}",
}
"""The settings' names of the budgets (:class:`batchwright.config.EngineSettings`), by level."""


def budget_setting(level: BudgetLevel, resource: str) -> str:
    """The configuration key of a budget, e.g. ``session_max_cost``."""
    return SETTING_PATTERNS[level].format(resource)


def budget_flag(level: BudgetLevel, resource: str) -> str:
    """The CLI flag of a budget, e.g. ``--session-max-cost`` (the key with dashes)."""
    return "--" + budget_setting(level, resource).replace("_", "-")


def limits_from_settings(settings: object) -> dict[BudgetLevel, BudgetLimits]:
    """Budget limits read from a settings object by the :data:`SETTING_PATTERNS` names (absent: unlimited)."""
    return {
        level: BudgetLimits(*(getattr(settings, budget_setting(level, r), None) for r in RESOURCES))
        for level in BudgetLevel
    }


_LEVEL_NAMES = {
    BudgetLevel.BATCH: "Batch",
    BudgetLevel.IN_FLIGHT: "In-flight",
    BudgetLevel.SESSION: "Session",
    BudgetLevel.TASK: "Task",
}


def _amount(resource: str, value: float) -> str:
    return f"${value:,.4f}" if resource == "cost" else f"{int(value):,} {resource}"


@dataclass(frozen=True)
class BudgetReached:
    """A budget that stops the next step: which one, how far, and how to raise it."""

    level: BudgetLevel
    resource: str
    limit: float
    spent: float
    """Spend at this level before the step (effective: true settled + predicted outstanding)."""
    requested: float
    """What the step would add (predicted)."""
    basis: str
    """``true`` when settled true spend alone reaches the limit, else ``predicted``."""

    @property
    def flag(self) -> str:
        """The CLI flag that raises this budget."""
        return budget_flag(self.level, self.resource)

    @property
    def setting(self) -> str:
        """The configuration key that raises this budget."""
        return budget_setting(self.level, self.resource)

    @property
    def request_too_large(self) -> bool:
        """True when the step alone exceeds an empty batch or an empty in-flight budget: waiting cannot help,
        the limit is too strict for it."""
        return self.level in (BudgetLevel.BATCH, BudgetLevel.IN_FLIGHT) and self.spent == 0

    @property
    def waits(self) -> bool:
        """True for an in-flight budget with work in flight: submission resumes once that work finishes."""
        return self.level is BudgetLevel.IN_FLIGHT and self.spent != 0

    @property
    def message(self) -> str:
        """One paragraph: the budget, the numbers, and the remedy."""
        name = f"{_LEVEL_NAMES[self.level]} {self.resource} budget"
        needs = _amount(self.resource, self.requested)
        limit = _amount(self.resource, self.limit)
        raise_it = f"raise it with {self.flag} (setting {self.setting})"
        if self.request_too_large:
            unit = "request" if self.level is BudgetLevel.BATCH else "batch"
            return f"{name} is too small for a single {unit}: it needs {needs}, limit {limit}; {raise_it}."
        basis = "true spend" if self.basis == "true" else "spent and reserved (predicted)"
        step = f", the next step needs {needs} more" if self.requested else ""
        if self.waits:
            outcome = f"Submission waits for work in flight to finish; or {raise_it}."
        else:
            outcome = f"Submission stopped; {raise_it} and run again."
        return f"{name} reached: {_amount(self.resource, self.spent)} {basis}{step}, limit {limit}. {outcome}"


@dataclass
class _Ledger:
    reserved: Spend = ZERO
    """Predicted spend of submitted work whose results have not arrived."""
    settled: Spend = ZERO
    """True spend of work whose results arrived."""

    @property
    def effective(self) -> Spend:
        return self.reserved + self.settled


def _exceeds(
    level: BudgetLevel, limits: BudgetLimits, ledger_spend: Spend, settled: Spend, step: Spend
) -> BudgetReached | None:
    for resource in RESOURCES:
        limit = limits.limit(resource)
        if limit is None:
            continue
        spent, requested = getattr(ledger_spend, resource), getattr(step, resource)
        if spent + requested - limit > _TOLERANCE * max(1.0, limit):  # float sums of costs: 3 × 0.1 ≠ 0.3
            basis = "true" if getattr(settled, resource) >= limit else "predicted"
            return BudgetReached(level, resource, limit, spent, requested, basis)
    return None


@dataclass
class Budgets:
    """Budget state of one engine session (see the module docstring for the protocol)."""

    limits: Mapping[BudgetLevel, BudgetLimits]
    task_settled: Spend = ZERO
    """True (or, where unknown, predicted) spend of the task's earlier sessions."""
    in_flight_reserved: Spend = ZERO
    """Predicted spend of work submitted by earlier sessions and still in flight."""
    _ledgers: dict[BudgetLevel, _Ledger] = field(init=False)

    def __post_init__(self) -> None:
        self._ledgers = {
            BudgetLevel.IN_FLIGHT: _Ledger(reserved=self.in_flight_reserved),
            BudgetLevel.SESSION: _Ledger(),
            BudgetLevel.TASK: _Ledger(reserved=self.in_flight_reserved, settled=self.task_settled),
        }

    def _limits(self, level: BudgetLevel) -> BudgetLimits:
        return self.limits.get(level) or BudgetLimits()

    def spent(self, level: BudgetLevel) -> Spend:
        """Effective spend at a stateful level (in flight, session, task)."""
        return self._ledgers[level].effective

    def true_spent(self, level: BudgetLevel) -> Spend:
        """True spend settled at the session or task level."""
        return self._ledgers[level].settled

    def check_batch(self, batch: Spend, request: Spend) -> BudgetReached | None:
        """May ``request`` join a batch whose predicted spend so far is ``batch``? ``None`` = yes."""
        return _exceeds(BudgetLevel.BATCH, self._limits(BudgetLevel.BATCH), batch, ZERO, request)

    def check_submit(self, predicted: Spend) -> BudgetReached | None:
        """May work with this predicted spend be submitted now? ``None`` = yes."""
        for level, ledger in self._ledgers.items():
            reached = _exceeds(level, self._limits(level), ledger.effective, ledger.settled, predicted)
            if reached is not None:
                return reached
        return None

    def room(self) -> tuple[float, float, float]:
        """Requests, tokens and cost still allowed before any in-flight, session or task budget is reached
        (``math.inf`` where unlimited; never negative): what the next batch may be cut to."""
        room = [math.inf, math.inf, math.inf]
        for level, ledger in self._ledgers.items():
            limits = self._limits(level)
            for i, resource in enumerate(RESOURCES):
                limit = limits.limit(resource)
                if limit is not None:
                    room[i] = min(room[i], max(0.0, limit - getattr(ledger.effective, resource)))
        return room[0], room[1], room[2]

    def reached(self) -> BudgetReached | None:
        """A budget already exceeded by current spend (e.g. true spend above prediction), else ``None``."""
        return self.check_submit(ZERO)

    def reserve(self, predicted: Spend) -> None:
        """Record submitted work (a batch or a direct request) by its predicted spend."""
        for ledger in self._ledgers.values():
            ledger.reserved += predicted

    def settle(self, predicted: Spend, true: Spend, *, this_session: bool = True) -> None:
        """Results arrived: replace the prediction of that work by its true spend.

        ``this_session=False`` for work submitted by an earlier session (it was never reserved here).
        """
        levels = [BudgetLevel.IN_FLIGHT, BudgetLevel.TASK] + ([BudgetLevel.SESSION] if this_session else [])
        for level in levels:
            ledger = self._ledgers[level]
            ledger.reserved -= predicted
            if level is not BudgetLevel.IN_FLIGHT:
                ledger.settled += true

    def release(self, predicted: Spend, *, this_session: bool = True) -> None:
        """Submitted work ended without results (cancelled, expired, failed): drop its reservation."""
        self.settle(predicted, ZERO, this_session=this_session)
