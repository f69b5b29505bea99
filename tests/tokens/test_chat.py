"""Chat completions input tokens pinned to OpenAI's documented rules and to API-measured counts."""

from __future__ import annotations

import pytest

from batchwright.errors import InputError
from batchwright.tokens import count_input_tokens, get_encoding
from batchwright.tokens.schemas import render_functions, render_response_format

CHAT = "/v1/chat/completions"
O200K = get_encoding("o200k_base")


def chat(model: str = "gpt-4o", **body) -> int:
    return count_input_tokens(CHAT, {"model": model, **body})


def text_tokens(text: str) -> int:
    return len(O200K.encode_ordinary(text))


# Prompt tokens that the real API reported for gpt-3.5-turbo (cl100k_base), published with
# hmarr/openai-chat-tokens (tests/token-counts.test.ts). Our rules must reproduce every one exactly.
EMPTY = {"type": "object", "properties": {}}
API_MEASURED = [
    ([{"role": "user", "content": "hello"}], None, 8),
    ([{"role": "user", "content": "hello world"}], None, 9),
    ([{"role": "system", "content": "hello"}], None, 8),
    ([{"role": "system", "content": "hello:"}], None, 9),
    (
        [
            {"role": "system", "content": "# Important: you're the best robot"},
            {"role": "user", "content": "hello robot"},
            {"role": "assistant", "content": "hello world"},
        ],
        None,
        27,
    ),
    ([{"role": "user", "content": "hello"}], [{"name": "foo", "parameters": EMPTY}], 31),
    (
        [{"role": "user", "content": "hello"}],
        [{"name": "foo", "description": "Do a foo", "parameters": EMPTY}],
        36,
    ),
    (
        [{"role": "user", "content": "hello"}],
        [
            {
                "name": "bing_bong",
                "description": "Do a bing bong",
                "parameters": {"type": "object", "properties": {"foo": {"type": "string"}}},
            }
        ],
        49,
    ),
    (
        [{"role": "user", "content": "hello"}],
        [
            {
                "name": "bing_bong",
                "description": "Do a bing bong",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "foo": {"type": "string"},
                        "bar": {"type": "number", "description": "A number"},
                    },
                },
            }
        ],
        57,
    ),
    (
        [{"role": "user", "content": "hello"}],
        [
            {
                "name": "bing_bong",
                "description": "Do a bing bong",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "foo": {
                            "type": "object",
                            "properties": {
                                "bar": {"type": "string", "enum": ["a", "b", "c"]},
                                "baz": {"type": "boolean"},
                            },
                        }
                    },
                },
            }
        ],
        68,
    ),
    (
        [
            {"role": "user", "content": "hello world"},
            {"role": "function", "name": "do_stuff", "content": "{}"},
        ],
        None,
        15,
    ),
    (
        [
            {"role": "user", "content": "hello world"},
            {"role": "function", "name": "do_stuff", "content": '{"foo": "bar", "baz": 1.5}'},
        ],
        None,
        28,
    ),
    ([{"role": "function", "name": "dance_the_tango", "content": '{"a": { "b" : { "c": false}}}'}], None, 24),
    (
        [
            {
                "role": "assistant",
                "content": "",
                "function_call": {"name": "do_stuff", "arguments": '{"foo": "bar", "baz": 1.5}'},
            }
        ],
        None,
        26,
    ),
    (
        [
            {
                "role": "assistant",
                "content": "",
                "function_call": {"name": "do_stuff", "arguments": '{"foo":"bar", "baz":\n\n 1.5}'},
            }
        ],
        None,
        25,
    ),
    (
        [{"role": "system", "content": "Hello"}, {"role": "user", "content": "Hi there"}],
        [{"name": "do_stuff", "parameters": EMPTY}],
        35,
    ),
    (
        [{"role": "system", "content": "Hello:"}, {"role": "user", "content": "Hi there"}],
        [{"name": "do_stuff", "parameters": EMPTY}],
        35,
    ),
    (
        [
            {"role": "system", "content": "Hello:"},
            {"role": "system", "content": "Hello"},
            {"role": "user", "content": "Hi there"},
        ],
        [{"name": "do_stuff", "parameters": EMPTY}],
        40,
    ),
    (
        [{"role": "user", "content": "hello"}],
        [
            {
                "name": "get_recipe",
                "parameters": {
                    "type": "object",
                    "required": ["ingredients", "instructions", "time_to_cook"],
                    "properties": {
                        "ingredients": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "unit", "amount"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "unit": {
                                        "enum": ["grams", "ml", "cups", "pieces", "teaspoons"],
                                        "type": "string",
                                    },
                                    "amount": {"type": "number"},
                                },
                            },
                        },
                        "instructions": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "Steps to prepare the recipe (no numbering)",
                        },
                        "time_to_cook": {
                            "type": "number",
                            "description": "Total time to prepare the recipe in minutes",
                        },
                    },
                },
            }
        ],
        106,
    ),
]


@pytest.mark.parametrize(("messages", "functions", "expected"), API_MEASURED)
def test_api_measured_counts_gpt35(messages, functions, expected):
    body = {"messages": messages} if functions is None else {"messages": messages, "functions": functions}
    assert chat("gpt-3.5-turbo", **body) == expected


@pytest.mark.parametrize(("messages", "functions", "expected"), [c for c in API_MEASURED if c[1]])
def test_tools_render_like_legacy_functions(messages, functions, expected):
    tools = [{"type": "function", "function": f} for f in functions]
    assert chat("gpt-3.5-turbo-0125", messages=messages, tools=tools) == expected


# --- documented per-message rules on o200k models -----------------------------------------------------------


def test_messages_roles_and_reply_priming():
    # 3 (priming) + [3 + system(1) + "You are helpful."(4)] + [3 + user(1) + "Hello world"(2)]
    messages = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hello world"}]
    assert chat(messages=messages) == 17


def test_name_adds_its_tokens_and_one():
    messages = [{"role": "user", "content": "Hello world", "name": "bob"}]
    assert chat(messages=messages) == 3 + 3 + 1 + 2 + (1 + 1)


def test_multi_part_text_counts_every_part():
    parts = [{"type": "text", "text": "Hello world"}, {"type": "text", "text": "How many r in strawberry?"}]
    assert chat(messages=[{"role": "user", "content": parts}]) == 3 + 3 + 1 + 2 + 6


def test_audio_and_file_parts_are_recognised_and_count_zero():
    parts = [
        {"type": "text", "text": "Hello world"},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-abc"}},
    ]
    assert chat(messages=[{"role": "user", "content": parts}]) == 3 + 3 + 1 + 2


def test_special_token_text_in_content_counts_as_plain_text():
    assert chat(messages=[{"role": "user", "content": "<|endoftext|> hi"}]) == 3 + 3 + 1 + 8


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", 12),
        ("gpt-4.1-nano", 12),
        ("o3-mini", 12),
        ("gpt-5", 12),
        ("gpt-4-0613", 13),  # cl100k_base: "Sunny, 21 C" is 6 tokens instead of 5
        ("gpt-4-turbo", 13),
        ("gpt-3.5-turbo", 13),
        ("my-local-llama", 12),  # unknown: the o200k_base fallback
    ],
)
def test_encoding_per_model_family(model, expected):
    assert chat(model, messages=[{"role": "user", "content": "Sunny, 21 C"}]) == expected


def test_assistant_tool_calls_and_tool_results():
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    messages = [
        {"role": "user", "content": "Hello world"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 C"},
    ]
    # 3 + [3+1+2] + [3+1 + (get_weather 2 + args 5 + 3)] + [3+1+5]
    assert chat(messages=messages) == 3 + 6 + 14 + 9


WEATHER = {
    "name": "get_weather",
    "description": "Get the weather",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": ["integer", "null"]},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
        },
        "required": ["city"],
        "$defs": {"tag": {"anyOf": [{"type": "string"}, {"const": 3}]}},
    },
}
WEATHER_RENDERED = """namespace functions {

// Get the weather
type get_weather = (_: {
// City name
city: string,
unit?: "c" | "f",
days?: number | null,
tags?: string | 3[],
}) => any;

} // namespace functions"""


def test_function_rendering_typescript_namespace():
    assert render_functions([WEATHER]) == WEATHER_RENDERED


def test_tools_without_and_with_a_system_message():
    user = [{"role": "user", "content": "Hello world"}]
    tools = [{"type": "function", "function": WEATHER}]
    rendered = text_tokens(WEATHER_RENDERED)
    assert chat(messages=user, tools=tools) == 3 + 6 + rendered + 9
    system = [{"role": "system", "content": "You are helpful."}, *user]
    # the first system message gains "\n" (here "." + "\n" stays 2 tokens: "."→".\n")
    padded = text_tokens("You are helpful.\n")
    assert chat(messages=system, tools=tools) == 3 + (4 + padded) + 6 + rendered + 9 - 4


@pytest.mark.parametrize(
    ("choice", "extra"),
    [
        ("auto", 0),
        ("required", 0),
        ("none", 1),
        ({"type": "function", "function": {"name": "get_weather"}}, 2 + 4),
    ],
)
def test_tool_choice(choice, extra):
    base = {
        "messages": [{"role": "user", "content": "Hello world"}],
        "tools": [{"type": "function", "function": WEATHER}],
    }
    assert chat(**base, tool_choice=choice) - chat(**base) == extra


SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def test_response_format_json_schema():
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "reply", "description": "A reply", "schema": SCHEMA},
    }
    rendered = render_response_format("reply", "A reply", SCHEMA)
    assert rendered == (
        "# Response Formats\n\n## reply\n\n// A reply\n"
        '{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}'
    )
    user = [{"role": "user", "content": "Hello world"}]
    assert chat(messages=user, response_format=fmt) == 3 + 6 + text_tokens(rendered) + 4
    system = [{"role": "developer", "content": "You are helpful."}, *user]
    assert chat(messages=system, response_format=fmt) == 3 + (4 + 4) + 6 + text_tokens(rendered)


@pytest.mark.parametrize("fmt", [{"type": "text"}, {"type": "json_object"}])
def test_text_and_json_object_formats_add_nothing(fmt):
    user = [{"role": "user", "content": "Hello world"}]
    assert chat(messages=user, response_format=fmt) == chat(messages=user)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"model": "gpt-4o"}, "non-empty 'messages'"),
        ({"model": "gpt-4o", "messages": []}, "non-empty 'messages'"),
        ({"model": "gpt-4o", "messages": ["hi"]}, "must be an object"),
        ({"model": "gpt-4o", "messages": [{"content": "hi"}]}, "no 'role'"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": 5}]}, "string or a list"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "no 'model'"),
    ],
)
def test_malformed_requests_are_input_errors(body, problem):
    with pytest.raises(InputError, match=problem):
        count_input_tokens(CHAT, body)
