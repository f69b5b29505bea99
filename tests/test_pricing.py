"""Prices: catalogue lookups for dated names, batch and cached rates, overrides, the unknown-price error."""

from __future__ import annotations

import pytest

from batchwright.errors import ExitCode, PriceUnknownError
from batchwright.pricing import (
    BATCH_DISCOUNT,
    OVERRIDE_FLAGS,
    ModelPrice,
    PriceOverrides,
    request_cost,
    resolve_price,
)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4o-mini-2024-07-18"])
def test_dated_names_resolve_to_the_same_catalogue_prices(model):
    price = resolve_price(model)
    assert (price.input_direct, price.output_direct) == (0.15, 0.6)
    assert (price.input_batch, price.output_batch) == (0.075, 0.3)
    assert price.input_cached_direct == 0.075
    assert price.source == "catalogue"


def test_catalogue_batch_cached_rate_when_listed():
    price = resolve_price("gpt-5-2025-08-07")
    assert (price.input_direct, price.input_cached_direct, price.output_direct) == (1.25, 0.125, 10.0)
    assert (price.input_batch, price.input_cached_batch, price.output_batch) == (0.625, 0.0625, 5.0)


def test_missing_batch_price_gets_the_documented_discount():
    price = resolve_price("text-embedding-3-small")
    assert price.input_batch == price.input_direct * BATCH_DISCOUNT
    assert price.output_direct == 0.0  # embeddings have no output
    assert price.source.endswith("+batch-discount")


def test_run_overrides_replace_single_prices():
    price = resolve_price("gpt-4o", PriceOverrides(cost_output_batch_mtoken=1.0))
    assert price.output_batch == 1.0
    assert price.input_direct == 2.5
    assert price.source == "catalogue+overrides"


def test_per_model_overrides_win_over_run_overrides():
    run = PriceOverrides(cost_input_direct_mtoken=9.0, cost_output_direct_mtoken=9.0)
    per_model = {"my-model": PriceOverrides(cost_input_direct_mtoken=1.0)}
    price = resolve_price("my-model", run, per_model)
    assert (price.input_direct, price.output_direct) == (1.0, 9.0)
    assert (price.input_batch, price.output_batch) == (0.5, 4.5)  # derived: 50%
    assert price.input_cached_direct == 1.0  # no cache discount assumed
    assert price.input_cached_batch == 0.5
    assert resolve_price("other-model", run).input_direct == 9.0


def test_zero_prices_are_valid_for_local_models():
    zero = PriceOverrides(cost_input_direct_mtoken=0, cost_output_direct_mtoken=0)
    price = resolve_price("llama-3.1-8b-instruct", zero)
    assert price == ModelPrice(0, 0, 0, 0, 0, 0, source="overrides+batch-discount")
    assert request_cost(price, input_tokens=10**6, output_tokens=10**6, batch=False) == 0


def test_batch_only_prices_derive_direct():
    price = resolve_price("x", PriceOverrides(cost_input_batch_mtoken=1.0, cost_output_batch_mtoken=2.0))
    assert (price.input_direct, price.output_direct) == (2.0, 4.0)


def test_unknown_price_names_the_override_flags():
    with pytest.raises(PriceUnknownError) as info:
        resolve_price("my-private-model")
    error = info.value
    assert "my-private-model" in error.message
    for flag in ("--cost-input-direct-mtoken", "--cost-output-direct-mtoken", "cost_input_direct_mtoken"):
        assert flag in str(error)
    assert error.exit_code == ExitCode.BAD_INPUT
    with pytest.raises(PriceUnknownError, match="output_direct missing"):
        resolve_price("my-private-model", PriceOverrides(cost_input_direct_mtoken=1))


def test_overrides_reject_negative_prices_and_unknown_fields():
    with pytest.raises(ValueError):
        PriceOverrides(cost_input_direct_mtoken=-1)
    with pytest.raises(ValueError):
        PriceOverrides(cost_input_mtoken=1)
    assert OVERRIDE_FLAGS["cost_input_cached_mtoken"] == "--cost-input-cached-mtoken"


def test_request_cost_uncached_cached_and_output():
    price = ModelPrice(2.0, 1.0, 0.5, 0.25, 8.0, 4.0)
    direct = request_cost(price, input_tokens=1000, cached_tokens=400, output_tokens=100, batch=False)
    assert direct == pytest.approx((600 * 2.0 + 400 * 0.5 + 100 * 8.0) / 1e6)
    batch = request_cost(price, input_tokens=1000, cached_tokens=400, output_tokens=100, batch=True)
    assert batch == pytest.approx((600 * 1.0 + 400 * 0.25 + 100 * 4.0) / 1e6)
    # cached tokens never exceed input tokens
    capped = request_cost(price, input_tokens=10, cached_tokens=50, output_tokens=0, batch=False)
    assert capped == pytest.approx(10 * 0.5 / 1e6)
