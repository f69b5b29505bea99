"""Raw JSON from the server validates against the official SDK's types, with no unknown keys."""

from __future__ import annotations

import httpx
from openai.types import Batch, BatchError, FileDeleted, FileObject
from openai.types.shared import ErrorObject
from pydantic import BaseModel

from .support import chat_line, client_for, jsonl, submit, wait_for


def strict(model: type[BaseModel], raw: dict) -> BaseModel:
    """Validate ``raw`` as ``model`` and insist every key is a field the SDK knows."""
    assert set(raw) <= set(model.model_fields), set(raw) - set(model.model_fields)
    return model.model_validate(raw)


def page_keys(raw: dict) -> None:
    assert set(raw) == {"object", "data", "first_id", "last_id", "has_more"} and raw["object"] == "list"


def test_raw_objects_match_sdk_types(local_server):
    client = client_for(local_server)
    http = httpx.Client(
        base_url=local_server.base_url, headers={"Authorization": f"Bearer {local_server.api_key}"}
    )
    upload = http.post(
        "/files", files={"file": ("a.jsonl", jsonl([chat_line("a")]))}, data={"purpose": "batch"}
    )
    file_raw = upload.json()
    strict(FileObject, file_raw)
    listing = http.get("/files").json()
    page_keys(listing)
    for item in listing["data"]:
        strict(FileObject, item)
    created = http.post(
        "/batches",
        json={
            "input_file_id": file_raw["id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        },
    ).json()
    strict(Batch, created)
    done = wait_for(client, created["id"])
    completed_raw = http.get(f"/batches/{done.id}").json()
    batch = strict(Batch, completed_raw)
    assert batch.usage is not None and batch.request_counts is not None
    failed = wait_for(client, submit(client, ["nope"]).id)
    failed_raw = http.get(f"/batches/{failed.id}").json()
    strict(Batch, failed_raw)
    assert set(failed_raw["errors"]) == {"object", "data"}
    for entry in failed_raw["errors"]["data"]:
        strict(BatchError, entry)
    batches = http.get("/batches").json()
    page_keys(batches)
    for item in batches["data"]:
        strict(Batch, item)
    strict(FileDeleted, http.delete(f"/files/{file_raw['id']}").json())
    for response in (
        http.get("/files/file-nope"),
        http.get("/batches/batch_nope"),
        http.post("/batches", json={}),
    ):
        assert response.status_code in (400, 404)
        assert set(response.json()) == {"error"}
        strict(ErrorObject, response.json()["error"])
