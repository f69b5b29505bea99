"""``batchwright tokens FILE.jsonl``: token and cost estimate of any batch-format JSONL file.

Each line is a batch request (``{"custom_id", "method", "url", "body"}``); the model and endpoint come from
the line. Prints a row per request and totals per model, or with ``--json`` one JSON object per request and a
final totals object.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from batchwright.cli.app import app
from batchwright.errors import InputError
from batchwright.pricing import ModelPrice, PriceOverrides, request_cost, resolve_price
from batchwright.tokens import (
    DEFAULT_COMPLETION_RATIO,
    DEFAULT_MAX_OUTPUT_TOKENS,
    FetchingImageSizes,
    ImageSizes,
    count_input_tokens,
    endpoint_of,
    model_profile,
    predict_output_tokens,
)
from batchwright.tokens.estimate import MODERATIONS

FREE = ModelPrice(0, 0, 0, 0, 0, 0, source="free")


@dataclass
class Estimate:
    """Predicted tokens and cost of one request, or a sum of them."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_batch: float = 0.0
    cost_direct: float = 0.0

    def add(self, other: Estimate) -> None:
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_batch += other.cost_batch
        self.cost_direct += other.cost_direct


def _parse_line(raw: bytes, number: int, path: Path) -> dict[str, Any] | None:
    where = f"{path}, line {number}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{where} is not UTF-8 text.", remedy="Batch files must be UTF-8 JSONL.") from None
    if not text.strip():
        return None
    try:
        line = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where} is not valid JSON: {exc.msg}.", remedy="Each line must be one JSON object (JSONL)."
        ) from None
    if not isinstance(line, dict):
        raise InputError(
            f"{where} is not a JSON object.", remedy="Each line must be one batch request object."
        )
    missing = [key for key in ("custom_id", "url", "body") if key not in line]
    if missing or not isinstance(line["body"], dict) or not isinstance(line["body"].get("model"), str):
        missing = missing or ["body.model"]
        raise InputError(
            f"{where} lacks {', '.join(missing)}.",
            remedy='Batch lines look like {"custom_id": "r1", "method": "POST", '
            '"url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", ...}}.',
        )
    return line


def estimate_file(
    path: Path,
    *,
    completion_ratio: float,
    default_max_output_tokens: int,
    overrides: PriceOverrides | None,
    image_sizes: ImageSizes | None = None,
) -> Iterator[tuple[str, str, Estimate]]:
    """Yield ``(custom_id, model, Estimate)`` for every request line of a batch-format JSONL file."""
    prices: dict[str, ModelPrice] = {}
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror}.", remedy="Check the file path.") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            line = _parse_line(raw, number, path)
            if line is None:
                continue
            url, body = str(line["url"]), line["body"]
            model = body["model"]
            try:
                input_tokens = count_input_tokens(url, body, image_sizes=image_sizes)
                output_tokens = predict_output_tokens(url, body, completion_ratio, default_max_output_tokens)
            except InputError as error:
                raise InputError(f"{path}, line {number}: {error.message}", remedy=error.remedy) from None
            if endpoint_of(url) == MODERATIONS:  # the moderation endpoint is free (OpenAI pricing page)
                price = FREE
            else:
                if model not in prices:
                    prices[model] = resolve_price(model, overrides)
                price = prices[model]
            costs = {
                mode: request_cost(price, input_tokens=input_tokens, output_tokens=output_tokens, batch=batch)
                for mode, batch in (("batch", True), ("direct", False))
            }
            yield (
                str(line["custom_id"]),
                model,
                Estimate(1, input_tokens, output_tokens, costs["batch"], costs["direct"]),
            )


_ROW = "{:<24} {:<28} {:>13} {:>13} {:>12} {:>12}\n"
_HEADERS = ("custom_id", "model", "input tokens", "output tokens", "cost batch", "cost direct")


def _totals_table(per_model: dict[str, Estimate], total: Estimate) -> Table:
    table = Table(title="Totals (output tokens and costs are predictions)", title_justify="left")
    table.add_column("Model")
    for header in ("Requests", "Input tokens", "Output tokens", "Cost batch", "Cost direct"):
        table.add_column(header, justify="right")
    rows = [*sorted(per_model.items()), ("Total", total)]
    for name, estimate in rows:
        table.add_row(
            name,
            f"{estimate.requests:,}",
            f"{estimate.input_tokens:,}",
            f"{estimate.output_tokens:,}",
            f"${estimate.cost_batch:,.4f}",
            f"${estimate.cost_direct:,.4f}",
            style="bold" if name == "Total" else None,
        )
    return table


def _price_option(field: str, what: str) -> Any:
    return typer.Option(
        None, "--" + field.replace("_", "-"), min=0, help=f"Price override: {what}, USD/1M tokens."
    )


@app.command()
def tokens(
    file: Path = typer.Argument(..., help="Batch-format JSONL file (one request per line)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per request, then a totals object."),
    fetch_images: bool = typer.Option(
        False,
        "--fetch-images",
        help="Read the size of http(s) images (first bytes only, 5 s timeout); "
        "otherwise they count as the largest size.",
    ),
    completion_ratio: float = typer.Option(
        DEFAULT_COMPLETION_RATIO,
        "--completion-ratio",
        min=0,
        max=1,
        help="Predicted output / max output tokens.",
    ),
    default_max_output_tokens: int = typer.Option(
        DEFAULT_MAX_OUTPUT_TOKENS,
        "--default-max-output-tokens",
        min=1,
        help="Max output tokens if a request sets none.",
    ),
    cost_input_direct_mtoken: float | None = _price_option("cost_input_direct_mtoken", "direct input"),
    cost_input_cached_mtoken: float | None = _price_option("cost_input_cached_mtoken", "cached direct input"),
    cost_input_cached_batch_mtoken: float | None = _price_option(
        "cost_input_cached_batch_mtoken", "cached batch input"
    ),
    cost_input_batch_mtoken: float | None = _price_option("cost_input_batch_mtoken", "batch input"),
    cost_output_direct_mtoken: float | None = _price_option("cost_output_direct_mtoken", "direct output"),
    cost_output_batch_mtoken: float | None = _price_option("cost_output_batch_mtoken", "batch output"),
) -> None:
    """Estimate input/output tokens and batch/direct cost of every request in a batch JSONL file."""
    overrides = PriceOverrides(
        cost_input_direct_mtoken=cost_input_direct_mtoken,
        cost_input_cached_mtoken=cost_input_cached_mtoken,
        cost_input_cached_batch_mtoken=cost_input_cached_batch_mtoken,
        cost_input_batch_mtoken=cost_input_batch_mtoken,
        cost_output_direct_mtoken=cost_output_direct_mtoken,
        cost_output_batch_mtoken=cost_output_batch_mtoken,
    )
    image_sizes = FetchingImageSizes() if fetch_images else None
    try:
        estimates = estimate_file(
            file,
            completion_ratio=completion_ratio,
            default_max_output_tokens=default_max_output_tokens,
            overrides=None if overrides.is_empty() else overrides,
            image_sizes=image_sizes,
        )
        _print_estimates(file, estimates, as_json)
    finally:
        if image_sizes is not None:
            image_sizes.close()


def _print_estimates(file: Path, estimates: Iterator[tuple[str, str, Estimate]], as_json: bool) -> None:
    per_model: dict[str, Estimate] = {}
    total = Estimate()
    out = sys.stdout  # one plain line per request, streamed: files of any size in bounded memory
    for custom_id, model, estimate in estimates:
        if total.requests == 0 and not as_json:  # the header only once a request was read
            out.write(_ROW.format(*_HEADERS))
        if model not in per_model and not model_profile(model).known:
            sys.stderr.write(
                f"note: {model!r} is not a known OpenAI model: its tokens are estimated with the fallback "
                f"encoding {model_profile(model).encoding_name} and the gpt-4o image rule.\n"
            )
        per_model.setdefault(model, Estimate()).add(estimate)
        total.add(estimate)
        if as_json:
            record = {"custom_id": custom_id, "model": model, **asdict(estimate)}
            del record["requests"]
            out.write(json.dumps(record) + "\n")
        else:
            out.write(
                _ROW.format(
                    custom_id,
                    model,
                    f"{estimate.input_tokens:,}",
                    f"{estimate.output_tokens:,}",
                    f"${estimate.cost_batch:,.6f}",
                    f"${estimate.cost_direct:,.6f}",
                )
            )
    if total.requests == 0:
        raise InputError(
            f"{file} holds no requests.", remedy="Give a batch-format JSONL file with one request per line."
        )
    if as_json:
        models = {name: asdict(estimate) for name, estimate in sorted(per_model.items())}
        out.write(json.dumps({"totals": asdict(total), "models": models}) + "\n")
    else:
        out.flush()
        Console(highlight=False).print(_totals_table(per_model, total))
