"""``batchwright run TASK``: run a task defined in Python, with every control of a long run.

TASK is ``path/to/file.py:TaskName`` or ``package.module:TaskName``. The shared options (see
:mod:`batchwright.cli.options`) come from flags, ``BATCHWRIGHT_*`` environment variables and a YAML
config file, in that order of precedence.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from batchwright.cli.app import app
from batchwright.cli.options import RunOptions, stdin_is_interactive, with_run_options
from batchwright.cli.status import render_status
from batchwright.errors import ExitCode, InputError, TaskDefinitionError
from batchwright.monitor.progress import ProgressView, choose_mode
from batchwright.monitor.snapshot import read_snapshot, task_db_exists
from batchwright.tasks.api import Task
from batchwright.tasks.loader import load_task_class
from batchwright.tasks.run import TaskRunReport, export_specs, run_task

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def confirm(question: str, options: RunOptions) -> None:
    """Ask before something destructive or costly; never block without a terminal."""
    if options.yes:
        return
    if not stdin_is_interactive():
        raise InputError(
            f"{question} — not confirmed (no terminal to ask on); nothing was changed.",
            remedy="Pass --yes to confirm.",
        )
    if not typer.confirm(question, default=False, err=True):
        raise InputError("Not confirmed; nothing was changed.", remedy="Pass --yes to skip the question.")


def confirm_destructive(options: RunOptions, task_dir: Path) -> None:
    """Ask once before the wipes given (then ``options.yes`` is set)."""
    if options.destructive():
        confirm(f"{' and '.join(options.destructive())} on {task_dir}: this discards work", options)
        options.yes = True


def instantiate(task_class: type[Task]) -> Task:
    """Make the task object; a task run from the CLI must construct without arguments."""
    try:
        return task_class()
    except TypeError as error:
        raise TaskDefinitionError(
            f"{task_class.__qualname__}() cannot be created without arguments: {error}",
            remedy="Give every constructor parameter a default, or run the task from Python with run_task().",
        ) from None


def execute(
    task: Task,
    options: RunOptions,
    *,
    default_dir: Path,
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    engine_options: Mapping[str, Any] | None = None,
) -> TaskRunReport:
    """Run ``task`` as the CLI does: layer options, confirm, show progress, report.

    ``defaults`` sit below every other source (the demo's tuning), ``overrides`` above all (the demo's
    local server address and key).
    """
    resolved = options.resolve()
    task_dir = options.task_dir or default_dir
    specs = export_specs(
        task,
        task_dir,
        options.exports or None,
        max_entries=options.export_max_entries,
        max_bytes=options.export_max_bytes,
    )
    settings = resolved.engine_settings(**{**(defaults or {}), **resolved.settings, **(overrides or {})})
    confirm_destructive(options, task_dir)
    mode = choose_mode(options.progress, err_console)

    def monitor(directory: Path) -> ProgressView:
        return ProgressView(directory, mode=mode, console=err_console)

    report = run_task(
        task,
        task_dir,
        settings,
        meta=resolved.meta,
        reinit_meta=options.reinit_meta,
        run=not options.no_run,
        dry_run=options.dry_run,
        only_process=options.only_process,
        wait=options.wait,
        wipe_requests=options.wipe_requests,
        wipe_failed=options.wipe_failed,
        wipe_task=options.wipe_task,
        exports=specs,
        monitor=monitor,
        engine_options=engine_options,
        samples=(settings.session_max_requests or 10) if settings.direct_verbose == "always" else 0,
    )
    print_report(report, options)
    return report


def print_report(report: TaskRunReport, options: RunOptions) -> None:
    """What happened, where the output is, and what to do next."""
    for what, n in report.wiped.items():
        console.print(f"wiped {what}: {n}" if what != "task" else "wiped the task: starting from scratch")
    if report.summary is None:
        if task_db_exists(report.task_dir):
            console.print(render_status(read_snapshot(report.task_dir), options.config))
        return
    if options.dry_run:
        print_plan(report)
        return
    summary = report.summary
    style = {ExitCode.DONE: "green", ExitCode.WORK_LEFT: "yellow"}.get(summary.exit_code, "red")
    console.print(f"[{style}]{summary.one_line()}[/]")
    if report.rejected:
        console.print(f"{report.rejected} result(s) rejected by the task and retried")
    for path in report.exports:
        console.print(f"output: [bold]{path}[/]")
    if report.complete:
        console.print("[green]task complete[/]")
    else:
        console.print(f"run again to continue: the task resumes where it stopped ({report.task_dir})")


def print_plan(report: TaskRunReport) -> None:
    """The dry run's cost plan: batches as packing would cut them, and new items' requests."""
    assert report.summary is not None
    table = Table(title="Dry run: nothing was sent or written", title_justify="left")
    headers = ("what", "model", "requests", "bytes", "input tokens", "output tokens", "cost (batch)")
    for header in (*headers, "cost (direct)"):
        table.add_column(header, justify="left" if header in ("what", "model") else "right")
    direct = report.plan_direct_costs or [0.0] * len(report.summary.plan)
    for batch, direct_cost in zip(report.summary.plan, direct, strict=True):
        table.add_row(
            "batch",
            batch.model,
            f"{batch.requests:,}",
            f"{batch.nbytes:,}",
            f"{batch.pred_input_tokens:,}",
            f"{batch.pred_output_tokens:,}",
            f"${batch.pred_cost:,.4f}",
            f"${direct_cost:,.4f}",
        )
    new = report.new_items
    if new is not None and new.requests:
        table.add_row(
            "new items",
            report.meta.model,
            f"{new.requests:,}",
            "",
            f"{new.input_tokens:,}",
            f"{new.output_tokens:,}",
            f"${new.cost:,.4f}",
            f"${new.cost_direct:,.4f}",
        )
    console.print(table)
    for key, body in new.samples if new is not None else []:
        console.print(f"[bold]request for {key}[/]")
        console.print_json(body)


@app.command()
@with_run_options
def run(
    task: str = typer.Argument(..., help="The task: path/to/file.py:TaskName or package.module:TaskName."),
    options: RunOptions | None = None,
) -> None:
    """Run a task until it is done or a limit is reached; run again to resume."""
    assert options is not None
    task_class = load_task_class(task)
    default_dir = Path(f"batchwright-{task_class.task_name()}")
    report = execute(instantiate(task_class), options, default_dir=default_dir)
    raise typer.Exit(int(report.exit_code))
