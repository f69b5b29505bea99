"""OpenAI-shaped responses: errors ``{"error": {"message", "type", "param", "code"}}`` and list pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response


class APIError(Exception):
    """Raised inside a route to answer with an OpenAI error body and HTTP status."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return error_body(self.message, type=self.type, param=self.param, code=self.code)

    def response(self) -> Response:
        """The HTTP response for this error."""
        return json_response(self.body(), self.status_code, self.headers)


def error_body(
    message: str, *, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An OpenAI error body."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON response (cheaper than pydantic serialisation on hot paths)."""
    return Response(orjson.dumps(body), status_code, headers, media_type="application/json")


def not_found(kind: str, object_id: str, param: str | None = "id") -> APIError:
    """The 404 the API answers for an unknown file or batch id."""
    return APIError(404, f"No such {kind} object: {object_id}", param=param)


def missing_parameter(name: str) -> APIError:
    """A 400 for an absent required parameter."""
    return APIError(
        400, f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
    )


def invalid_value(name: str, message: str, code: str = "invalid_value") -> APIError:
    """A 400 for a parameter with a bad value."""
    return APIError(400, f"Invalid '{name}': {message}", param=name, code=code)


def page_limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    """The ``limit`` query parameter (1..maximum), or a 400."""
    try:
        limit = int(params.get("limit", default))
    except ValueError:
        raise invalid_value("limit", "expected an integer.", "invalid_type") from None
    if not 1 <= limit <= maximum:
        raise invalid_value("limit", f"must be between 1 and {maximum}.")
    return limit


def list_page(data: list[dict[str, Any]], has_more: bool) -> Response:
    """A cursor page: ``{"object": "list", "data", "first_id", "last_id", "has_more"}``."""
    return json_response(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }
    )
