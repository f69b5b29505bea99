"""Model prices: the ``genai-prices`` catalogue, user overrides per run and per model, and request costs.

Resolution for one model, each of the six prices (USD per 1M tokens) taken from the first source that has it:

1. per-model overrides (``per_model[model]``, e.g. from the config file),
2. per-run overrides (flags such as ``--cost-input-direct-mtoken``),
3. the ``genai-prices`` catalogue (provider ``openai`` by default; dated names like
   ``gpt-4o-mini-2024-07-18`` resolve through its match rules). Batch prices come from its
   ``processing=batch`` variant; where the catalogue has none, the documented Batch API discount of 50% is
   applied (OpenAI Batch API guide: "50% cost discount"). Cached batch input: the variant's cached rate, else
   the direct cached rate capped at the batch input rate. Long-context tiers use the base rate.
4. derived values: batch = 50% of direct (and direct = 2 × batch) for input and output; cached direct input =
   direct input (no cache discount assumed); cached batch input = min(cached direct, batch input).

A model whose input or output price stays unknown raises :class:`~batchwright.errors.PriceUnknownError`
naming the override flags. Zero prices are valid (local models). Reasoning tokens are billed as output tokens.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from batchwright.errors import PriceUnknownError

BATCH_DISCOUNT = 0.5
"""Batch price = 50% of the direct price where the catalogue lists no batch price (OpenAI Batch API guide)."""

DEFAULT_PROVIDER = "openai"


@dataclass(frozen=True)
class ModelPrice:
    """Prices of one model in USD per 1M tokens."""

    input_direct: float
    input_batch: float
    input_cached_direct: float
    input_cached_batch: float
    output_direct: float
    output_batch: float
    source: str = "catalogue"
    """Where the prices came from: ``catalogue``, ``overrides`` or ``catalogue+overrides``; batch prices
    derived from the 50% discount add ``+batch-discount``."""


class PriceOverrides(BaseModel):
    """User-set prices in USD per 1M tokens (all optional; zero is valid), named like the seed's flags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cost_input_direct_mtoken: float | None = Field(default=None, ge=0)
    cost_input_cached_mtoken: float | None = Field(default=None, ge=0)
    cost_input_cached_batch_mtoken: float | None = Field(default=None, ge=0)
    cost_input_batch_mtoken: float | None = Field(default=None, ge=0)
    cost_output_direct_mtoken: float | None = Field(default=None, ge=0)
    cost_output_batch_mtoken: float | None = Field(default=None, ge=0)

    def is_empty(self) -> bool:
        """True when no price is set."""
        return all(value is None for value in self.model_dump().values())


OVERRIDE_FLAGS: dict[str, str] = {name: "--" + name.replace("_", "-") for name in PriceOverrides.model_fields}
"""The CLI flag of each override field (``cost_input_direct_mtoken`` → ``--cost-input-direct-mtoken``)."""

# ModelPrice field ← PriceOverrides field
_OVERRIDE_FIELDS = {
    "input_direct": "cost_input_direct_mtoken",
    "input_batch": "cost_input_batch_mtoken",
    "input_cached_direct": "cost_input_cached_mtoken",
    "input_cached_batch": "cost_input_cached_batch_mtoken",
    "output_direct": "cost_output_direct_mtoken",
    "output_batch": "cost_output_batch_mtoken",
}


def _rate(value: Any) -> float | None:
    """A catalogue rate as float (tiered prices: their base rate)."""
    if value is None:
        return None
    if isinstance(value, Decimal | int | float):
        return float(value)
    base = getattr(value, "base", None)
    return float(base) if base is not None else None


@functools.lru_cache(maxsize=512)
def catalogue_prices(model: str, provider: str = DEFAULT_PROVIDER) -> dict[str, float]:
    """The prices ``genai-prices`` knows for ``model`` (possibly only some, possibly none)."""
    from genai_prices import data_snapshot

    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider, None)
    except LookupError:
        return {}
    now = datetime.now(tz=timezone.utc)
    standard = info.get_prices(now)
    # Older catalogues have no price variants: then there is no batch price and the discount applies.
    batch_listed = any(
        variant.when.get("processing") == "batch"
        and (variant.constraint is None or variant.constraint.active(now))
        for variant in getattr(info, "price_variants", None) or ()
    )
    batch = info.get_prices(now, {"processing": "batch"}) if batch_listed else standard
    found: dict[str, float] = {}
    direct_in = _rate(getattr(standard, "input_mtok", None))
    direct_out = _rate(getattr(standard, "output_mtok", None))
    cached = _rate(getattr(standard, "cache_read_mtok", None))
    if direct_in is None:  # an entry without a token price (e.g. subscription-only) is no price at all
        return {}
    found["input_direct"] = direct_in
    # An input price without an output price: an embedding-style model, whose output is free.
    found["output_direct"] = direct_out if direct_out is not None else 0.0
    if cached is not None:
        found["input_cached_direct"] = cached
    if batch_listed:
        batch_in = _rate(getattr(batch, "input_mtok", None))
        batch_out = _rate(getattr(batch, "output_mtok", None))
        found["input_batch"] = direct_in * BATCH_DISCOUNT if batch_in is None else batch_in
        found["output_batch"] = found["output_direct"] * BATCH_DISCOUNT if batch_out is None else batch_out
        batch_cached = _rate(getattr(batch, "cache_read_mtok", None))
        if batch_cached is not None and batch_cached != cached:
            found["input_cached_batch"] = batch_cached
    return found


def _unknown_price_error(model: str, missing: list[str]) -> PriceUnknownError:
    flags = ", ".join(OVERRIDE_FLAGS[_OVERRIDE_FIELDS[name]] for name in missing)
    return PriceUnknownError(
        f"No price is known for model {model!r} ({', '.join(missing)} missing).",
        remedy=f"Set its prices in USD per 1M tokens with {flags} (or the same keys without dashes, "
        "e.g. cost_input_direct_mtoken, per model in the config file); 0 is valid for local models.",
    )


def resolve_price(
    model: str,
    overrides: PriceOverrides | None = None,
    per_model: Mapping[str, PriceOverrides] | None = None,
    *,
    provider: str = DEFAULT_PROVIDER,
) -> ModelPrice:
    """The prices of ``model``: per-model overrides, run overrides, the catalogue, then derived values.

    Raises :class:`~batchwright.errors.PriceUnknownError` when the input or output price stays unknown.
    """
    layers = [layer for layer in ((per_model or {}).get(model), overrides) if layer is not None]
    prices: dict[str, float] = {}
    for name, field in _OVERRIDE_FIELDS.items():
        for layer in layers:
            value = getattr(layer, field)
            if value is not None:
                prices[name] = value
                break
    from_overrides = bool(prices)
    catalogue = catalogue_prices(model, provider)
    for name, value in catalogue.items():
        prices.setdefault(name, value)
    discounted = False
    for direct, batch in (("input_direct", "input_batch"), ("output_direct", "output_batch")):
        if batch not in prices and direct in prices:
            prices[batch], discounted = prices[direct] * BATCH_DISCOUNT, True
        elif direct not in prices and batch in prices:
            prices[direct] = prices[batch] / BATCH_DISCOUNT
    missing = [name for name in ("input_direct", "output_direct") if name not in prices]
    if missing:
        raise _unknown_price_error(model, missing)
    prices.setdefault("input_cached_direct", prices["input_direct"])
    prices.setdefault("input_cached_batch", min(prices["input_cached_direct"], prices["input_batch"]))
    source = "+".join(
        s for s, used in (("catalogue", bool(catalogue)), ("overrides", from_overrides)) if used
    )
    return ModelPrice(**prices, source=source + ("+batch-discount" if discounted else ""))


LOCAL_MODEL_PRICE = ModelPrice(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, source="local-model")
"""The price of a model with no catalogue entry served from a loopback base URL (a local model)."""


def is_local_base_url(base_url: str | None) -> bool:
    """Whether ``base_url`` points at this machine (``localhost``, 127.0.0.0/8 or ``::1``)."""
    if not base_url:
        return False
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def request_cost(
    price: ModelPrice, *, input_tokens: int, cached_tokens: int = 0, output_tokens: int, batch: bool
) -> float:
    """Cost in USD of one request: uncached input, cached input and output (reasoning is inside output)."""
    cached = min(cached_tokens, input_tokens)
    if batch:
        rates = (price.input_batch, price.input_cached_batch, price.output_batch)
    else:
        rates = (price.input_direct, price.input_cached_direct, price.output_direct)
    return ((input_tokens - cached) * rates[0] + cached * rates[1] + output_tokens * rates[2]) / 1_000_000
