"""The run options shared by ``batchwright run`` and ``batchwright demo``, grouped into help panels.

Engine settings, task metadata and prices get one flag each, named after the option
(``max_batch_requests`` → ``--max-batch-requests``), with the help text of the model field that
defines it, so flags, environment variables and YAML keys can never drift apart. Mapping-valued
settings (per-model limits and prices) are set in the YAML config file or the environment only.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import typer
from pydantic.fields import FieldInfo

from batchwright.cli.config_sources import (
    META_FIELDS,
    PRICE_FIELDS,
    SETTINGS_FIELDS,
    ResolvedOptions,
    resolve_options,
)
from batchwright.config import EngineSettings
from batchwright.errors import ConfigError
from batchwright.pricing import PriceOverrides
from batchwright.tasks.api import TaskMeta

P_TASK = "Task directory, config and output"
P_CONTROLS = "Run controls"
P_META = "Task metadata (fixed at creation; change with --reinit-meta)"
P_CLIENT = "API client"
P_BATCH = "Limits per batch"
P_REMOTE = "Limits in flight"
P_BUDGET = "Budgets (session and task)"
P_SAFETY = "Retries and safety stops"
P_POLL = "Polling and cleanup"
P_COST = "Cost model"
P_PRICES = "Prices (USD per 1M tokens; default: the model catalogue)"
P_DIRECT = "Direct API"

_SETTINGS_PANELS: dict[str, str] = {
    **dict.fromkeys(
        ("base_url", "api_key", "organization", "project", "azure_endpoint", "api_version", "timeout"),
        P_CLIENT,
    ),
    **dict.fromkeys(("max_batch_requests", "max_batch_bytes", "max_batch_tokens", "max_batch_cost"), P_BATCH),
    **dict.fromkeys(
        (
            "max_remote_batches",
            "max_remote_requests",
            "max_remote_bytes",
            "max_remote_cost",
            "enqueued_token_limit",
        ),
        P_REMOTE,
    ),
    **dict.fromkeys(
        ("max_retries", "retry_fatal", "min_pass_ratio", "max_pass_failures", "process_failed_batches"),
        P_SAFETY,
    ),
    **dict.fromkeys(
        (
            "session_max_requests",
            "session_max_tokens",
            "session_max_cost",
            "task_max_requests",
            "task_max_tokens",
            "task_max_cost",
        ),
        P_BUDGET,
    ),
    **dict.fromkeys(("poll_interval", "poll_interval_max", "delete_remote_files"), P_POLL),
    **dict.fromkeys(("default_max_output_tokens", "learned_ratio_min_samples"), P_COST),
    **dict.fromkeys(
        (
            "force_direct",
            "min_batch_requests",
            "direct_tail_requests",
            "max_rpm",
            "max_tpm",
            "direct_concurrency",
            "direct_verbose",
            "max_transient_retries",
        ),
        P_DIRECT,
    ),
}

ProgressMode = Literal["auto", "live", "plain", "quiet"]


@dataclass
class RunOptions:
    """Everything the shared run options carry, before layering with environment and config file."""

    task_dir: Path | None = None
    config: Path | None = None
    yes: bool = False
    dry_run: bool = False
    no_run: bool = False
    only_process: bool = False
    wait: bool = True
    wipe_requests: bool = False
    wipe_failed: bool = False
    wipe_task: bool = False
    reinit_meta: bool = False
    exports: list[Path] = field(default_factory=list)
    export_max_entries: int | None = None
    export_max_bytes: int | None = None
    progress: ProgressMode = "auto"
    flags: dict[str, Any] = field(default_factory=dict)
    """Engine, metadata and price flags given on the command line (None = not given)."""

    def check_conflicts(self) -> None:
        """Reject flag combinations that contradict each other, before anything is touched."""
        wipes = [name for name in ("wipe_requests", "wipe_failed", "wipe_task") if getattr(self, name)]
        pairs = [
            (self.dry_run and bool(wipes), "--dry-run", "--" + (wipes or ["x"])[0].replace("_", "-")),
            (self.dry_run and self.no_run, "--dry-run", "--no-run"),
            (self.only_process and self.wipe_requests, "--only-process", "--wipe-requests"),
            (self.only_process and self.wipe_task, "--only-process", "--wipe-task"),
            (self.wipe_task and len(wipes) > 1, "--wipe-task", "--wipe-requests/--wipe-failed"),
            (self.dry_run and self.reinit_meta, "--dry-run", "--reinit-meta"),
        ]
        for clash, first, second in pairs:
            if clash:
                raise ConfigError(
                    f"{first} and {second} contradict each other.",
                    remedy=f"Run them as separate commands (e.g. {first} first, then {second}).",
                )

    def destructive(self) -> list[str]:
        """The destructive options given (they need confirmation unless --yes)."""
        return [
            "--" + n.replace("_", "-")
            for n in ("wipe_requests", "wipe_failed", "wipe_task")
            if getattr(self, n)
        ]

    def resolve(self, environ: typing.Mapping[str, str] | None = None) -> ResolvedOptions:
        """Layer the flags over the environment and the config file."""
        self.check_conflicts()
        return resolve_options(self.flags, config_file=self.config, environ=environ)


def _option_type(annotation: Any) -> Any:
    """The click-friendly type of a model field: int, float, bool or str (all optional)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _option_type(args[0])
    if annotation in (int, float, bool):
        return annotation
    return str


def _is_mapping(annotation: Any) -> bool:
    """Mapping-valued settings are set in the config file or the environment, not by flags."""
    return typing.get_origin(annotation) is dict


def _field_params(fields: dict[str, FieldInfo], panel_of: Callable[[str], str]) -> list[inspect.Parameter]:
    """One optional flag per model field (default None = not given, so lower layers show through)."""
    params = []
    for name, info in fields.items():
        if _is_mapping(info.annotation):
            continue
        kind = _option_type(info.annotation)
        flag = "--" + name.replace("_", "-")
        decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag]
        default = info.get_default(call_default_factory=True)
        shown = "" if default is None or name == "api_key" else f" (default: {default})"
        option = typer.Option(
            None,
            *decls,
            help=(info.description or _price_help(name)) + shown,
            rich_help_panel=panel_of(name),
            show_default=False,
        )
        params.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind | None)
        )
    return params


def _control_params() -> list[inspect.Parameter]:
    def opt(
        name: str, annotation: Any, default: Any, *decls: str, help: str, panel: str
    ) -> inspect.Parameter:
        option = typer.Option(default, *decls, help=help, rich_help_panel=panel)
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)

    return [
        opt("task_dir", Path | None, None, "--task-dir", "--dir", "-d", help="Task directory.", panel=P_TASK),
        opt(
            "config",
            Path | None,
            None,
            "--config",
            "-c",
            help="YAML file of option names to values (also $BATCHWRIGHT_CONFIG).",
            panel=P_TASK,
        ),
        opt("yes", bool, False, "--yes", "-y", help="Do not ask before destructive actions.", panel=P_TASK),
        opt(
            "exports",
            list[Path] | None,
            None,
            "--export",
            "-o",
            help="Export the output to this file after the run (.jsonl .json .csv .parquet; repeatable; "
            "relative paths are inside the task directory). Default: the task's exports.",
            panel=P_TASK,
        ),
        opt(
            "export_max_entries",
            int | None,
            None,
            "--export-max-entries",
            help="Split JSONL exports into parts of at most this many rows.",
            panel=P_TASK,
        ),
        opt(
            "export_max_bytes",
            int | None,
            None,
            "--export-max-bytes",
            help="Split JSONL exports into parts of at most this many bytes.",
            panel=P_TASK,
        ),
        opt(
            "progress",
            str,
            "auto",
            "--progress",
            help="Progress display: auto (live on a terminal, plain log otherwise), live, plain, quiet.",
            panel=P_TASK,
        ),
        opt(
            "dry_run",
            bool,
            False,
            "--dry-run",
            help="Send and write nothing: show what would be sent, with predicted tokens and cost.",
            panel=P_CONTROLS,
        ),
        opt(
            "no_run",
            bool,
            False,
            "--no-run",
            help="Only initialise the task, apply wipes and show its status.",
            panel=P_CONTROLS,
        ),
        opt(
            "only_process",
            bool,
            False,
            "--only-process",
            help="Collect batches in flight; submit nothing new.",
            panel=P_CONTROLS,
        ),
        opt(
            "wait",
            bool,
            True,
            "--wait/--no-wait",
            help="Wait for batches in flight (--no-wait: submit, then return).",
            panel=P_CONTROLS,
        ),
        opt(
            "wipe_requests",
            bool,
            False,
            "--wipe-requests",
            help="Cancel batches in flight and drop unfinished requests (they are regenerated).",
            panel=P_CONTROLS,
        ),
        opt(
            "wipe_failed",
            bool,
            False,
            "--wipe-failed",
            help="Forget failed items so they get fresh retries.",
            panel=P_CONTROLS,
        ),
        opt(
            "wipe_task",
            bool,
            False,
            "--wipe-task",
            help="Delete all state and output of the task and start from scratch.",
            panel=P_CONTROLS,
        ),
        opt(
            "reinit_meta",
            bool,
            False,
            "--reinit-meta",
            help="Replace the stored task metadata with the defaults plus the metadata flags given.",
            panel=P_CONTROLS,
        ),
    ]


_CONTROL_NAMES = tuple(p.name for p in _control_params())


def shared_params() -> list[inspect.Parameter]:
    """Every shared run option as a typer parameter."""
    settings = {n: f for n, f in EngineSettings.model_fields.items() if n in SETTINGS_FIELDS}
    meta = {n: f for n, f in TaskMeta.model_fields.items() if n in META_FIELDS}
    prices = {n: f for n, f in PriceOverrides.model_fields.items() if n in PRICE_FIELDS}
    return [
        *_control_params(),
        *_field_params(meta, lambda _: P_META),
        *_field_params(settings, lambda name: _SETTINGS_PANELS.get(name, P_COST)),
        *_field_params(prices, lambda _: P_PRICES),
    ]


def _price_help(name: str) -> str:
    words = name.removeprefix("cost_").removesuffix("_mtoken").replace("_", " ")
    return f"Price of {words} tokens."


def with_run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a typer command: add the shared run options; it receives them as ``options``."""
    own = [p for name, p in inspect.signature(command).parameters.items() if name != "options"]
    params = shared_params()
    names = {p.name for p in own}
    params = [p for p in params if p.name not in names]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        shared = {p.name: kwargs.pop(p.name) for p in params}
        options = RunOptions(
            **{name: shared.pop(name) for name in _CONTROL_NAMES if name in shared},
            flags=shared,
        )
        options.exports = list(options.exports or [])
        if options.progress not in typing.get_args(ProgressMode):
            choices = ", ".join(typing.get_args(ProgressMode))
            raise ConfigError(f"--progress must be one of {choices}, not {options.progress!r}.")
        return command(**kwargs, options=options)

    wrapper.__signature__ = inspect.Signature(own + params)  # type: ignore[attr-defined]
    return wrapper


def stdin_is_interactive() -> bool:
    """Whether a confirmation prompt can be answered (CI has no stdin: never block there)."""
    return sys.stdin is not None and sys.stdin.isatty()
