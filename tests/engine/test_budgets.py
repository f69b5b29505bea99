"""Budgets at every level stop submission, on predicted spend and on true spend as results arrive."""

from __future__ import annotations

import math

import pytest

from batchwright.config import EngineSettings
from batchwright.engine.budgets import (
    ZERO,
    BudgetLevel,
    BudgetLimits,
    BudgetReached,
    Budgets,
    Spend,
    budget_flag,
    limits_from_settings,
)

REQUEST = Spend(requests=1, tokens=100, cost=0.01)


def pack_and_submit(budgets: Budgets, requests: int, batch_size: int) -> tuple[int, BudgetReached | None]:
    """A minimal engine loop: pack requests into batches (batch budget), submit while allowed."""
    submitted, pending = 0, requests
    while pending:
        batch = ZERO
        while pending and batch.requests < batch_size and budgets.check_batch(batch, REQUEST) is None:
            batch += REQUEST
            pending -= 1
        if batch == ZERO:
            return submitted, budgets.check_batch(ZERO, REQUEST)
        stop = budgets.check_submit(batch)
        if stop is not None:
            return submitted, stop
        budgets.reserve(batch)
        submitted += batch.requests
    return submitted, None


def test_no_limits_submit_everything():
    assert pack_and_submit(Budgets({}), 1000, 100) == (1000, None)


@pytest.mark.parametrize(
    ("limits", "batch_requests"),
    [
        (BudgetLimits(max_requests=30), 30),
        (BudgetLimits(max_tokens=2_500), 25),
        (BudgetLimits(max_cost=0.105), 10),
    ],
)
def test_batch_budget_closes_batches(limits, batch_requests):
    budgets = Budgets({BudgetLevel.BATCH: limits})
    batch = ZERO
    while budgets.check_batch(batch, REQUEST) is None:
        batch += REQUEST
    assert batch.requests == batch_requests
    assert pack_and_submit(budgets, 100, 1000) == (100, None)


def test_request_larger_than_an_empty_batch_is_flagged():
    budgets = Budgets({BudgetLevel.BATCH: BudgetLimits(max_tokens=50)})
    submitted, stop = pack_and_submit(budgets, 5, 10)
    assert submitted == 0
    assert stop is not None and stop.request_too_large
    assert "too small for a single request" in stop.message and "--max-batch-tokens" in stop.message


@pytest.mark.parametrize(
    ("level", "limits", "submitted", "flag"),
    [
        (BudgetLevel.IN_FLIGHT, BudgetLimits(max_requests=250), 200, "--max-remote-requests"),
        (BudgetLevel.SESSION, BudgetLimits(max_cost=3.0), 300, "--session-max-cost"),
        (BudgetLevel.TASK, BudgetLimits(max_tokens=45_000), 400, "--task-max-tokens"),
    ],
)
def test_each_level_stops_submission_with_a_message_naming_the_flag(level, limits, submitted, flag):
    budgets = Budgets({level: limits})
    count, stop = pack_and_submit(budgets, 1000, 100)
    assert count == submitted
    assert stop is not None and stop.level is level and stop.basis == "predicted"
    assert stop.flag == flag and flag in stop.message and stop.setting in stop.message


def test_in_flight_budget_frees_up_when_results_arrive():
    budgets = Budgets({BudgetLevel.IN_FLIGHT: BudgetLimits(max_requests=100)})
    batch = Spend(100, 10_000, 1.0)
    budgets.reserve(batch)
    assert budgets.check_submit(REQUEST) is not None
    budgets.settle(batch, Spend(100, 9_000, 0.9))
    assert budgets.check_submit(batch) is None
    assert budgets.spent(BudgetLevel.IN_FLIGHT) == ZERO
    assert budgets.spent(BudgetLevel.SESSION) == Spend(100, 9_000, 0.9)


def test_in_flight_budget_waits_while_work_is_in_flight_and_flags_batches_that_never_fit():
    budgets = Budgets({BudgetLevel.IN_FLIGHT: BudgetLimits(max_cost=1.0)})
    too_large = budgets.check_submit(Spend(10, 1_000, 1.5))
    assert too_large is not None and too_large.request_too_large and not too_large.waits
    assert "too small for a single batch" in too_large.message
    budgets.reserve(Spend(10, 1_000, 0.8))
    wait = budgets.check_submit(Spend(10, 1_000, 0.8))
    assert wait is not None and wait.waits and not wait.request_too_large
    assert "waits for work in flight" in wait.message and "--max-remote-cost" in wait.message
    session = Budgets({BudgetLevel.SESSION: BudgetLimits(max_cost=1.0)})
    session.reserve(Spend(10, 1_000, 0.8))
    stop = session.check_submit(Spend(10, 1_000, 0.8))
    assert stop is not None and not stop.waits and "Submission stopped" in stop.message


def test_true_spend_above_prediction_reaches_the_budget():
    budgets = Budgets({BudgetLevel.SESSION: BudgetLimits(max_cost=1.0)})
    predicted = Spend(10, 1_000, 0.5)
    budgets.reserve(predicted)
    assert budgets.reached() is None
    budgets.settle(predicted, Spend(10, 3_000, 1.5))  # the model answered far longer than predicted
    stop = budgets.reached()
    assert stop is not None and stop.basis == "true" and stop.spent == pytest.approx(1.5)
    assert "true spend" in stop.message and "--session-max-cost" in stop.message
    assert budgets.check_submit(REQUEST) is not None


def test_task_budget_counts_earlier_sessions_and_their_batches_in_flight():
    earlier_in_flight = Spend(50, 5_000, 0.5)
    budgets = Budgets(
        {BudgetLevel.TASK: BudgetLimits(max_cost=2.0), BudgetLevel.SESSION: BudgetLimits(max_cost=1.0)},
        task_settled=Spend(100, 10_000, 1.2),
        in_flight_reserved=earlier_in_flight,
    )
    assert budgets.spent(BudgetLevel.TASK).cost == pytest.approx(1.7)
    stop = budgets.check_submit(Spend(40, 4_000, 0.4))
    assert stop is not None and stop.level is BudgetLevel.TASK
    budgets.settle(earlier_in_flight, Spend(50, 2_000, 0.1), this_session=False)  # cheaper than predicted
    assert budgets.spent(BudgetLevel.SESSION) == ZERO
    assert budgets.check_submit(Spend(40, 4_000, 0.4)) is None


def test_release_drops_a_reservation_without_spend():
    budgets = Budgets({BudgetLevel.SESSION: BudgetLimits(max_requests=10)})
    budgets.reserve(Spend(10, 0, 0.0))
    assert budgets.check_submit(REQUEST) is not None
    budgets.release(Spend(10, 0, 0.0))
    assert budgets.check_submit(REQUEST) is None


def test_zero_cost_budget_still_allows_free_local_requests():
    budgets = Budgets({BudgetLevel.SESSION: BudgetLimits(max_cost=0.0)})
    assert budgets.check_submit(Spend(1, 100, 0.0)) is None
    assert budgets.check_submit(Spend(1, 100, 0.001)) is not None


def test_limits_and_flags_follow_the_engine_settings_names():
    limits = limits_from_settings(EngineSettings(session_max_cost=5.0, max_batch_requests=1000))
    assert limits[BudgetLevel.SESSION].max_cost == 5.0
    assert limits[BudgetLevel.BATCH].max_requests == 1000
    for level in BudgetLevel:
        for resource in ("requests", "cost"):
            setting = budget_flag(level, resource)[2:].replace("-", "_")
            assert setting in EngineSettings.model_fields, setting


def test_room_is_what_the_tightest_budget_still_allows():
    budgets = Budgets(
        {
            BudgetLevel.IN_FLIGHT: BudgetLimits(max_requests=100),
            BudgetLevel.SESSION: BudgetLimits(max_cost=2.0, max_requests=500),
            BudgetLevel.TASK: BudgetLimits(max_tokens=10_000),
        },
        task_settled=Spend(10, 4_000, 0.5),
    )
    assert budgets.room() == (100, 6_000, 2.0)
    budgets.reserve(Spend(60, 1_000, 1.5))
    assert budgets.room() == (40, 5_000, pytest.approx(0.5))
    budgets.settle(Spend(60, 1_000, 1.5), Spend(60, 7_000, 2.5))  # true spend over two limits
    assert budgets.room() == (100, 0, 0)
    assert Budgets({}).room() == (math.inf, math.inf, math.inf)
