"""Classification: one batch output line or direct response → an :class:`Outcome`.

Shared by the batch and the direct path so both decide identically. Never raises for odd input: an
unknown error code or a malformed line is a fatal error *for that request*, never a crash.
"""

from __future__ import annotations

from typing import Any

import pydantic

from batchwright.engine.structured import output_text, parse_output
from batchwright.engine.types import Kind, Outcome

#: Per-request error codes that mean "not processed": requeue without using a retry.
REQUEUE_CODES = frozenset({"batch_expired", "batch_cancelled", "token_limit_exceeded"})
RETRY_STATUSES = frozenset({408, 409, 429})


def status_kind(status: int) -> Kind:
    """Retryable for 408/409/429/5xx, fatal for any other non-2xx status."""
    if status in RETRY_STATUSES or status >= 500:
        return Kind.RETRY
    return Kind.FATAL


def usage_of(body: dict[str, Any]) -> tuple[int, int, int, int]:
    """True (input, cached, output, reasoning) tokens from any endpoint's ``usage`` object."""
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return 0, 0, 0, 0
    if "input_tokens" in usage:  # responses API
        in_details = usage.get("input_tokens_details") or {}
        out_details = usage.get("output_tokens_details") or {}
        return (
            usage.get("input_tokens") or 0,
            in_details.get("cached_tokens") or 0,
            usage.get("output_tokens") or 0,
            out_details.get("reasoning_tokens") or 0,
        )
    in_details = usage.get("prompt_tokens_details") or {}
    out_details = usage.get("completion_tokens_details") or {}
    return (
        usage.get("prompt_tokens") or 0,
        in_details.get("cached_tokens") or 0,
        usage.get("completion_tokens") or 0,
        out_details.get("reasoning_tokens") or 0,
    )


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return err.get("code") or err.get("type"), err.get("message")
    return None, None


def classify_response(
    attempt_id: int,
    url: str,
    status: int,
    body: Any,
    raw: str | None,
    response_model: type[pydantic.BaseModel] | None,
) -> Outcome:
    """Classify one HTTP response (``status``, decoded ``body``) to a request for ``url``."""
    if not isinstance(body, dict):
        return Outcome(
            attempt_id, Kind.FATAL, status, "invalid_response", "response body is not an object", response=raw
        )
    tokens = usage_of(body)
    if status != 200:
        code, message = _error_fields(body)
        return Outcome(
            attempt_id, status_kind(status), status, code or f"http_{status}", message or f"HTTP {status}",
            *tokens, response=raw, body=body,
        )  # fmt: skip
    text, problem = output_text(url, body)
    if problem is not None:
        return Outcome(attempt_id, Kind.RETRY, status, problem, f"the model's output is {problem}", *tokens,
                       response=raw, body=body)  # fmt: skip
    parsed = None
    if response_model is not None:
        try:
            parsed = parse_output(response_model, text)
        except pydantic.ValidationError as exc:
            code = (
                "invalid_json"
                if any(e.get("type") == "json_invalid" for e in exc.errors())
                else "validation_error"
            )
            return Outcome(
                attempt_id, Kind.RETRY, status, code, _short(str(exc)), *tokens, response=raw, body=body
            )
        except ValueError as exc:
            return Outcome(attempt_id, Kind.RETRY, status, "invalid_json", _short(str(exc)), *tokens,
                           response=raw, body=body)  # fmt: skip
    return Outcome(
        attempt_id, Kind.SUCCESS, status, None, None, *tokens, response=raw, body=body, parsed=parsed
    )


def classify_line(
    attempt_id: int, url: str, line: dict[str, Any], raw: str, response_model: type[pydantic.BaseModel] | None
) -> Outcome:
    """Classify one line of a batch output or error file."""
    error = line.get("error")
    response = line.get("response")
    if isinstance(error, dict) and error:
        code = str(error.get("code") or "unknown_error")
        kind = Kind.REQUEUE if code in REQUEUE_CODES else Kind.FATAL
        if code in ("rate_limit_exceeded", "server_error", "timeout"):
            kind = Kind.RETRY
        return Outcome(attempt_id, kind, None, code, str(error.get("message") or code), response=raw)
    if not isinstance(response, dict):
        message = "output line has neither response nor error"
        return Outcome(attempt_id, Kind.FATAL, None, "invalid_line", message, response=raw)
    status = response.get("status_code")
    if not isinstance(status, int):
        return Outcome(
            attempt_id, Kind.FATAL, None, "invalid_line", "output line has no status code", response=raw
        )
    return classify_response(attempt_id, url, status, response.get("body"), raw, response_model)


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
