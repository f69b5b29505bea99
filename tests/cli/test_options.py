"""Every shared run option parses and lands in the one settings model (or the metadata/prices)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer

from batchwright.cli.app import run_app
from batchwright.cli.config_sources import META_FIELDS, PRICE_FIELDS, SETTINGS_FIELDS
from batchwright.cli.options import RunOptions, shared_params, with_run_options
from batchwright.config import EngineSettings
from batchwright.errors import ConfigError

probe = typer.Typer()
captured: dict[str, Any] = {}


@probe.command()
@with_run_options
def show(options: RunOptions | None = None) -> None:
    assert options is not None
    resolved = options.resolve(environ={})
    captured["options"] = options
    captured["settings"] = resolved.engine_settings().model_dump(mode="json")
    captured["meta"] = resolved.meta
    captured["prices"] = resolved.prices


@probe.command()
def other() -> None:
    """Keeps typer from collapsing the app into a single command."""


def parse(*argv: str) -> dict[str, Any]:
    captured.clear()
    probe(["show", *argv], standalone_mode=False)
    return captured


# Values that satisfy each field's constraints (and the cross-field checks) when given alone.
SPECIAL: dict[str, tuple[list[str], Any]] = {
    "max_batch_requests": (["7"], 7),
    "max_batch_bytes": (["5000"], 5000),
    "max_remote_requests": (["60000"], 60000),
    "max_remote_bytes": (["200000000"], 200000000),
    "poll_interval": (["5"], 5.0),
    "poll_interval_max": (["300"], 300.0),
    "process_failed_batches": (["all"], "all"),
    "direct_verbose": (["warn"], "warn"),
    "azure_endpoint": (
        ["https://x.openai.azure.com", "--api-version", "2024-10-21"],
        "https://x.openai.azure.com",
    ),
    "api_version": (["2024-10-21"], "2024-10-21"),
    "base_url": (["http://127.0.0.1:9/v1"], "http://127.0.0.1:9/v1"),
    "api_key": (["sk-test"], "**********"),
    "min_pass_ratio": (["0.25"], 0.25),
    "temperature": (["0.3"], 0.3),
    "top_p": (["0.5"], 0.5),
    "completion_ratio": (["0.25"], 0.25),
    "confidence": (["0.9"], 0.9),
    "model": (["gpt-4o"], "gpt-4o"),
}

FIELD_PARAMS = [p for p in shared_params() if p.name in (*SETTINGS_FIELDS, *META_FIELDS, *PRICE_FIELDS)]


def test_every_settings_field_except_mappings_has_a_flag() -> None:
    names = {p.name for p in FIELD_PARAMS}
    mappings = {"enqueued_token_limits", "price_overrides"}
    assert set(SETTINGS_FIELDS) - names == mappings & set(EngineSettings.model_fields)
    assert set(META_FIELDS) <= names and set(PRICE_FIELDS) <= names


@pytest.mark.parametrize("param", FIELD_PARAMS, ids=lambda p: p.name)
def test_each_flag_reaches_its_model(param: Any) -> None:
    flag = "--" + param.name.replace("_", "-")
    annotation = param.annotation
    if param.name in SPECIAL:
        args, expected = SPECIAL[param.name]
        argv = [flag, *args]
    elif bool in getattr(annotation, "__args__", (annotation,)):
        default = EngineSettings.model_fields[param.name].default
        argv, expected = ([f"--no-{flag[2:]}"], False) if default else ([flag], True)
    elif int in getattr(annotation, "__args__", (annotation,)):
        argv, expected = [flag, "3"], 3
    elif float in getattr(annotation, "__args__", (annotation,)):
        argv, expected = [flag, "0.5"], 0.5
    else:
        argv, expected = [flag, "value"], "value"
    result = parse(*argv)
    if param.name in META_FIELDS:
        assert result["meta"] == {param.name: expected}
    elif param.name in PRICE_FIELDS:
        assert result["prices"] == {param.name: expected}
        assert result["settings"]["prices"][param.name] == expected
    else:
        assert result["settings"][param.name] == expected


def test_missing_config_file_exits_2(tmp_path: Any) -> None:
    argv = ["run", "tests/tasks/sample_tasks.py:Words", "-d", str(tmp_path / "t"), "--config", "nope.yaml"]
    assert run_app(argv) == 2 and not (tmp_path / "t").exists()


def test_controls_parse() -> None:
    probe_options: list[RunOptions] = []

    app = typer.Typer()

    @app.command()
    @with_run_options
    def grab(options: RunOptions | None = None) -> None:
        assert options is not None
        probe_options.append(options)

    @app.command()
    def other() -> None:
        """Second command."""

    app(
        ["grab", "-d", "somewhere", "--yes", "--no-run", "--only-process", "--no-wait", "--wipe-failed",
         "--reinit-meta", "--export", "a.csv", "-o", "b.parquet", "--export-max-entries", "9",
         "--export-max-bytes", "999", "--progress", "plain", "--dry-run"],
        standalone_mode=False,
    )  # fmt: skip
    options = probe_options[0]
    assert str(options.task_dir) == "somewhere" and options.yes and options.no_run and options.only_process
    assert not options.wait and options.wipe_failed and options.reinit_meta and options.dry_run
    assert [str(p) for p in options.exports] == ["a.csv", "b.parquet"]
    assert (options.export_max_entries, options.export_max_bytes, options.progress) == (9, 999, "plain")
    assert options.destructive() == ["--wipe-failed"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--dry-run", "--wipe-task"],
        ["--dry-run", "--no-run"],
        ["--only-process", "--wipe-requests"],
        ["--wipe-task", "--wipe-failed"],
        ["--dry-run", "--reinit-meta"],
        ["--base-url", "http://x/v1", "--azure-endpoint", "https://y", "--api-version", "1"],
        ["--max-batch-requests", "500", "--max-remote-requests", "100"],
    ],
)
def test_conflicting_flags(argv: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(*argv)
    message = str(caught.value)
    assert "contradict" in message or "Conflicting" in message


def test_bad_progress_mode_exits_2(tmp_path: Any) -> None:
    code = run_app(
        ["run", "tests/tasks/sample_tasks.py:Words", "-d", str(tmp_path / "t"), "--progress", "fancy"]
    )
    assert code == 2 and not (tmp_path / "t").exists()


def test_help_shows_every_group(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    assert run_app(["run", "--help"]) == 0
    text = capsys.readouterr().out
    for panel in ("Run controls", "Task metadata", "API client", "Limits per batch", "Limits in flight",
                  "Budgets", "Retries and safety stops", "Prices", "Direct API"):  # fmt: skip
        assert panel in text
    for param in FIELD_PARAMS:
        assert "--" + param.name.replace("_", "-") in text
    assert json.dumps("--dry-run") and "--wipe-task" in text and "--only-process" in text
