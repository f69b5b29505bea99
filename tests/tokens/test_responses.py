"""Responses API input tokens: the same rendering rules as chat completions."""

from __future__ import annotations

import pytest

from batchwright.errors import InputError
from batchwright.tokens import count_input_tokens, get_encoding
from batchwright.tokens.schemas import render_functions, render_response_format

from .image_bytes import data_url, png
from .test_chat import SCHEMA, WEATHER

RESPONSES = "/v1/responses"
CHAT = "/v1/chat/completions"
O200K = get_encoding("o200k_base")


def responses(**body) -> int:
    return count_input_tokens(RESPONSES, {"model": "gpt-4.1", **body})


def test_string_input_is_one_user_message():
    assert responses(input="Hello world") == 3 + 3 + 1 + 2


def test_instructions_are_a_developer_message():
    assert responses(input="Hello world", instructions="You are helpful.") == 3 + (3 + 1 + 4) + (3 + 1 + 2)


def test_same_count_as_the_equivalent_chat_request():
    chat_body = {
        "model": "gpt-4.1",
        "messages": [
            {"role": "developer", "content": "You are helpful."},
            {"role": "user", "content": [{"type": "text", "text": "Hello world"}]},
        ],
        "tools": [{"type": "function", "function": WEATHER}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA}},
    }
    responses_body = {
        "model": "gpt-4.1",
        "instructions": "You are helpful.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hello world"}]}],
        "tools": [{"type": "function", **WEATHER}],
        "text": {"format": {"type": "json_schema", "name": "reply", "schema": SCHEMA}},
    }
    expected = (
        3
        + (3 + 1 + len(O200K.encode_ordinary("You are helpful.")))
        + (3 + 1 + 2)
        + len(O200K.encode_ordinary(render_functions([WEATHER])))
        + 9
        - 4
        + len(O200K.encode_ordinary(render_response_format("reply", None, SCHEMA)))
    )
    assert count_input_tokens(RESPONSES, responses_body) == expected
    # chat pads the first system message with a newline when tools exist; "." + "\n" is one more token here
    assert (
        count_input_tokens(CHAT, chat_body) - expected == len(O200K.encode_ordinary("You are helpful.\n")) - 4
    )


def test_items_function_calls_outputs_reasoning_and_images():
    items = [
        {"type": "message", "role": "user", "content": "Hello world"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Hello world"}]},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "Sunny, 21 C"},
        {
            "role": "user",
            "content": [{"type": "input_image", "image_url": data_url(png(1024, 1024)), "detail": "low"}],
        },
        {"role": "user", "content": [{"type": "input_image", "file_id": "file-1", "detail": "high"}]},
        {"role": "user", "content": [{"type": "input_file", "file_id": "file-2"}]},
        {"type": "item_reference", "id": "msg_1"},
    ]
    expected = (
        3
        + (3 + 1 + 2)  # message
        + (2 + 3)  # reasoning summary
        + (2 + 5 + 3)  # function call
        + (5 + 3)  # function call output
        + (3 + 1 + 85)  # low-detail image: base tokens
        + (3 + 1 + 85 + 8 * 170)  # file-id image, size unknown: the maximum
        + (3 + 1)  # file: recognised, counts 0
        + 3  # item reference
    )
    assert responses(input=items) == expected


def test_built_in_tools_add_nothing():
    assert responses(input="Hello world", tools=[{"type": "web_search"}]) == responses(input="Hello world")


@pytest.mark.parametrize(
    ("body", "problem"),
    [({}, "needs 'input'"), ({"input": 5}, "string or a list"), ({"input": ["hi"]}, "must be an object")],
)
def test_malformed_inputs_are_errors(body, problem):
    with pytest.raises(InputError, match=problem):
        responses(**body)
