"""``batchwright status DIR``: items, requests and batches by state, usage and cost, budgets used."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console, Group
from rich.table import Table

from batchwright.cli.app import app
from batchwright.cli.config_sources import resolve_options
from batchwright.engine.budgets import RESOURCES, BudgetLevel, budget_setting
from batchwright.monitor.snapshot import ITEM_STATES, REQUEST_STATES, TaskSnapshot, read_snapshot
from batchwright.monitor.usage_table import usage_table

console = Console(highlight=False)

_BATCH_STATES = ("uploading", "creating", "submitted", "finished", "committed", "abandoned")


def _counts_table(title: str, counts: dict[str, int], order: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    names = [*order, *sorted(set(counts) - set(order))]
    for name in names:
        table.add_column(name.replace("_", " "), justify="right")
    table.add_column("total", justify="right", style="bold")
    table.add_row(*(f"{counts.get(name, 0):,}" for name in names), f"{sum(counts.values()):,}")
    return table


def _batches_table(snap: TaskSnapshot) -> Table:
    table = Table(title="Open batches (local state / remote status)", title_justify="left")
    for header in ("uid", "remote id", "state", "remote status", "requests", "done", "failed"):
        table.add_column(header, justify="right" if header in ("requests", "done", "failed") else "left")
    for batch in snap.open_batches:
        table.add_row(
            batch["uid"],
            batch["remote_id"] or "—",
            batch["state"],
            batch["remote_status"] or "—",
            f"{batch['requests']:,}",
            f"{batch['done']:,}",
            f"{batch['failed']:,}",
        )
    return table


def _amount(resource: str, value: float) -> str:
    return f"${value:,.4f}" if resource == "cost" else f"{int(value):,}"


def _budgets_table(snap: TaskSnapshot, config: Path | None) -> Table:
    """Task-level spend against the task budgets set in the config file or environment."""
    settings = resolve_options({}, config_file=config).engine_settings()
    spent = {
        "requests": sum(row.requests for row in snap.usage),
        "tokens": sum(row.predicted_input_tokens + row.predicted_output_tokens for row in snap.usage),
        "cost": snap.cost,
    }
    table = Table(title="Task budgets (spent so far / limit)", title_justify="left")
    for header in ("budget", "spent", "limit", "used"):
        table.add_column(header, justify="left" if header == "budget" else "right")
    for resource in RESOURCES:
        name = budget_setting(BudgetLevel.TASK, resource)
        limit = getattr(settings, name)
        value = spent[resource]
        shown = f"${value:,.4f}" if resource == "cost" else f"{int(value):,}"
        limit_shown = (
            "—" if limit is None else (f"${limit:,.4f}" if resource == "cost" else f"{int(limit):,}")
        )
        used = "—" if not limit else f"{100 * value / limit:.1f}%"
        table.add_row(name, shown, limit_shown, used)
    return table


def render_status(snap: TaskSnapshot, config: Path | None = None) -> Group:
    """Every status table of a task directory."""
    title = f"[bold cyan]{snap.task_name or '(unnamed task)'}[/] in {snap.task_dir}"
    meta = ", ".join(f"{k}={v}" for k, v in snap.meta.items() if v is not None)
    parts: list[object] = [title]
    if meta:
        parts.append(f"[dim]metadata: {meta}[/]")
    parts += [
        _counts_table("Items", snap.items, ITEM_STATES),
        _counts_table(f"Requests ({snap.retries:,} retries used)", snap.requests, REQUEST_STATES),
        _counts_table("Batches", snap.batches, _BATCH_STATES),
    ]
    if snap.open_batches:
        parts.append(_batches_table(snap))
    parts.append(usage_table(snap.usage, title="Tokens and cost (predicted → true)"))
    parts.append(_budgets_table(snap, config))
    parts.append(f"{snap.outputs:,} output rows stored")
    return Group(*parts)  # type: ignore[arg-type]


@app.command()
def status(
    task_dir: Path = typer.Argument(..., help="The task directory."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Config file whose task budgets to compare against."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON object."),
) -> None:
    """Show a task's items, requests and batches by state, tokens and cost, and budgets used."""
    snap = read_snapshot(task_dir)
    if as_json:
        data = asdict(snap)
        data["task_dir"] = str(snap.task_dir)
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    console.print(render_status(snap, config))
