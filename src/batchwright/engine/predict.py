"""Predicted tokens and cost per request before sending, true cost per result after (issue 4's rules).

The engine's one adapter onto ``batchwright.tokens`` and ``batchwright.pricing``; prices are resolved once
per model (an unknown price raises :class:`~batchwright.errors.PriceUnknownError` before anything is sent).
"""

from __future__ import annotations

from typing import Any

from batchwright.config import EngineSettings
from batchwright.pricing import ModelPrice, request_cost, resolve_price
from batchwright.tokens import count_input_tokens, predict_output_tokens


class CostModel:
    """Token predictions and USD costs for one engine session."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self._prices: dict[str, ModelPrice] = {}

    def price(self, model: str) -> ModelPrice:
        """The resolved prices of ``model`` (overrides, then the catalogue)."""
        price = self._prices.get(model)
        if price is None:
            s = self.settings
            price = self._prices[model] = resolve_price(model, s.prices, s.price_overrides)
        return price

    def predict(self, url: str, body: dict[str, Any], mode: str = "batch") -> tuple[int, int, float]:
        """Predicted (input tokens, output tokens, cost) of one request."""
        tokens_in = count_input_tokens(url, body)
        tokens_out = predict_output_tokens(
            url, body, self.settings.completion_ratio, self.settings.default_max_output_tokens
        )
        return tokens_in, tokens_out, self.cost(body["model"], mode, tokens_in, 0, tokens_out)

    def cost(self, model: str, mode: str, input_tokens: int, cached_tokens: int, output_tokens: int) -> float:
        """USD cost of the given token counts for ``model`` in ``mode`` (``batch`` or ``direct``)."""
        return request_cost(
            self.price(model),
            input_tokens=input_tokens,
            cached_tokens=cached_tokens,
            output_tokens=output_tokens,
            batch=mode == "batch",
        )
