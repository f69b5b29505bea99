"""Learned completion ratios per model: configured until enough samples, then the ratio of sums."""

from __future__ import annotations

import pytest

from batchwright.engine.completion_ratio import CompletionRatios, RatioStats
from batchwright.errors import ConfigError


def test_configured_ratio_until_min_samples_then_learned():
    ratios = CompletionRatios(configured_ratio=0.5, min_samples=3)
    ratios.observe("gpt-4o", 100, 10)
    ratios.observe("gpt-4o", 100, 30)
    assert ratios.ratio("gpt-4o") == 0.5
    ratios.observe("gpt-4o", 200, 20)
    assert ratios.ratio("gpt-4o") == pytest.approx(60 / 400)
    assert ratios.ratio("gpt-4o-mini") == 0.5  # per model


def test_ratio_of_sums_weighs_by_size_and_is_capped():
    ratios = CompletionRatios(configured_ratio=0.5, min_samples=1)
    ratios.observe("m", 10, 10)  # a tiny request that used everything
    ratios.observe("m", 1000, 100)
    assert ratios.ratio("m") == pytest.approx(110 / 1010)
    ratios.observe("n", 10, 50)  # more output than the limit (e.g. n>1 reported oddly): capped at 1
    assert ratios.ratio("n") == 1.0


def test_aggregated_samples_count_like_single_ones():
    single, aggregated = CompletionRatios(0.5, min_samples=3), CompletionRatios(0.5, min_samples=3)
    for limit, used in ((100, 10), (100, 30), (200, 20)):
        single.observe("m", limit, used)
    aggregated.observe("m", 400, 60, samples=3)
    assert aggregated.stats("m") == single.stats("m") == RatioStats(3, 400, 60)
    assert aggregated.ratio("m") == pytest.approx(0.15)


def test_results_without_a_limit_are_ignored():
    ratios = CompletionRatios(configured_ratio=0.4, min_samples=1)
    ratios.observe("m", 0, 100)
    assert ratios.stats("m") == RatioStats()
    assert ratios.ratio("m") == 0.4


def test_report_predicted_against_learned():
    ratios = CompletionRatios(configured_ratio=0.5, min_samples=2)
    ratios.observe("b", 100, 20)
    ratios.observe("a", 100, 20)
    ratios.observe("a", 100, 40)
    reports = ratios.report()
    assert [r.model for r in reports] == ["a", "b"]
    a, b = reports
    assert (a.samples, a.ratio_in_use, a.learned_in_use) == (2, pytest.approx(0.3), True)
    assert a.learned_ratio == pytest.approx(0.3)
    assert (b.learned_ratio, b.samples, b.ratio_in_use, b.learned_in_use) == (0.2, 1, 0.5, False)
    assert ratios.report(["c"])[0].learned_ratio is None


def test_state_restores_across_sessions():
    first = CompletionRatios(configured_ratio=0.5, min_samples=2)
    for used in (10, 20, 30):
        first.observe("m", 100, used)
    second = CompletionRatios(configured_ratio=0.5, min_samples=2)
    second.load("m", first.stats("m"))
    assert second.ratio("m") == first.ratio("m") == pytest.approx(0.2)


@pytest.mark.parametrize(("ratio", "samples"), [(1.5, 10), (-0.1, 10), (0.5, 0)])
def test_invalid_settings_are_config_errors(ratio, samples):
    with pytest.raises(ConfigError):
        CompletionRatios(configured_ratio=ratio, min_samples=samples)
