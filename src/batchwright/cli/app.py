"""The root ``batchwright`` command: global options and error reporting.

Each command group lives in its own module and registers itself on :data:`app`.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from batchwright.errors import BatchwrightError, ExitCode

app = typer.Typer(
    name="batchwright",
    help="Run large LLM workloads through batch APIs and the direct API: safely, cheaply, restartably.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

error_console = Console(stderr=True, highlight=False)


def _usage_error_types() -> tuple[type[Exception], ...]:
    """Click's usage errors: recent typer vendors click (its errors derive from ``TyperException``),
    older typer uses the ``click`` package."""
    found: list[type[Exception]] = []
    vendored = getattr(typer, "TyperException", None)
    if vendored is not None:
        found.append(vendored)
    try:
        import click
    except ImportError:
        pass
    else:
        found.append(click.ClickException)
    return tuple(found)


_USAGE_ERRORS = _usage_error_types()


class _State:
    debug: bool = False


state = _State()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """batchwright: safe, cheap, restartable bulk LLM work."""
    state.debug = debug


def run_app(argv: list[str] | None = None) -> int:
    """Run the CLI and turn batchwright errors into a message and a documented exit code."""
    try:
        code = app(args=argv, standalone_mode=False)
        if code == 130:  # typer turns a KeyboardInterrupt outside the engine's run loop into Exit(130)
            error_console.print("interrupted: run the same command again to continue")
            return int(ExitCode.WORK_LEFT)
        if isinstance(code, int):  # click returns the code of ``typer.Exit`` when not standalone
            return code
    except BatchwrightError as error:
        if state.debug:
            error_console.print_exception()
        error_console.print(f"[bold red]error:[/] {error.message}")
        if error.remedy:
            error_console.print(error.remedy)
        return int(error.exit_code)
    except typer.Exit as exit_:
        return exit_.exit_code
    except typer.Abort:
        error_console.print("aborted")
        return int(ExitCode.WORK_LEFT)
    except KeyboardInterrupt:
        error_console.print("interrupted")
        return int(ExitCode.WORK_LEFT)
    except _USAGE_ERRORS as error:  # bad flags, values or arguments, found by click
        show = getattr(error, "show", None)
        if callable(show):
            show()
        else:
            error_console.print(f"[bold red]error:[/] {error}")
        return int(ExitCode.BAD_INPUT)
    return int(ExitCode.DONE)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_app())
