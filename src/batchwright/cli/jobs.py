"""``batchwright split``, ``submit`` and ``dataset``: jobs that need no Python code.

``split`` cuts batch-format JSONL files into shards under token/request/byte limits; ``submit`` runs
batch-format JSONL files as one resumable task; ``dataset`` runs a prompt over the rows of a CSV,
JSONL or Parquet file described by a YAML job file. ``submit`` and ``dataset`` take every run option of
``batchwright run`` (limits, budgets, direct API, wipes, dry run, ...).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from batchwright.cli.app import app
from batchwright.cli.options import RunOptions, with_run_options
from batchwright.cli.run import execute
from batchwright.jobs.dataset import DatasetTask, load_dataset_spec
from batchwright.jobs.file_job import (
    BatchFileTask,
    check_results_path,
    export_results,
    export_results_per_file,
)
from batchwright.jobs.split import API_MAX_BYTES, API_MAX_REQUESTS, split_batch_files
from batchwright.tasks.run import TaskRunReport

console = Console(highlight=False)


@app.command()
def split(
    files: list[Path] = typer.Argument(..., help="Batch-format JSONL files, split in this order."),
    max_tokens: int | None = typer.Option(
        None, "--max-tokens", help="Most input tokens per shard (e.g. a bit under your enqueued-token limit)."
    ),
    max_requests: int = typer.Option(API_MAX_REQUESTS, "--max-requests", help="Most requests per shard."),
    max_bytes: int = typer.Option(API_MAX_BYTES, "--max-bytes", help="Most bytes per shard."),
    out_dir: Path = typer.Option(Path("."), "--out-dir", help="Where the shards are written."),
    prefix: str = typer.Option("shard", "--prefix", help="Shard file names: PREFIX-000-of-079.jsonl."),
) -> None:
    """Split batch-format JSONL files into shards that each fit the given limits."""
    report = split_batch_files(
        files, out_dir, max_tokens=max_tokens, max_requests=max_requests, max_bytes=max_bytes, prefix=prefix
    )
    table = Table(title=f"{len(report.shards)} shard(s) in {out_dir}", title_justify="left")
    for header in ("shard", "requests", "input tokens", "bytes"):
        table.add_column(header, justify="left" if header == "shard" else "right")
    for shard in report.shards:
        table.add_row(shard.path.name, f"{shard.requests:,}", f"{shard.tokens:,}", f"{shard.nbytes:,}")
    table.add_section()
    table.add_row("total", f"{report.requests:,}", f"{report.tokens:,}", "", style="bold")
    console.print(table)


@app.command()
@with_run_options
def submit(
    files: list[Path] = typer.Argument(..., help="Batch-format JSONL files (custom_id, method, url, body)."),
    results: Path | None = typer.Option(
        None, "--results", help="Results file (default: results.jsonl; relative paths are in the task dir)."
    ),
    per_file: bool = typer.Option(
        False, "--results-per-file", help="Also write each file's results next to it: NAME.output.jsonl."
    ),
    options: RunOptions | None = None,
) -> None:
    """Run the requests of batch-format JSONL files as one resumable job; results by custom_id."""
    assert options is not None
    check_results_path(results)
    task = BatchFileTask(files)
    task.check()
    report = execute(task, options, default_dir=Path(f"batchwright-{files[0].stem}"))
    before = len(report.exports)
    export_results(report, results)
    if per_file:
        export_results_per_file(report, task.paths)
    _finish(report, before)


@app.command()
@with_run_options
def dataset(
    job: Path = typer.Argument(
        ..., help="YAML job file: input_file, id_column, content_column(s), prompt, ..."
    ),
    options: RunOptions | None = None,
) -> None:
    """Run a prompt over every row of a CSV/JSONL/Parquet file; output joined back to the input rows."""
    assert options is not None
    spec = load_dataset_spec(job)
    task = DatasetTask(spec)
    task.check()
    report = execute(task, options, default_dir=spec.default_task_dir(job), defaults=spec.engine_defaults())
    before = len(report.exports)
    export_results(report, spec.output_path(), drop=task.added_columns())
    _finish(report, before)


def _finish(report: TaskRunReport, before: int) -> None:
    """Name the results files written after the first ``before`` exports; exit with the run's code."""
    for path in report.exports[before:]:
        console.print(f"results: [bold]{path}[/]")
    raise typer.Exit(int(report.exit_code))
