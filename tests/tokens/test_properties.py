"""Invariants: plain text counts equal tiktoken's, and more content never means fewer tokens."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from batchwright.errors import InputError
from batchwright.tokens import count_input_tokens, encoding_name_for_model, get_encoding, max_output_tokens

from .image_bytes import data_url, png

MODELS = st.sampled_from(["gpt-4o-mini", "gpt-4", "gpt-4.1-mini", "o3", "gpt-5-nano", "some-local-model"])
TEXT = st.text(max_size=200)
ROLES = st.sampled_from(["system", "developer", "user", "assistant"])


def tiktoken_count(model: str, text: str) -> int:
    return len(get_encoding(encoding_name_for_model(model)).encode(text, disallowed_special=()))


@settings(deadline=None)
@given(MODELS, TEXT)
def test_embedding_text_equals_tiktoken(model, text):
    assert count_input_tokens("/v1/embeddings", {"model": model, "input": text}) == tiktoken_count(
        model, text
    )


@settings(deadline=None)
@given(MODELS, TEXT)
def test_one_plain_message_is_tiktoken_plus_the_documented_overhead(model, text):
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    assert count_input_tokens("/v1/chat/completions", body) == 3 + 3 + 1 + tiktoken_count(model, text)


message = st.fixed_dictionaries(
    {"role": ROLES, "content": TEXT}, optional={"name": st.from_regex(r"[a-z]{1,8}", fullmatch=True)}
)
image_part = st.builds(
    lambda w, h, detail: {"type": "image_url", "image_url": {"url": data_url(png(w, h)), "detail": detail}},
    st.integers(1, 5000),
    st.integers(1, 5000),
    st.sampled_from(["low", "high", "auto"]),
)
part = st.one_of(st.builds(lambda t: {"type": "text", "text": t}, TEXT), image_part)
tool = st.builds(
    lambda name, description, props: {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": {p: {"type": "string"} for p in props}},
        },
    },
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    st.text(max_size=40),
    st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), max_size=4),
)


@settings(max_examples=60, deadline=None)
@given(MODELS, st.lists(message, min_size=1, max_size=4), message, st.lists(part, max_size=3), part)
def test_more_messages_or_parts_never_fewer_tokens(model, messages, extra_message, parts, extra_part):
    url = "/v1/chat/completions"
    base = {"model": model, "messages": [*messages, {"role": "user", "content": parts}]}
    more_messages = {**base, "messages": [*base["messages"], extra_message]}
    more_parts = {"model": model, "messages": [*messages, {"role": "user", "content": [*parts, extra_part]}]}
    assert count_input_tokens(url, more_messages) >= count_input_tokens(url, base)
    assert count_input_tokens(url, more_parts) >= count_input_tokens(url, base)


@settings(max_examples=40, deadline=None)
@given(MODELS, st.lists(message, min_size=1, max_size=3), st.lists(tool, max_size=3), tool)
def test_more_tools_never_fewer_tokens(model, messages, tools, extra_tool):
    url = "/v1/chat/completions"
    base = {"model": model, "messages": messages, "tools": tools}
    assert count_input_tokens(url, {**base, "tools": [*tools, extra_tool]}) >= count_input_tokens(url, base)


FIELDS = st.sampled_from(
    [
        "role",
        "content",
        "type",
        "text",
        "image_url",
        "url",
        "detail",
        "name",
        "tool_calls",
        "function",
        "arguments",
        "input",
        "properties",
        "parameters",
        "required",
        "summary",
        "output",
        "json_schema",
        "schema",
        "format",
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(FIELDS, children, max_size=4),
    max_leaves=16,
)
BODY_FIELDS = st.sampled_from(
    [
        "messages",
        "input",
        "instructions",
        "tools",
        "functions",
        "response_format",
        "text",
        "tool_choice",
        "prompt",
        "suffix",
        "max_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        "n",
        "best_of",
    ]
)
ENDPOINTS = st.sampled_from(["/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions"])


@settings(max_examples=400, deadline=None)
@given(ENDPOINTS, st.dictionaries(BODY_FIELDS, JSON, max_size=5))
def test_malformed_bodies_raise_input_errors_only(url, fields):
    body = {"model": "gpt-4o", **fields}
    for estimate in (count_input_tokens, max_output_tokens):
        with contextlib.suppress(InputError):
            result = estimate(url, body)
            assert result is None or result >= 0
