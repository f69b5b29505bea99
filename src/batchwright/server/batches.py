"""Batches endpoints: create, retrieve, list (newest first), cancel."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from batchwright.server.api_errors import (
    APIError,
    invalid_value,
    json_response,
    list_page,
    missing_parameter,
    not_found,
    page_limit,
)
from batchwright.server.state import ServerState
from batchwright.server.storage import new_id
from batchwright.server.validation import BATCH_ENDPOINTS

router = APIRouter()

MAX_METADATA_KEYS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512


def _state(request: Request) -> ServerState:
    return request.app.state.server


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON body, which must be an object (400 otherwise; 413 over the file size limit)."""
    limit = _state(request).config.max_file_bytes
    if int(request.headers.get("content-length") or 0) > limit:
        raise APIError(
            413, f"The request body is too large; the limit is {limit} bytes.", code="request_too_large"
        )
    try:
        body = orjson.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise APIError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your"
            " HTTP library correctly. The OpenAI API expects a JSON payload.)",
        )
    return body


def _check_metadata(metadata: Any) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise invalid_value("metadata", "expected an object.", "invalid_type")
    if len(metadata) > MAX_METADATA_KEYS:
        raise invalid_value(
            "metadata",
            f"too many properties. Expected an object with at most {MAX_METADATA_KEYS} properties,"
            f" but got an object with {len(metadata)} properties instead.",
            "object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY:
            raise invalid_value(
                "metadata",
                f"key {key[:20]!r}... is too long: at most {MAX_METADATA_KEY} characters.",
                "string_above_max_length",
            )
        if not isinstance(value, str):
            raise invalid_value(f"metadata.{key}", "expected a string.", "invalid_type")
        if len(value) > MAX_METADATA_VALUE:
            raise invalid_value(
                f"metadata.{key}",
                f"string too long. Expected a string with maximum length {MAX_METADATA_VALUE}, but got a"
                f" string with length {len(value)} instead.",
                "string_above_max_length",
            )
    return metadata


def _check_output_expiry(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("anchor") != "created_at":
        raise invalid_value("output_expires_after.anchor", "the only supported anchor is 'created_at'.")
    seconds = value.get("seconds")
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise invalid_value("output_expires_after.seconds", "expected an integer.", "invalid_type")
    if not 3600 <= seconds <= 2_592_000:
        raise invalid_value("output_expires_after.seconds", "must be between 3600 and 2592000.")
    return seconds


@router.post("/v1/batches")
async def create_batch(request: Request) -> Response:
    """Create a batch from an uploaded ``purpose=batch`` file; it starts ``validating``."""
    state = _state(request)
    body = await json_object(request)
    for name in ("input_file_id", "endpoint", "completion_window"):
        if body.get(name) in (None, ""):
            raise missing_parameter(name)
    endpoint = body["endpoint"]
    if endpoint not in BATCH_ENDPOINTS:
        raise invalid_value(
            "endpoint", f"{endpoint!r} is not supported; use one of {', '.join(BATCH_ENDPOINTS)}."
        )
    if body["completion_window"] != "24h":
        raise invalid_value("completion_window", "the only supported value is '24h'.")
    metadata = _check_metadata(body.get("metadata"))
    output_expires_after = _check_output_expiry(body.get("output_expires_after"))
    input_file = state.storage.get_file(str(body["input_file_id"]))
    if input_file is None:
        raise not_found("File", str(body["input_file_id"]), param="input_file_id")
    if input_file["purpose"] != "batch":
        raise invalid_value("input_file_id", "the file must be uploaded with purpose 'batch'.")
    config = state.config
    now = int(time.time())
    window = config.window(config.completion_window_seconds)
    batch = {
        "id": new_id("batch_"),
        "object": "batch",
        "endpoint": endpoint,
        "model": None,
        "errors": None,
        "input_file_id": input_file["id"],
        "completion_window": "24h",
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": now,
        "in_progress_at": None,
        "expires_at": now + int(window),
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "usage": None,
        "metadata": metadata,
    }
    internal = {
        "ordinal": state.storage.count_batches(),
        "faults": state.faults.batch_faults(),
        "deadline": time.time() + window,
        "output_expires_after": output_expires_after,
    }
    state.storage.pin_batch_input(batch["id"], input_file["id"])
    state.storage.insert_batch(batch, internal)
    state.runner.start(batch["id"])
    return json_response(batch)


@router.get("/v1/batches")
async def list_batches(request: Request) -> Response:
    """Batches, newest first, ``after``/``limit`` pagination."""
    params = request.query_params
    limit = page_limit(params, 20, 100)
    data, has_more = _state(request).storage.list_batches(after=params.get("after"), limit=limit)
    return list_page(data, has_more)


def _get(state: ServerState, batch_id: str) -> dict[str, Any]:
    found = state.storage.get_batch(batch_id)
    if found is None:
        raise not_found("Batch", batch_id)
    return found[0]


@router.get("/v1/batches/{batch_id}")
async def retrieve_batch(request: Request, batch_id: str) -> Response:
    """One batch object."""
    return json_response(_get(_state(request), batch_id))


@router.post("/v1/batches/{batch_id}/cancel")
async def cancel_batch(request: Request, batch_id: str) -> Response:
    """Cancel a running batch: ``cancelling`` now, ``cancelled`` with partial output soon after."""
    state = _state(request)
    batch = _get(state, batch_id)
    if batch["status"] in ("failed", "completed", "expired", "cancelled"):
        raise APIError(409, f"Cannot cancel a batch with status '{batch['status']}'.", param="batch_id")
    return json_response(state.runner.request_cancel(batch))
