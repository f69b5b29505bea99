"""Taking requests in: validate, apply structured-output formats, predict, and insert in large chunks.

Each request's body is serialised once here; batch files are later written from that stored text.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from typing import Any

import orjson

from batchwright.config import EngineSettings
from batchwright.engine.predict import CostModel
from batchwright.engine.structured import ResponseModels
from batchwright.engine.types import ENDPOINTS, RequestSpec
from batchwright.errors import InputError

#: Bytes a batch line adds around the body: custom_id, method, url and JSON punctuation (upper bound).
LINE_OVERHEAD = 72

_INSERT = (
    "INSERT INTO requests (item_key, url, model, body, nbytes, response_model, meta, state, "
    "pred_input_tokens, pred_output_tokens, pred_cost, max_output_tokens, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)"
)
_ITEM = (
    "INSERT INTO items (key, state, updated_at) VALUES (?, 'committed', ?) "
    "ON CONFLICT (key) DO UPDATE SET state = 'committed', updated_at = excluded.updated_at"
)

Row = tuple[Any, ...]


class RequestIntake:
    """Turns :class:`RequestSpec` objects into request rows and inserts them."""

    def __init__(self, settings: EngineSettings, models: ResponseModels, costs: CostModel) -> None:
        self.settings = settings
        self.models = models
        self.costs = costs

    def prepare(self, spec: RequestSpec) -> Row:
        """Validate one spec and return its row; raises :class:`InputError` naming the item.

        Row: item key, url, model, body JSON, line bytes, response model name, meta JSON, predicted input
        tokens, predicted output tokens, predicted cost, max output tokens.
        """
        url, body = spec.url, spec.body
        if url not in ENDPOINTS:
            raise InputError(
                f"Request for item {spec.item_key!r}: unsupported endpoint {url!r}.",
                remedy=f"Use one of {', '.join(ENDPOINTS)}.",
            )
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
            raise InputError(
                f"Request for item {spec.item_key!r}: the body must be a JSON object naming its 'model'."
            )
        model_name = None
        if spec.response_model is not None:
            model_name = self.models.register(spec.response_model)
            body = self.models.apply(model_name, url, body)
        try:
            data = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
            meta = None if spec.meta is None else orjson.dumps(spec.meta, option=orjson.OPT_NON_STR_KEYS)
        except TypeError as exc:
            raise InputError(f"Request for item {spec.item_key!r} is not JSON-serialisable: {exc}.") from None
        text = data.decode()
        nbytes = len(data) + len(url) + LINE_OVERHEAD
        tokens_in, tokens_out, cost, max_out = self.costs.predict(url, body)
        self._check_fits(spec.item_key, nbytes, tokens_in + tokens_out, cost)
        return (
            spec.item_key,
            url,
            body["model"],
            text,
            nbytes,
            model_name,
            meta and meta.decode(),
            tokens_in,
            tokens_out,
            cost,
            max_out,
        )

    def _check_fits(self, key: str | None, nbytes: int, tokens: int, cost: float) -> None:
        s = self.settings
        problems = []
        if nbytes > s.max_batch_bytes:
            problems.append(f"{nbytes} bytes > max_batch_bytes {s.max_batch_bytes}")
        if s.max_batch_tokens is not None and tokens > s.max_batch_tokens:
            problems.append(f"{tokens} predicted tokens > max_batch_tokens {s.max_batch_tokens}")
        if s.max_batch_cost is not None and cost > s.max_batch_cost:
            problems.append(f"predicted ${cost:.4f} > max_batch_cost ${s.max_batch_cost}")
        if problems:
            raise InputError(
                f"Request for item {key!r} cannot fit any batch: {'; '.join(problems)}.",
                remedy="Shorten the request or raise the per-batch limit(s) named above.",
            )

    def insert(self, conn: sqlite3.Connection, specs: Iterable[RequestSpec]) -> int:
        """Prepare and insert ``specs`` inside the caller's transaction; returns the number inserted."""
        now = time.time()
        rows = [(*self.prepare(spec), now) for spec in specs]
        conn.executemany(_INSERT, rows)
        keys = {row[0] for row in rows if row[0] is not None}
        if keys:
            conn.executemany(_ITEM, [(key, now) for key in keys])
        return len(rows)
