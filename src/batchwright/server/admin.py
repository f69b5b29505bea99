"""Admin endpoints outside ``/v1``: the ledger (what was created, processed and billed) and faults."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from batchwright.errors import ConfigError
from batchwright.server.api_errors import APIError, json_response
from batchwright.server.batches import json_object
from batchwright.server.state import ServerState

router = APIRouter()


def _state(request: Request) -> ServerState:
    return request.app.state.server


@router.get("/_admin/ledger")
async def ledger(request: Request) -> Response:
    """Every file and batch ever created, every request processed and the tokens billed."""
    state = _state(request)
    state.flush_direct_log()
    return json_response(state.storage.ledger())


@router.get("/_admin/faults")
async def get_faults(request: Request) -> Response:
    """The fault plan in force."""
    return json_response(_state(request).faults.plan.model_dump())


@router.put("/_admin/faults")
async def put_faults(request: Request) -> Response:
    """Replace the fault plan (JSON body of the plan's shape; ``{}`` clears every fault)."""
    state = _state(request)
    try:
        state.set_faults(await json_object(request))
    except ConfigError as error:
        raise APIError(400, error.message, param="plan") from error
    return json_response(state.faults.plan.model_dump())
