"""Learned completion ratios: how much of its max output tokens a model really uses, per model.

Output tokens are predicted as ``ratio × max output tokens``. The configured ratio (default
:data:`batchwright.tokens.DEFAULT_COMPLETION_RATIO`) is used until a model has ``min_samples`` results; from
then on the learned ratio ``Σ true output tokens / Σ max output tokens`` over that model's results (a ratio of
sums: long answers weigh by their size, one tiny limit cannot skew it), capped at 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from batchwright.errors import ConfigError

DEFAULT_MIN_SAMPLES = 50


@dataclass
class RatioStats:
    """Accumulated samples of one model."""

    samples: int = 0
    max_output_tokens: int = 0
    output_tokens: int = 0

    @property
    def ratio(self) -> float | None:
        """The learned ratio, ``None`` before any sample with a positive limit."""
        if self.max_output_tokens <= 0:
            return None
        return min(1.0, self.output_tokens / self.max_output_tokens)


@dataclass(frozen=True)
class RatioReport:
    """Predicted against learned ratio of one model."""

    model: str
    configured_ratio: float
    learned_ratio: float | None
    samples: int
    ratio_in_use: float

    @property
    def learned_in_use(self) -> bool:
        """True once the learned ratio drives predictions."""
        return self.learned_ratio is not None and self.ratio_in_use == self.learned_ratio


@dataclass
class CompletionRatios:
    """Per-model completion ratios learned from results."""

    configured_ratio: float
    min_samples: int = DEFAULT_MIN_SAMPLES
    _stats: dict[str, RatioStats] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if not 0 <= self.configured_ratio <= 1:
            raise ConfigError(
                f"The completion ratio must be within 0..1, not {self.configured_ratio}.",
                remedy="Set --completion-ratio to the expected share of max output tokens, e.g. 0.5.",
            )
        if self.min_samples < 1:
            raise ConfigError(f"The minimum number of samples must be at least 1, not {self.min_samples}.")

    def observe(self, model: str, max_output_tokens: int, output_tokens: int, samples: int = 1) -> None:
        """Record results: max output tokens and true output tokens (reasoning included) of one result, or
        their sums over ``samples`` results.

        Results with no positive limit carry no ratio information and are ignored.
        """
        if max_output_tokens <= 0 or samples <= 0:
            return
        stats = self._stats.setdefault(model, RatioStats())
        stats.samples += samples
        stats.max_output_tokens += max_output_tokens
        stats.output_tokens += max(0, output_tokens)

    def load(self, model: str, stats: RatioStats) -> None:
        """Restore a model's accumulated samples (e.g. from the task database on restart)."""
        self._stats[model] = RatioStats(stats.samples, stats.max_output_tokens, stats.output_tokens)

    def stats(self, model: str) -> RatioStats:
        """A copy of the accumulated samples of ``model``."""
        stats = self._stats.get(model, RatioStats())
        return RatioStats(stats.samples, stats.max_output_tokens, stats.output_tokens)

    def ratio(self, model: str) -> float:
        """The ratio to predict with: learned once ``min_samples`` results exist, else the configured one."""
        stats = self._stats.get(model)
        if stats is not None and stats.samples >= self.min_samples and stats.ratio is not None:
            return stats.ratio
        return self.configured_ratio

    def report(self, models: Iterable[str] | None = None) -> list[RatioReport]:
        """Configured against learned ratio for ``models`` (default: every model with samples), sorted."""
        names = sorted(self._stats if models is None else set(models))
        return [
            RatioReport(
                model=name,
                configured_ratio=self.configured_ratio,
                learned_ratio=self._stats[name].ratio if name in self._stats else None,
                samples=self._stats[name].samples if name in self._stats else 0,
                ratio_in_use=self.ratio(name),
            )
            for name in names
        ]
