"""``batchwright demo``: run a demo task end to end, by default on the built-in local server.

The local server starts in-process with accelerated time and keeps its state in
``<dir>/local-server``, so stopping a demo and running it again with the same ``--dir`` resumes it
(batches in flight included). ``--base-url URL`` or ``--real`` target a real endpoint instead, after
showing the cost plan and asking (``--yes`` skips the question).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from batchwright.cli.app import app
from batchwright.cli.options import RunOptions, with_run_options
from batchwright.cli.run import confirm, confirm_destructive, console, execute, print_plan
from batchwright.errors import ConfigError
from batchwright.private_files import make_private_dir
from batchwright.tasks.demos import DEMOS
from batchwright.tasks.run import check_owner, run_task

#: The local server's simulated time runs this many times faster than real time.
DEMO_SPEED = 20.0

#: Tuning for the demo on the local server, below every user-given source. The fake model answers
#: at random, so about half of the unicode demo's answers are rejected: a low pass ratio keeps the
#: safety stop for real trouble; min_batch_requests=1 keeps even small retry rounds on the batch path.
LOCAL_DEFAULTS: dict[str, Any] = {
    "poll_interval": 0.5,
    "poll_interval_max": 2.0,
    "min_batch_requests": 1,
    "min_pass_ratio": 0.2,
}


@contextlib.contextmanager
def local_server(task_dir: Path) -> Iterator[dict[str, Any]]:
    """Start the in-process local server; yield the settings that point the engine at it."""
    from batchwright.server import ServerConfig, run_server

    data_dir = task_dir / "local-server"
    make_private_dir(data_dir)
    with run_server(ServerConfig(data_dir=data_dir, speed=DEMO_SPEED)) as server:
        console.print(f"local batch server at {server.base_url} (time x{DEMO_SPEED:g}, fake model)")
        yield {"base_url": server.base_url, "api_key": server.api_key}


@app.command()
@with_run_options
def demo(
    task: str = typer.Option("unicode", "--task", help=f"Demo task to run: {' or '.join(DEMOS)}."),
    real: bool = typer.Option(
        False, "--real", help="Use the real OpenAI API (OPENAI_API_KEY) instead of the local server."
    ),
    options: RunOptions | None = None,
) -> None:
    """Run a demo task end to end (default: on the built-in local batch server, no API key needed)."""
    assert options is not None
    if task not in DEMOS:
        raise ConfigError(f"Unknown demo task {task!r}.", remedy=f"Use --task {' or --task '.join(DEMOS)}.")
    base_url = options.flags.get("base_url")
    if real and base_url:
        raise ConfigError("--real and --base-url contradict each other.", remedy="Give one of them.")
    demo_task = DEMOS[task]()
    task_dir = options.task_dir or Path(f"batchwright-demo-{task}")
    options.task_dir = task_dir
    # Bad input is refused before the local server leaves its directory behind.
    options.resolve()
    check_owner(task_dir.absolute(), demo_task.task_name())
    confirm_destructive(options, task_dir)
    if real or base_url:
        _plan_then_confirm(demo_task, options, real=real)
        report = execute(demo_task, options, default_dir=task_dir)
    elif options.dry_run or options.no_run:  # nothing is sent: no server needed
        report = execute(demo_task, options, default_dir=task_dir, defaults=LOCAL_DEFAULTS)
    else:
        with local_server(task_dir) as target:
            report = execute(
                demo_task, options, default_dir=task_dir, defaults=LOCAL_DEFAULTS, overrides=target
            )
    if report.summary is not None and not options.dry_run:
        console.print(f"status: batchwright status {task_dir}")
    raise typer.Exit(int(report.exit_code))


def _plan_then_confirm(demo_task: Any, options: RunOptions, *, real: bool) -> None:
    """Against a real endpoint, show what the run would cost and ask before spending."""
    if options.dry_run or options.no_run:
        return
    resolved = options.resolve()
    if real and "api_key" not in resolved.settings:
        raise ConfigError(
            "--real needs an OpenAI API key.", remedy="Set OPENAI_API_KEY (or pass --api-key) and run again."
        )
    assert options.task_dir is not None
    plan = run_task(
        type(demo_task)(),
        options.task_dir,
        resolved.engine_settings(),
        meta=resolved.meta,
        dry_run=True,
        exports=[],
    )
    print_plan(plan)
    confirm("Send these requests to the real API (this costs money)", options)
