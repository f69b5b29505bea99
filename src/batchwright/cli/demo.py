"""``batchwright demo``: run a demo task end to end on the built-in local server."""

from __future__ import annotations

import typer

from batchwright.cli.app import app


@app.command()
def demo(
    task: str = typer.Option("unicode", "--task", help="Demo task to run: unicode or emotions."),
) -> None:
    """Run a demo task on the built-in local batch server (no API key needed)."""
    typer.echo(f"The {task!r} demo is coming soon: the task API and demos are being built (see issue 6).")
