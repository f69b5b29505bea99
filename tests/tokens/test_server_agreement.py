"""The local server bills prompt tokens with the estimator's rules: predicted == true, exactly.

Real HTTP over loopback through the official SDK, on a batch mixing every rule the estimator models.
"""

from __future__ import annotations

import json

import pytest

from batchwright.tokens import count_input_tokens
from server.support import client_for, read_lines, submit, wait_for

from .image_bytes import data_url, gif, jpeg, png, webp_vp8x
from .test_chat import API_MEASURED, SCHEMA, WEATHER

CHAT = "/v1/chat/completions"


def chat_bodies() -> list[dict]:
    images = [
        (png(1024, 1024), "image/png", "high"),
        (jpeg(2048, 4096, exif_bytes=70_000), "image/jpeg", "auto"),
        (gif(128, 64), "image/gif", "low"),
        (webp_vp8x(1800, 2400), "image/webp", None),
    ]
    bodies = [
        {"model": "gpt-3.5-turbo", "messages": m, **({"functions": f} if f else {})}
        for m, f, _ in API_MEASURED
    ]
    for model in ("gpt-4o-mini-2024-07-18", "gpt-4.1-mini", "o4-mini", "gpt-5-nano", "gpt-4o", "o3"):
        for blob, mime, detail in images:
            image = {"url": data_url(blob, mime)} | ({"detail": detail} if detail else {})
            content = [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": image},
            ]
            bodies.append({"model": model, "messages": [{"role": "user", "content": content}]})
    bodies.append(
        {
            "model": "gpt-4.1",
            "messages": [
                {"role": "developer", "content": "You are helpful.", "name": "boss"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Weather?"}, {"type": "text", "text": "Paris"}],
                },
            ],
            "tools": [{"type": "function", "function": WEATHER}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA}},
        }
    )
    return bodies


def test_batch_prompt_tokens_equal_predictions(local_server):
    client = client_for(local_server)
    per_model: dict[str, list[dict]] = {}
    for i, body in enumerate(chat_bodies()):
        request = {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": CHAT,
            "body": {**body, "max_completion_tokens": 5},
        }
        per_model.setdefault(body["model"], []).append(request)  # a batch may use one model only
    checked = 0
    for requests in per_model.values():
        batch = wait_for(client, submit(client, requests).id)
        assert batch.status == "completed", batch.errors
        lines = {line["custom_id"]: line for line in read_lines(client, batch.output_file_id)}
        assert len(lines) == len(requests) and not read_lines(client, batch.error_file_id)
        for request in requests:
            usage = lines[request["custom_id"]]["response"]["body"]["usage"]
            assert usage["prompt_tokens"] == count_input_tokens(CHAT, request["body"]), request["custom_id"]
            checked += 1
    assert checked == len(chat_bodies())


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        (
            "/v1/responses",
            {"model": "gpt-5-mini", "instructions": "Be terse.", "input": "Hello world"},
            "input_tokens",
        ),
        (
            "/v1/responses",
            {
                "model": "gpt-4.1-nano",
                "input": [
                    {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
                    {
                        "role": "user",
                        "content": [{"type": "input_image", "image_url": data_url(png(300, 900))}],
                    },
                ],
                "tools": [{"type": "function", **WEATHER}],
                "text": {"format": {"type": "json_schema", "name": "reply", "schema": SCHEMA}},
            },
            "input_tokens",
        ),
        (
            "/v1/embeddings",
            {"model": "text-embedding-3-small", "input": ["Hello world", "How are you"]},
            "prompt_tokens",
        ),
    ],
)
def test_other_endpoints_agree_in_batches(local_server, endpoint, body, field):
    client = client_for(local_server)
    batch = wait_for(
        client,
        submit(client, [{"custom_id": "a", "method": "POST", "url": endpoint, "body": body}], endpoint).id,
    )
    assert batch.status == "completed", batch.errors
    (line,) = read_lines(client, batch.output_file_id)
    assert line["response"]["body"]["usage"][field] == count_input_tokens(endpoint, body)


def test_direct_api_agrees(local_server):
    client = client_for(local_server)
    body = chat_bodies()[-1]
    completion = client.chat.completions.create(**json.loads(json.dumps(body)))
    assert completion.usage.prompt_tokens == count_input_tokens(CHAT, body)
