"""Multi-opinion sampling: ask the model several times per item and stop once a confident majority exists.

The policy is pure arithmetic over the opinions received so far, so it is easy to test and to reason
about: an item starts with ``min_opinions`` requests; after each answer the policy either concludes
(a weighted majority reached ``confidence``, or ``max_opinions`` answers arrived, or no further answers
could still change the outcome) or says how many more requests could still lead to a confident
conclusion, and only those are sent.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from batchwright.errors import ConfigError


@dataclass(frozen=True)
class Opinion:
    """One answer: the ``value`` the model chose and the ``weight`` it carries (e.g. 0.5 when unsure)."""

    value: Hashable
    weight: float = 1.0


@dataclass(frozen=True)
class OpinionVerdict:
    """What the opinions so far say about an item.

    ``done`` is True when no more requests should be sent. ``more`` is the number of further
    answers to request (0 when done). ``value`` is the weighted majority (None when there is no
    answer or a tie at the top) and ``confidence`` its share of the total weight; ``confident``
    tells whether that share reached the policy's threshold. ``shares`` maps every value seen to its
    share of the total weight, largest first; ``opinions`` counts the answers received.
    """

    done: bool
    more: int
    value: Hashable | None
    confidence: float
    confident: bool
    shares: dict[Hashable, float]
    opinions: int


@dataclass(frozen=True)
class OpinionPolicy:
    """How many answers to collect per item and when a majority is confident enough to stop early.

    ``min_opinions`` answers are always collected (unless they fail for good), at most
    ``max_opinions`` are ever requested, and collection stops early once the top value holds at least
    ``confidence`` of the total weight. ``max_opinions == min_opinions == 1`` is plain single sampling.
    """

    min_opinions: int = 3
    max_opinions: int = 5
    confidence: float = 0.78

    def __post_init__(self) -> None:
        if self.min_opinions < 1:
            raise ConfigError(
                f"min_opinions must be at least 1, got {self.min_opinions}.",
                remedy="Use --min-opinions 1 or more.",
            )
        if self.max_opinions < self.min_opinions:
            raise ConfigError(
                f"max_opinions ({self.max_opinions}) is smaller than min_opinions ({self.min_opinions}).",
                remedy="Set --max-opinions to at least --min-opinions.",
            )
        if not 0.0 < self.confidence <= 1.0:
            raise ConfigError(
                f"confidence must be in (0, 1], got {self.confidence}.",
                remedy="Use a fraction such as --confidence 0.78.",
            )

    def initial_requests(self) -> int:
        """How many requests to send for an item that has no answer yet."""
        return self.min_opinions

    def verdict(self, opinions: Iterable[Opinion], *, failed: int = 0) -> OpinionVerdict:
        """Judge the answers received so far; ``failed`` counts requests that ended without an answer.

        Failed requests use up the ``max_opinions`` allowance, so an item whose requests keep failing
        still terminates.
        """
        weights: dict[Hashable, float] = {}
        count = 0
        for opinion in opinions:
            count += 1
            weights[opinion.value] = weights.get(opinion.value, 0.0) + opinion.weight
        total = sum(weights.values())
        ordered = sorted(weights.items(), key=lambda kv: kv[1], reverse=True)
        shares = {value: (weight / total if total > 0 else 0.0) for value, weight in ordered}
        top_value: Hashable | None = None
        top_weight = 0.0
        if ordered:
            top_weight = ordered[0][1]
            tied = len(ordered) > 1 and math.isclose(ordered[1][1], top_weight)
            top_value = None if tied else ordered[0][0]
        confidence = top_weight / total if total > 0 else 0.0
        confident = top_value is not None and confidence >= self.confidence - 1e-12

        budget = self.max_opinions - count - failed
        if budget <= 0 or (confident and count >= self.min_opinions):
            return OpinionVerdict(True, 0, top_value, confidence, confident, shares, count)
        if count + failed < self.min_opinions:
            needed = self.min_opinions - count - failed
            return OpinionVerdict(False, needed, top_value, confidence, confident, shares, count)
        more = self._answers_to_confidence(top_weight, total)
        if more is None or more > budget:
            # Even unanimous further answers could not reach the threshold: stop now.
            return OpinionVerdict(True, 0, top_value, confidence, confident, shares, count)
        return OpinionVerdict(False, max(more, 1), top_value, confidence, confident, shares, count)

    def _answers_to_confidence(self, top_weight: float, total: float) -> int | None:
        """Fewest further full-weight answers, all agreeing with the top value, that reach confidence.

        None when no number of answers can (a threshold of 1.0 after a dissenting answer).
        """
        if self.confidence >= 1.0:
            return 0 if math.isclose(top_weight, total) else None
        # (top + n) / (total + n) >= c  <=>  n >= (c * total - top) / (1 - c)
        needed = (self.confidence * total - top_weight) / (1.0 - self.confidence)
        return max(0, math.ceil(needed - 1e-9))
