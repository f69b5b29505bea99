"""The multi-opinion policy: how many answers to collect and when to stop."""

from __future__ import annotations

import pytest

from batchwright.errors import ConfigError
from batchwright.tasks.opinions import Opinion, OpinionPolicy

POLICY = OpinionPolicy(min_opinions=3, max_opinions=5, confidence=0.78)


def ops(*values: str, weight: float = 1.0) -> list[Opinion]:
    return [Opinion(value, weight) for value in values]


def test_starts_with_min_opinions() -> None:
    assert POLICY.initial_requests() == 3
    verdict = POLICY.verdict([])
    assert not verdict.done and verdict.more == 3 and verdict.value is None


def test_waits_for_min_opinions_even_when_unanimous() -> None:
    verdict = POLICY.verdict(ops("joy", "joy"))
    assert not verdict.done and verdict.more == 1
    assert verdict.value == "joy" and verdict.confident


def test_unanimous_min_opinions_stop_early() -> None:
    verdict = POLICY.verdict(ops("joy", "joy", "joy"))
    assert verdict.done and verdict.more == 0 and verdict.value == "joy" and verdict.confident
    assert verdict.shares == {"joy": 1.0} and verdict.opinions == 3


def test_split_asks_for_exactly_the_answers_that_could_reach_confidence() -> None:
    # 2 of 3: (2 + n) / (3 + n) >= 0.78 needs n >= 1.55, so 2 more (within max 5).
    verdict = POLICY.verdict(ops("joy", "joy", "fear"))
    assert not verdict.done and verdict.more == 2
    assert verdict.value == "joy" and not verdict.confident
    assert verdict.shares == pytest.approx({"joy": 2 / 3, "fear": 1 / 3})


def test_confident_after_more_answers() -> None:
    verdict = POLICY.verdict(ops("joy", "joy", "fear", "joy", "joy"))
    assert verdict.done and verdict.confident and verdict.value == "joy"
    assert verdict.confidence == pytest.approx(0.8)


def test_stops_when_confidence_is_unreachable_within_max() -> None:
    # 1 of 3 each: even 2 unanimous answers give 3/5 = 0.6 < 0.78, so stop now.
    verdict = POLICY.verdict(ops("joy", "fear", "anger"))
    assert verdict.done and verdict.more == 0 and not verdict.confident
    assert verdict.value is None  # a three-way tie has no majority


def test_max_opinions_ends_sampling_without_confidence() -> None:
    verdict = POLICY.verdict(ops("joy", "joy", "fear", "joy", "fear"))
    assert verdict.done and not verdict.confident and verdict.value == "joy"


def test_weights_count_unclear_answers_half() -> None:
    opinions = [Opinion("joy", 1.0), Opinion("joy", 1.0), Opinion("fear", 0.5)]
    verdict = POLICY.verdict(opinions)
    assert verdict.confidence == pytest.approx(0.8) and verdict.confident and verdict.done


def test_failed_requests_use_up_the_allowance() -> None:
    verdict = POLICY.verdict(ops("joy", "fear"), failed=3)
    assert verdict.done and verdict.more == 0
    verdict = POLICY.verdict(ops("joy"), failed=1)
    assert not verdict.done and verdict.more == 1


def test_single_sampling_policy() -> None:
    single = OpinionPolicy(1, 1, 0.5)
    assert single.initial_requests() == 1
    assert single.verdict(ops("x")).done


def test_confidence_one_requires_unanimity() -> None:
    strict = OpinionPolicy(2, 4, 1.0)
    assert strict.verdict(ops("a", "a")).done
    verdict = strict.verdict(ops("a", "b"))
    assert verdict.done and not verdict.confident


@pytest.mark.parametrize(("low", "high", "confidence"), [(0, 3, 0.5), (4, 3, 0.5), (1, 3, 0.0), (1, 3, 1.5)])
def test_bad_policies_are_config_errors(low: int, high: int, confidence: float) -> None:
    with pytest.raises(ConfigError):
        OpinionPolicy(low, high, confidence)
