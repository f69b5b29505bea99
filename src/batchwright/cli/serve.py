"""``batchwright serve``: run the local OpenAI-compatible batch server in the foreground."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import typer

from batchwright.cli.app import app
from batchwright.errors import ConfigError

MB = 1024 * 1024


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/batchwright/server`` (``~/.local/share/batchwright/server``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "batchwright" / "server"


def parse_speed(value: str) -> float:
    """A positive speed factor, or ``instant``/``inf`` for no simulated delays."""
    if value.strip().lower() in ("instant", "inf", "infinity"):
        return math.inf
    try:
        speed = float(value)
    except ValueError:
        speed = 0.0
    if not speed > 0:
        raise ConfigError(f"--speed must be a positive number or 'instant', got {value!r}.")
    return speed


def parse_model_limits(values: list[str]) -> dict[str, int]:
    """``MODEL=N`` pairs into a mapping."""
    limits: dict[str, int] = {}
    for item in values:
        model, _, number = item.partition("=")
        try:
            limits[model.strip()] = int(number.replace("_", "").replace(",", ""))
        except ValueError:
            raise ConfigError(
                f"--model-token-limit expects MODEL=N, got {item!r}.", remedy="Example: gpt-4o-mini=2000000"
            ) from None
    return limits


@app.command()
def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to bind. Keep 127.0.0.1 unless you must."
    ),
    port: int = typer.Option(8000, "--port", help="TCP port (0 picks a free one)."),
    data_dir: Path = typer.Option(
        None,
        "--data-dir",
        help="Where files, batches and the ledger persist (default: $XDG_DATA_HOME/batchwright/server).",
    ),
    speed: str = typer.Option(
        "1",
        "--speed",
        help="Simulated time factor: 60 makes a batch minute last one second; 'instant' removes every delay.",
    ),
    faults: Path = typer.Option(
        None,
        "--faults",
        help="Fault plan (YAML or JSON): HTTP errors, timeouts, resets, batch and output faults.",
    ),
    api_key: str = typer.Option(
        None,
        "--api-key",
        envvar="BATCHWRIGHT_SERVER_API_KEY",
        help="Bearer key clients must send (default: sk-batchwright-local, printed at start).",
    ),
    upstream: str = typer.Option(
        None, "--upstream", help="Forward every request to this OpenAI-compatible server (Ollama, vLLM, ...)."
    ),
    upstream_api_key: str = typer.Option(
        None, "--upstream-api-key", envvar="BATCHWRIGHT_UPSTREAM_API_KEY", help="Bearer key for --upstream."
    ),
    upstream_concurrency: int = typer.Option(
        16, "--upstream-concurrency", help="Parallel upstream requests."
    ),
    enqueued_token_limit: int = typer.Option(
        2_000_000_000, "--enqueued-token-limit", help="Per-model limit on input tokens of in-flight batches."
    ),
    model_token_limit: list[str] = typer.Option(
        [], "--model-token-limit", help="MODEL=N: enqueued-token limit for one model (repeatable)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for the fake model, faults and output shuffling."),
    max_file_mb: float = typer.Option(200.0, "--max-file-mb", help="Largest file upload accepted (MB)."),
    storage_quota_gb: float = typer.Option(
        100.0, "--storage-quota-gb", help="Total storage of live files (GB)."
    ),
    max_requests_per_batch: int = typer.Option(
        50_000, "--max-requests-per-batch", help="Requests per batch."
    ),
    log_requests: bool = typer.Option(
        False, "--log-requests", help="Log method and path of each request (never bodies)."
    ),
) -> None:
    """Run the local OpenAI-compatible Files + Batches server (with fault injection) until Ctrl+C."""
    from batchwright.server import ServerConfig, load_fault_plan, serve_forever

    if log_requests:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    plan = load_fault_plan(faults)
    config = ServerConfig(
        data_dir=data_dir or default_data_dir(),
        host=host,
        port=port,
        speed=parse_speed(speed),
        faults=plan,
        api_key=api_key,
        enqueued_token_limit=enqueued_token_limit,
        model_token_limits=parse_model_limits(model_token_limit),
        seed=seed,
        upstream=upstream,
        upstream_api_key=upstream_api_key,
        upstream_concurrency=upstream_concurrency,
        max_file_bytes=int(max_file_mb * MB),
        storage_quota_bytes=int(storage_quota_gb * 1024 * MB),
        max_requests_per_batch=max_requests_per_batch,
        log_requests=log_requests,
    )

    def announce(base_url: str) -> None:
        typer.echo(f"batchwright local batch server: {base_url}")
        typer.echo(f"  API key:  {'(as given)' if api_key else config.key}")
        typer.echo(f"  data dir: {config.data_dir}")
        typer.echo(f"  speed:    {speed}   ledger: GET /_admin/ledger   Ctrl+C to stop", nl=True)

    serve_forever(config, announce)
