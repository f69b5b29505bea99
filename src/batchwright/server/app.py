"""The ASGI application: FastAPI routes behind the :class:`~batchwright.server.gate.Gate`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from batchwright.server import admin, batches, direct, files
from batchwright.server.api_errors import APIError, error_body, json_response
from batchwright.server.backend import ModelBackend
from batchwright.server.config import ServerConfig
from batchwright.server.gate import Gate
from batchwright.server.lifecycle import BatchRunner
from batchwright.server.state import ServerState
from batchwright.server.storage import Storage


def make_backend(config: ServerConfig) -> tuple[ModelBackend, bool]:
    """The model backend for ``config`` and whether the server owns (and must close) it."""
    if config.backend is not None:
        return config.backend, False
    if config.upstream:
        from batchwright.server.upstream import UpstreamBackend

        backend = UpstreamBackend(
            config.upstream, api_key=config.upstream_api_key, max_concurrency=config.upstream_concurrency
        )
        return backend, True
    from batchwright.server.fake_model import FakeModel

    return FakeModel(seed=config.seed), True


def create_app(config: ServerConfig) -> Any:
    """The server's ASGI app; its lifespan opens storage and resumes unfinished batches."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = Storage(config.data_dir)
        try:
            backend, owned = make_backend(config)
            state = ServerState(config, storage, backend)
        except BaseException:
            storage.close()  # release the data dir's lock: a bad fault plan must not wedge a restart
            raise
        state.runner = BatchRunner(state)
        app.state.server = state
        state.runner.resume_all()
        try:
            yield
        finally:
            await state.runner.stop()
            state.flush_direct_log()
            if owned:
                await backend.aclose()
            storage.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    for module in (files, batches, direct, admin):
        app.include_router(module.router)

    @app.exception_handler(APIError)
    async def api_error(_request: Request, error: APIError) -> Response:
        return error.response()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code in (404, 405):
            message = f"Invalid URL ({request.method} {request.url.path})"
        else:
            message = str(error.detail)
        return json_response(error_body(message), error.status_code)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(_request: Request, _error: ClientDisconnect) -> Response:
        return Response(status_code=499)  # the client left mid-request: nothing to answer, nothing to log

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, _error: Exception) -> Response:
        # Starlette re-raises after answering, so uvicorn logs the traceback once.
        return json_response(
            error_body("The server had an error while processing your request.", type="server_error"), 500
        )

    return Gate(app)
