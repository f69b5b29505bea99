"""The soak's report: one rich table per soak (checks with details), plus what the driver did."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from batchwright.chaos.driver import SoakResult


def result_table(result: SoakResult) -> Table:
    """The checks of one soak as a table (a red FAIL row for every violation)."""
    cfg = result.config
    title = (
        f"Chaos soak — {cfg.mode} path, {cfg.requests:,} requests, seed {cfg.seed}: "
        f"{'PASS' if result.ok else 'FAIL'} in {result.wall_seconds:.0f} s"
    )
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for check in result.checks:
        mark = "[green]pass[/]" if check.ok else "[bold red]FAIL[/]"
        table.add_row(check.name, mark, check.detail)
    kills = ", ".join(f"{name} {n}" for name, n in sorted(result.kills.items())) or "none"
    table.add_row("runner kills", "", f"{kills}; {result.runner_starts} runner starts")
    phases = ", ".join(f"{name} {n}" for name, n in result.kill_phases.most_common()) or "none"
    table.add_row("SIGKILL landed during", "", phases)
    table.add_row("kills by progress", "", progress_histogram(result.kill_progress))
    table.add_row(
        "server events", "", f"{result.server_restarts} restarts, {result.cancels} batches cancelled"
    )
    for name, counts in result.faults.items():
        table.add_row(name, "", ", ".join(f"{key} {n}" for key, n in counts.items()) or "none")
    if result.ignored_signals:
        table.add_row(
            "[yellow]signals ignored[/]", "", f"{len(result.ignored_signals)}: {result.ignored_signals[0]}"
        )
    if result.unexpected_exits:
        table.add_row(
            "other runner exits", "", f"{len(result.unexpected_exits)}: {result.unexpected_exits[0]}"
        )
    return table


def progress_histogram(shares: list[float], bins: int = 10) -> str:
    """How many kills landed in each tenth of the run (by share of items final), e.g. ``0-10% 12``."""
    counts = [0] * bins
    for share in shares:
        counts[min(bins - 1, int(share * bins))] += 1
    step = 100 // bins
    return ", ".join(f"{i * step}-{(i + 1) * step}% {n}" for i, n in enumerate(counts)) if shares else "none"


def print_results(results: list[SoakResult], console: Console | None = None) -> None:
    """Print every soak's table."""
    console = console or Console()
    for result in results:
        console.print(result_table(result))
