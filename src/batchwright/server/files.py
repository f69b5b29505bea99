"""Files endpoints: upload (multipart), list, retrieve, content, delete — with size and quota limits."""

from __future__ import annotations

import shutil
import time

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

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
from batchwright.server.storage import open_private

router = APIRouter()

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
BATCH_FILE_DEFAULT_EXPIRY = 30 * 24 * 3600
MULTIPART_SLACK = 64 * 1024


def _state(request: Request) -> ServerState:
    return request.app.state.server


def _too_large(size: int, limit: int, what: str = "File") -> APIError:
    return APIError(
        413,
        f"{what} is too large ({size} bytes); the maximum file size is {limit} bytes.",
        param="file",
        code="file_too_large",
    )


def _expiry(state: ServerState, form: dict, purpose: str) -> float | None:
    anchor, seconds = form.get("expires_after[anchor]"), form.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        if purpose != "batch":
            return None
        return time.time() + state.config.window(BATCH_FILE_DEFAULT_EXPIRY)
    if anchor != "created_at":
        raise invalid_value("expires_after.anchor", "the only supported anchor is 'created_at'.")
    try:
        value = int(str(seconds))
    except ValueError:
        raise invalid_value("expires_after.seconds", "expected an integer.", "invalid_type") from None
    if not 3600 <= value <= 2_592_000:
        raise invalid_value("expires_after.seconds", "must be between 3600 and 2592000.")
    return time.time() + state.config.window(value)


@router.post("/v1/files")
async def upload_file(request: Request) -> Response:
    """Upload a file (``purpose=batch`` files must be ``.jsonl``)."""
    state = _state(request)
    limit = state.config.max_file_bytes
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit + MULTIPART_SLACK:
        raise _too_large(declared, limit, "The upload")
    form = await request.form(max_part_size=1024 * 1024)
    try:
        upload = form.get("file")
        purpose = form.get("purpose")
        if upload is None or isinstance(upload, str):
            raise missing_parameter("file")
        if purpose is None:
            raise missing_parameter("purpose")
        if purpose not in UPLOAD_PURPOSES:
            raise invalid_value("purpose", f"'{purpose}' is not one of {', '.join(UPLOAD_PURPOSES)}.")
        filename = upload.filename or "upload"
        if purpose == "batch" and not filename.endswith(".jsonl"):
            raise APIError(
                400,
                "Invalid file format for Batch API. Must be .jsonl",
                param="file",
                code="invalid_file_format",
            )
        expires_at = _expiry(state, dict(form), str(purpose))
        upload.file.seek(0, 2)
        size = upload.file.tell()
        upload.file.seek(0)
        if size > limit:
            raise _too_large(size, limit)
        state.storage.sweep_expired()
        used = state.storage.used_bytes()
        quota = state.config.storage_quota_bytes
        if used + size > quota:
            raise APIError(
                400,
                f"Storage quota exceeded: uploading {size} bytes would bring your organization's storage to"
                f" {used + size} bytes; the limit is {quota} bytes. Delete files you no longer need.",
                param="file",
                code="storage_quota_exceeded",
            )
        temp = state.storage.temp_path()
        with open_private(temp) as out:
            shutil.copyfileobj(upload.file, out, 1024 * 1024)
    finally:
        await form.close()
    record = state.storage.add_file(temp, filename=filename, purpose=str(purpose), expires_at=expires_at)
    return json_response(record)


@router.get("/v1/files")
async def list_files(request: Request) -> Response:
    """List live files (``purpose`` filter, ``after``/``limit``/``order`` pagination)."""
    params = request.query_params
    limit = page_limit(params, 10_000, 10_000)
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid_value("order", "must be 'asc' or 'desc'.")
    data, has_more = _state(request).storage.list_files(
        purpose=params.get("purpose"), after=params.get("after"), limit=limit, ascending=order == "asc"
    )
    return list_page(data, has_more)


@router.get("/v1/files/{file_id}")
async def retrieve_file(request: Request, file_id: str) -> Response:
    """One file object."""
    record = _state(request).storage.get_file(file_id)
    if record is None:
        raise not_found("File", file_id)
    return json_response(record)


@router.get("/v1/files/{file_id}/content")
async def file_content(request: Request, file_id: str) -> Response:
    """A file's bytes."""
    storage = _state(request).storage
    if storage.get_file(file_id) is None:
        raise not_found("File", file_id)
    return FileResponse(storage.file_path(file_id), media_type="application/octet-stream")


@router.delete("/v1/files/{file_id}")
async def delete_file(request: Request, file_id: str) -> Response:
    """Delete a file (its record stays in the ledger)."""
    if not _state(request).storage.delete_file(file_id):
        raise not_found("File", file_id)
    return json_response({"id": file_id, "object": "file", "deleted": True})
