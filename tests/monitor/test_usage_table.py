"""The usage/cost table: per model and mode, predicted against true, with a total line."""

from __future__ import annotations

from rich.console import Console

from batchwright.engine.completion_ratio import CompletionRatios
from batchwright.monitor.usage_table import UsageLedger, UsageRow, completion_ratio_table, usage_table


def render(table) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def test_ledger_sums_per_model_and_mode():
    ledger = UsageLedger()
    for _ in range(3):
        ledger.add(UsageRow("gpt-4o-mini", "batch", 1, 100, 98, 10, 50, 40, 0, 0.001, 0.0009))
    ledger.add(UsageRow("gpt-4o-mini", "direct", 1, 100, 101, 0, 50, 60, 0, 0.002, 0.0021))
    ledger.add(UsageRow("o4-mini", "batch", 2, 200, 190, 0, 400, 380, 300, 0.01, 0.0095))
    rows = ledger.rows()
    assert [(r.model, r.mode, r.requests) for r in rows] == [
        ("gpt-4o-mini", "batch", 3),
        ("gpt-4o-mini", "direct", 1),
        ("o4-mini", "batch", 2),
    ]
    assert (rows[0].input_tokens, rows[0].cached_tokens, rows[0].output_tokens) == (294, 30, 120)
    total = ledger.total()
    assert (total.requests, total.reasoning_tokens, round(total.cost, 6)) == (6, 300, 0.0143)


def test_table_shows_predicted_and_true_and_the_total():
    ledger = UsageLedger()
    ledger.add(UsageRow("gpt-4o-mini", "batch", 2, 1200, 1180, 100, 500, 450, 0, 0.0004, 0.00035))
    ledger.add(UsageRow("o4-mini", "direct", 1, 300, 300, 0, 1000, 1500, 1200, 0.0072, 0.00693))
    text = render(usage_table(ledger.rows()))
    assert "1,200 → 1,180" in text
    assert "1,000 → 1,500" in text and "1,200" in text
    assert "$0.0072 → $0.0069" in text
    total_line = next(line for line in text.splitlines() if "Total" in line)
    assert "1,500 → 1,480" in total_line and "$0.0076 → $0.0073" in total_line


def test_single_row_has_no_total_line():
    text = render(usage_table([UsageRow("gpt-4o", "batch", 1, 10, 10, 0, 5, 5, 0, 0.0, 0.0)]))
    assert "Total" not in text


def test_completion_ratio_table():
    ratios = CompletionRatios(configured_ratio=0.5, min_samples=2)
    ratios.observe("gpt-4o-mini", 400, 100, samples=2)
    ratios.observe("o4-mini", 100, 90)
    text = render(completion_ratio_table(ratios.report()))
    mini = next(line for line in text.splitlines() if "gpt-4o-mini" in line)
    assert "0.500" in mini and "0.250 (learned)" in mini
    o4 = next(line for line in text.splitlines() if "o4-mini" in line)
    assert "0.900" in o4 and "(learned)" not in o4
