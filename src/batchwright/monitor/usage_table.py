"""The usage and cost table (predicted against true tokens and cost, per model and mode) and the completion
ratio table (configured against learned, per model).

Feed it per-result figures through :class:`UsageLedger` (or build :class:`UsageRow` objects from the task
database) and render with :func:`usage_table`; the same table serves a run and the whole task.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from rich.table import Table

from batchwright.engine.completion_ratio import RatioReport


@dataclass
class UsageRow:
    """Totals of one model in one mode (``batch`` or ``direct``); token counts include every result."""

    model: str
    mode: str
    requests: int = 0
    predicted_input_tokens: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    predicted_output_tokens: int = 0
    output_tokens: int = 0
    """True completion tokens, reasoning included (as the API bills them)."""
    reasoning_tokens: int = 0
    predicted_cost: float = 0.0
    cost: float = 0.0

    def add(self, other: UsageRow) -> None:
        """Add ``other``'s counts to this row (model and mode stay)."""
        for spec in fields(self):
            if spec.name not in ("model", "mode"):
                setattr(self, spec.name, getattr(self, spec.name) + getattr(other, spec.name))


class UsageLedger:
    """Accumulates usage per (model, mode)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], UsageRow] = {}

    def add(self, row: UsageRow) -> None:
        """Add one result (or a pre-aggregated row) to its (model, mode) total."""
        total = self._rows.setdefault((row.model, row.mode), UsageRow(row.model, row.mode))
        total.add(row)

    def rows(self) -> list[UsageRow]:
        """The totals, sorted by model then mode."""
        return [self._rows[key] for key in sorted(self._rows)]

    def total(self) -> UsageRow:
        """The grand total over every model and mode."""
        return total_row(self._rows.values())


def total_row(rows: Iterable[UsageRow]) -> UsageRow:
    """The sum of ``rows`` as one row named ``Total``."""
    total = UsageRow("Total", "")
    for row in rows:
        total.add(row)
    return total


def _pair(predicted: float, true: float, money: bool = False) -> str:
    if money:
        return f"${predicted:,.4f} → ${true:,.4f}"
    return f"{int(predicted):,} → {int(true):,}"


def _cells(row: UsageRow) -> list[str]:
    return [
        row.model,
        row.mode,
        f"{row.requests:,}",
        _pair(row.predicted_input_tokens, row.input_tokens),
        f"{row.cached_tokens:,}",
        _pair(row.predicted_output_tokens, row.output_tokens),
        f"{row.reasoning_tokens:,}",
        _pair(row.predicted_cost, row.cost, money=True),
    ]


def usage_table(rows: Iterable[UsageRow], *, title: str = "Usage and cost (predicted → true)") -> Table:
    """A rich table with one line per (model, mode) and a total line."""
    rows = list(rows)
    table = Table(title=title, title_justify="left")
    table.add_column("Model")
    table.add_column("Mode")
    for header in ("Requests", "Prompt tokens", "Cached", "Completion tokens", "Reasoning", "Cost (USD)"):
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(*_cells(row))
    if len(rows) != 1:
        table.add_section()
        table.add_row(*_cells(total_row(rows)), style="bold")
    return table


def completion_ratio_table(reports: Iterable[RatioReport], *, title: str = "Completion ratios") -> Table:
    """Configured against learned completion ratio per model, with the samples and the ratio in use."""
    table = Table(title=title, title_justify="left")
    table.add_column("Model")
    for header in ("Configured", "Learned", "Samples", "In use"):
        table.add_column(header, justify="right")
    for report in reports:
        learned = "—" if report.learned_ratio is None else f"{report.learned_ratio:.3f}"
        in_use = f"{report.ratio_in_use:.3f}" + (" (learned)" if report.learned_in_use else "")
        table.add_row(report.model, f"{report.configured_ratio:.3f}", learned, f"{report.samples:,}", in_use)
    return table
