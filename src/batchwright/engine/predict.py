"""Predicted tokens and cost per request before sending, true cost per result after (issue 4's rules).

The engine's one adapter onto ``batchwright.tokens``, ``batchwright.pricing`` and the learned completion
ratios. Prices are resolved once per model (an unknown price raises
:class:`~batchwright.errors.PriceUnknownError` before anything is sent).
"""

from __future__ import annotations

import math
import os
from typing import Any

from batchwright.config import EngineSettings
from batchwright.engine.completion_ratio import CompletionRatios, RatioStats
from batchwright.errors import PriceUnknownError
from batchwright.pricing import (
    LOCAL_MODEL_PRICE,
    ModelPrice,
    is_local_base_url,
    request_cost,
    resolve_price,
)
from batchwright.tokens import count_input_tokens, max_output_tokens


class CostModel:
    """Token predictions and USD costs for one engine session."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.ratios = CompletionRatios(settings.completion_ratio, settings.learned_ratio_min_samples)
        self._prices: dict[str, ModelPrice] = {}

    def price(self, model: str) -> ModelPrice:
        """The resolved prices of ``model`` (overrides, then the catalogue).

        A model with no known price served from a loopback base URL is a local model and costs nothing.
        """
        price = self._prices.get(model)
        if price is None:
            s = self.settings
            try:
                price = resolve_price(model, s.prices, s.price_overrides)
            except PriceUnknownError:
                if not is_local_base_url(s.base_url or os.environ.get("OPENAI_BASE_URL")):
                    raise
                price = LOCAL_MODEL_PRICE
            self._prices[model] = price
        return price

    def predict(self, url: str, body: dict[str, Any], mode: str = "batch") -> tuple[int, int, float, int]:
        """Predicted (input tokens, output tokens, cost) of one request, and its max output tokens."""
        model = body["model"]
        tokens_in = count_input_tokens(url, body)
        limit = max_output_tokens(url, body)
        if limit is None:
            limit = self.settings.default_max_output_tokens * max(1, body.get("n") or 1)
        tokens_out = math.ceil(self.ratios.ratio(model) * limit)
        return tokens_in, tokens_out, self.cost(model, mode, tokens_in, 0, tokens_out), limit

    def observe(self, model: str, samples: int, max_output_tokens: int, output_tokens: int) -> None:
        """Learn from ``samples`` results of ``model`` (sums of their limits and true output tokens)."""
        old = self.ratios.stats(model)
        self.ratios.load(
            model,
            RatioStats(
                old.samples + samples,
                old.max_output_tokens + max_output_tokens,
                old.output_tokens + output_tokens,
            ),
        )

    def cost(self, model: str, mode: str, input_tokens: int, cached_tokens: int, output_tokens: int) -> float:
        """USD cost of the given token counts for ``model`` in ``mode`` (``batch`` or ``direct``)."""
        return request_cost(
            self.price(model),
            input_tokens=input_tokens,
            cached_tokens=cached_tokens,
            output_tokens=output_tokens,
            batch=mode == "batch",
        )
