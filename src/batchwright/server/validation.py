"""Batch input validation, streamed line by line, with the error codes the real service reports.

Codes in ``errors.data[]`` (each with ``line``, 1-based, where it applies):

- ``invalid_json_line``: the line is not a JSON object.
- ``missing_required_parameter`` (``param`` = ``custom_id``/``method``/``url``/``body``/``body.model``).
- ``invalid_type``: ``custom_id`` not a string or ``body`` not an object.
- ``invalid_value``: empty ``custom_id`` or ``method`` other than ``POST``.
- ``invalid_url``: ``url`` is not an endpoint the Batch API serves.
- ``url_mismatch``: ``url`` differs from the batch's ``endpoint``.
- ``duplicate_custom_id``, ``model_mismatch`` (a second model in the file), ``too_many_tasks``
  (more than 50,000 requests), ``file_too_large`` (over 200 MB), ``empty_file``.
- ``token_limit_exceeded`` (no line): checked by the lifecycle against in-flight batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from batchwright.errors import InputError
from batchwright.tokens import count_input_tokens

BATCH_ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
)
MAX_REPORTED_ERRORS = 1000


@dataclass
class ValidationResult:
    """What validation learnt about an input file."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    model: str | None = None
    input_tokens: int = 0


def _error(code: str, message: str, line: int | None, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def _check_line(request: Any, endpoint: str, line: int) -> dict[str, Any] | None:
    """The first problem with one parsed line, or None."""
    if not isinstance(request, dict):
        return _error("invalid_json_line", "This line is not parseable as a valid JSON object.", line)
    for name in ("custom_id", "method", "url", "body"):
        if name not in request:
            return _error("missing_required_parameter", f"Missing required parameter: '{name}'.", line, name)
    custom_id, method, url, body = request["custom_id"], request["method"], request["url"], request["body"]
    if not isinstance(custom_id, str):
        return _error("invalid_type", "Invalid type for 'custom_id': expected a string.", line, "custom_id")
    if not custom_id:
        return _error("invalid_value", "Invalid 'custom_id': empty string.", line, "custom_id")
    if method != "POST":
        message = f"Invalid value for 'method': {method!r}. Supported values are: 'POST'."
        return _error("invalid_value", message, line, "method")
    if not isinstance(url, str) or url not in BATCH_ENDPOINTS:
        return _error("invalid_url", f"The URL {url!r} is not supported by the Batch API.", line, "url")
    if url != endpoint:
        return _error(
            "url_mismatch",
            f"The URL provided for this request ({url}) does not match the batch endpoint ({endpoint}).",
            line,
            "url",
        )
    if not isinstance(body, dict):
        return _error("invalid_type", "Invalid type for 'body': expected an object.", line, "body")
    if not isinstance(body.get("model"), str) or not body["model"]:
        message = "Missing required parameter: 'body.model'."
        return _error("missing_required_parameter", message, line, "body.model")
    return None


def _tokens(endpoint: str, body: dict[str, Any]) -> int:
    """Input tokens of a line; a body the model endpoint will reject counts 0 (it fails at run time)."""
    try:
        return count_input_tokens(endpoint, body)
    except InputError:
        return 0


def validate_input(path: Path, endpoint: str, *, max_bytes: int, max_requests: int) -> ValidationResult:
    """Validate the JSONL file at ``path`` for a batch on ``endpoint`` (reads it once, streamed)."""
    result = ValidationResult()
    size = path.stat().st_size
    if size > max_bytes:
        result.errors.append(
            _error("file_too_large", f"The input file is {size} bytes; the limit is {max_bytes} bytes.", None)
        )
        return result
    seen: set[str] = set()
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            result.total = line_no
            if line_no > max_requests:
                result.errors.append(
                    _error(
                        "too_many_tasks",
                        f"The batch input file has more than {max_requests} requests.",
                        line_no,
                    )
                )
                break
            try:
                request = orjson.loads(raw)
            except ValueError:
                request = None
            problem = _check_line(request, endpoint, line_no)
            if problem is None:
                custom_id = request["custom_id"]
                model = request["body"]["model"]
                if custom_id in seen:
                    problem = _error(
                        "duplicate_custom_id",
                        f"The custom_id {custom_id!r} is a duplicate of another request; custom_id must be"
                        " unique within a batch.",
                        line_no,
                        "custom_id",
                    )
                elif result.model is not None and model != result.model:
                    problem = _error(
                        "model_mismatch",
                        f"The model {model!r} differs from the model {result.model!r} used by other"
                        " requests in this batch; a batch may use one model only.",
                        line_no,
                        "body.model",
                    )
                else:
                    seen.add(custom_id)
                    result.model = model
                    result.input_tokens += _tokens(endpoint, request["body"])
            if problem is not None and len(result.errors) < MAX_REPORTED_ERRORS:
                result.errors.append(problem)
    if result.total == 0:
        result.errors.append(_error("empty_file", "The batch input file is empty.", None))
    return result


def iter_requests(path: Path, skip: set[int]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(line, custom_id, body)`` for each line of a validated input file not in ``skip``."""
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if line_no in skip:
                continue
            request = orjson.loads(raw)
            yield line_no, request["custom_id"], request["body"]
