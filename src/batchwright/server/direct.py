"""Direct endpoints (chat completions, responses, embeddings, completions, models) via the backend."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from batchwright.server.api_errors import APIError, json_response
from batchwright.server.batches import json_object
from batchwright.server.faults import DIRECT_ENDPOINTS
from batchwright.server.gate import ARRIVED_KEY
from batchwright.server.state import ServerState
from batchwright.server.storage import new_id
from batchwright.server.usage import usage_of
from batchwright.tokens import count_input_tokens

router = APIRouter()


async def direct_request(request: Request) -> Response:
    """Answer one model request through the backend, after the RPM/TPM limits (if any)."""
    state: ServerState = request.app.state.server
    arrived = request.scope.get(ARRIVED_KEY) or time.time()
    client_request_id = request.headers.get("x-client-request-id")
    url = request.scope["path"]
    body = await json_object(request)
    request_id = new_id("req_")
    headers = {"x-request-id": request_id}
    model = body.get("model")
    limiter = state.limiter
    if limiter is not None and limiter.applies_to(url):
        try:
            limiter.admit(str(model), count_input_tokens(url, body))
        except APIError:  # refused by the RPM/TPM limit: logged with created_at 0 (nothing billed)
            state.log_direct((request_id, url, str(model), 429, 0, 0, 0, arrived, client_request_id))
            raise
        headers.update(limiter.headers())
    answer = await state.backend.respond(url, body)
    tokens_in, tokens_out, _cached, _reasoning = (
        usage_of(answer.body) if answer.status_code == 200 else (0, 0, 0, 0)
    )
    model_name = model if isinstance(model, str) else None
    row = (request_id, url, model_name, answer.status_code, tokens_in, tokens_out, int(time.time()))
    state.log_direct((*row, arrived, client_request_id))
    return json_response(answer.body, answer.status_code, headers)


for _path in DIRECT_ENDPOINTS:
    router.add_api_route(_path, direct_request, methods=["POST"], include_in_schema=False)


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    """The models the backend serves."""
    answer = await request.app.state.server.backend.respond("/v1/models", {})
    return json_response(answer.body, answer.status_code)


@router.get("/v1/models/{model_id}")
async def retrieve_model(request: Request, model_id: str) -> Response:
    """One model of the backend's list (404 ``model_not_found`` otherwise)."""
    answer = await request.app.state.server.backend.respond("/v1/models", {})
    if answer.status_code != 200:
        return json_response(answer.body, answer.status_code)
    for model in answer.body.get("data", []):
        if model.get("id") == model_id:
            return json_response(model)
    raise APIError(
        404,
        f"The model '{model_id}' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )
