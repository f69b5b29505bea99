"""The fake model: SDK-valid objects, schema-valid JSON, tool calls, token limits, usage, errors."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types import Completion, CreateEmbeddingResponse, Model
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from batchwright.server.fake_model import FakeModel
from batchwright.tokens import count_input_tokens, get_encoding

from .schema_strategies import strict_root_schemas

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
COMPLETIONS = "/v1/completions"
EMBEDDINGS = "/v1/embeddings"

PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "email": {"type": ["string", "null"], "format": "email"},
        "friends": {"type": "array", "items": {"$ref": "#/$defs/friend"}, "maxItems": 3},
    },
    "required": ["name", "age", "email", "friends"],
    "additionalProperties": False,
    "$defs": {
        "friend": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "since": {"type": "string", "format": "date"}},
            "required": ["name", "since"],
            "additionalProperties": False,
        }
    },
}
WEATHER_TOOL_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}


def chat_body(text: str = "Tell me about batches.", **extra) -> dict:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def ok(model: FakeModel, url: str, body: dict) -> dict:
    answer = asyncio.run(model.respond(url, body))
    assert answer.status_code == 200, answer.body
    return answer.body


def error(model: FakeModel, url: str, body: dict) -> tuple[int, dict]:
    answer = model.answer(url, body)
    assert set(answer.body) == {"error"}
    assert set(answer.body["error"]) == {"message", "type", "param", "code"}
    return answer.status_code, answer.body["error"]


def test_plain_chat_completion_is_sdk_valid_with_exact_usage():
    body = chat_body()
    result = ok(FakeModel(), CHAT, body)
    completion = ChatCompletion.model_validate(result)
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.content
    encoding = get_encoding("o200k_base")
    assert completion.usage.prompt_tokens == count_input_tokens(CHAT, body)
    assert completion.usage.completion_tokens == len(encoding.encode(choice.message.content))
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    assert completion.usage.completion_tokens_details.reasoning_tokens == 0


def test_service_tier_is_reported():
    assert ok(FakeModel(), CHAT, chat_body(service_tier="flex"))["service_tier"] == "flex"
    assert ok(FakeModel(), CHAT, chat_body(service_tier="auto"))["service_tier"] == "default"
    body = {"model": "gpt-5", "input": "x", "service_tier": "fast"}
    assert Response.model_validate(ok(FakeModel(), RESPONSES, body)).service_tier == "priority"


def test_old_models_count_completion_tokens_with_cl100k():
    body = {**chat_body(), "model": "gpt-3.5-turbo"}
    completion = ChatCompletion.model_validate(ok(FakeModel(), CHAT, body))
    content = completion.choices[0].message.content
    assert completion.usage.completion_tokens == len(get_encoding("cl100k_base").encode(content))


def test_strict_json_schema_chat_answers_validate():
    model = FakeModel(seed=3)
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True}}
    for index in range(30):
        result = ok(model, CHAT, chat_body(f"person {index}", response_format=fmt, n=2))
        for choice in ChatCompletion.model_validate(result).choices:
            jsonschema.validate(json.loads(choice.message.content), PERSON_SCHEMA)


def test_strict_json_schema_responses_answers_validate():
    model = FakeModel()
    text = {"format": {"type": "json_schema", "name": "person", "schema": PERSON_SCHEMA, "strict": True}}
    for index in range(20):
        body = {"model": "gpt-4.1-mini", "input": f"person {index}", "text": text}
        response = Response.model_validate(ok(model, RESPONSES, body))
        assert response.status == "completed"
        jsonschema.validate(json.loads(response.output_text), PERSON_SCHEMA)
        assert response.usage.input_tokens == count_input_tokens(RESPONSES, body)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=strict_root_schemas(), question=st.text(max_size=30), responses_api=st.booleans())
def test_varied_strict_schemas_through_the_fake_model(schema, question, responses_api):
    if responses_api:
        text = {"format": {"type": "json_schema", "name": "varied", "schema": schema, "strict": True}}
        response = Response.model_validate(
            ok(FakeModel(), RESPONSES, {"model": "gpt-4.1", "input": question, "text": text})
        )
        content = response.output_text
    else:
        fmt = {"type": "json_schema", "json_schema": {"name": "varied", "schema": schema, "strict": True}}
        completion = ChatCompletion.model_validate(
            ok(FakeModel(), CHAT, chat_body(question, response_format=fmt))
        )
        content = completion.choices[0].message.content
    jsonschema.validate(
        json.loads(content), schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_json_object_mode_returns_an_object():
    fmt = {"type": "json_object"}
    result = ok(FakeModel(), CHAT, chat_body("Answer in JSON.", response_format=fmt))
    assert isinstance(json.loads(result["choices"][0]["message"]["content"]), dict)


def test_required_tool_choice_gives_schema_valid_tool_call():
    tools = [
        {
            "type": "function",
            "function": {"name": "weather", "parameters": WEATHER_TOOL_PARAMETERS, "strict": True},
        },
        {"type": "function", "function": {"name": "noop"}},
    ]
    seen = set()
    for index in range(20):
        result = ok(FakeModel(), CHAT, chat_body(f"q{index}", tools=tools, tool_choice="required"))
        choice = ChatCompletion.model_validate(result).choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        call = choice.message.tool_calls[0]
        arguments = json.loads(call.function.arguments)
        seen.add(call.function.name)
        if call.function.name == "weather":
            jsonschema.validate(arguments, WEATHER_TOOL_PARAMETERS)
        else:
            assert arguments == {}
    assert seen == {"weather", "noop"}


def test_named_tool_choice_and_auto_choice():
    tools = [{"type": "function", "function": {"name": "weather", "parameters": WEATHER_TOOL_PARAMETERS}}]
    named = {"type": "function", "function": {"name": "weather"}}
    result = ok(FakeModel(), CHAT, chat_body(tools=tools, tool_choice=named))
    assert result["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "weather"
    outcomes = {
        ok(FakeModel(), CHAT, chat_body(f"q{i}", tools=tools))["choices"][0]["finish_reason"]
        for i in range(30)
    }
    assert outcomes == {"tool_calls", "stop"}  # under "auto" the model sometimes calls, sometimes talks
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    after_result = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    replies = {
        ok(FakeModel(seed=i), CHAT, {"model": "gpt-4o", "messages": after_result, "tools": tools})["choices"][
            0
        ]["finish_reason"]
        for i in range(10)
    }
    assert replies == {"stop"}  # after a tool result, "auto" answers in text
    none = ok(FakeModel(), CHAT, chat_body(tools=tools, tool_choice="none"))
    assert none["choices"][0]["finish_reason"] == "stop"


def test_responses_function_call():
    tools = [{"type": "function", "name": "weather", "parameters": WEATHER_TOOL_PARAMETERS, "strict": True}]
    body = {"model": "gpt-4o", "input": "weather?", "tools": tools, "tool_choice": "required"}
    response = Response.model_validate(ok(FakeModel(), RESPONSES, body))
    call = response.output[0]
    assert call.type == "function_call" and call.name == "weather"
    jsonschema.validate(json.loads(call.arguments), WEATHER_TOOL_PARAMETERS)


def test_n_choices_sum_their_tokens():
    result = ChatCompletion.model_validate(ok(FakeModel(), CHAT, chat_body(n=4)))
    assert [choice.index for choice in result.choices] == [0, 1, 2, 3]
    encoding = get_encoding("o200k_base")
    total = sum(len(encoding.encode(choice.message.content)) for choice in result.choices)
    assert result.usage.completion_tokens == total
    assert len({choice.message.content for choice in result.choices}) > 1


def test_max_completion_tokens_cuts_the_answer():
    for limit_key in ("max_completion_tokens", "max_tokens"):
        result = ChatCompletion.model_validate(ok(FakeModel(), CHAT, chat_body(**{limit_key: 5})))
        assert result.choices[0].finish_reason == "length"
        assert result.usage.completion_tokens == 5
        assert len(get_encoding("o200k_base").encode(result.choices[0].message.content)) == 5


def test_stop_sequences_end_the_answer_early():
    stopped = ok(FakeModel(), CHAT, chat_body(stop=["."]))["choices"][0]
    assert stopped["finish_reason"] == "stop"
    assert stopped["message"]["content"] and "." not in stopped["message"]["content"]
    echoed = ok(FakeModel(echo=True), CHAT, chat_body("one two; three. four", stop=["zzz", ";", "."]))
    assert echoed["choices"][0]["message"]["content"] == "one two"
    text = ok(
        FakeModel(), COMPLETIONS, {"model": "davinci-002", "prompt": "x", "max_tokens": 300, "stop": "."}
    )
    assert "." not in text["choices"][0]["text"] and text["choices"][0]["finish_reason"] == "stop"


def test_logprobs_cover_every_content_token():
    result = ChatCompletion.model_validate(ok(FakeModel(), CHAT, chat_body(logprobs=True, top_logprobs=3)))
    choice = result.choices[0]
    tokens = choice.logprobs.content
    assert "".join(entry.token for entry in tokens) == choice.message.content
    assert len(tokens) == result.usage.completion_tokens
    for entry in tokens:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].token == entry.token
        assert sorted((t.logprob for t in entry.top_logprobs), reverse=True) == [
            t.logprob for t in entry.top_logprobs
        ]
    assert ok(FakeModel(), CHAT, chat_body())["choices"][0]["logprobs"] is None


def test_cut_json_answer_is_invalid_json():
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True}}
    result = ok(FakeModel(), CHAT, chat_body(response_format=fmt, max_completion_tokens=6))
    assert result["choices"][0]["finish_reason"] == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(result["choices"][0]["message"]["content"])


def test_responses_max_output_tokens_gives_incomplete():
    body = {"model": "gpt-4o", "input": "Write a long story.", "max_output_tokens": 16}
    response = Response.model_validate(ok(FakeModel(), RESPONSES, body))
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens == 16


def test_reasoning_models_spend_reasoning_tokens_within_the_limit():
    result = ChatCompletion.model_validate(ok(FakeModel(), CHAT, {**chat_body(), "model": "o4-mini"}))
    details = result.usage.completion_tokens_details
    visible = len(get_encoding("o200k_base").encode(result.choices[0].message.content))
    assert details.reasoning_tokens > 0
    assert result.usage.completion_tokens == visible + details.reasoning_tokens
    starved = ok(FakeModel(), CHAT, {**chat_body(), "model": "gpt-5", "max_completion_tokens": 20})
    assert starved["choices"][0]["finish_reason"] == "length"
    assert starved["choices"][0]["message"]["content"] == ""
    assert (
        starved["usage"]["completion_tokens"]
        == starved["usage"]["completion_tokens_details"]["reasoning_tokens"]
    )
    minimal = ok(FakeModel(), CHAT, {**chat_body(), "model": "gpt-5", "reasoning_effort": "minimal"})
    assert minimal["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0


def test_responses_reasoning_item_and_usage():
    body = {"model": "o3", "input": "think", "reasoning": {"effort": "high"}}
    response = Response.model_validate(ok(FakeModel(), RESPONSES, body))
    assert response.output[0].type == "reasoning"
    assert response.usage.output_tokens_details.reasoning_tokens >= 256


def test_cached_tokens_for_long_prompts_only():
    long_body = chat_body("word " * 3000)
    usage = ok(FakeModel(cached_share=0.5), CHAT, long_body)["usage"]
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    assert usage["prompt_tokens"] >= 3000
    assert cached % 128 == 0 and 1024 <= cached <= usage["prompt_tokens"] // 2
    assert ok(FakeModel(), CHAT, chat_body())["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert (
        ok(FakeModel(cached_share=0), CHAT, long_body)["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    )


def test_legacy_completions_default_to_16_tokens():
    result = Completion.model_validate(
        ok(FakeModel(), COMPLETIONS, {"model": "gpt-3.5-turbo-instruct", "prompt": "Hi"})
    )
    assert result.choices[0].finish_reason == "length" and result.usage.completion_tokens == 16
    many = ok(
        FakeModel(), COMPLETIONS, {"model": "davinci-002", "prompt": ["a", "b"], "n": 2, "max_tokens": 200}
    )
    assert len(Completion.model_validate(many).choices) == 4


def test_embeddings_dimensions_norm_and_base64():
    model = FakeModel()
    for name, size in (("text-embedding-3-small", 1536), ("text-embedding-3-large", 3072)):
        result = CreateEmbeddingResponse.model_validate(
            ok(model, EMBEDDINGS, {"model": name, "input": "hello"})
        )
        assert len(result.data[0].embedding) == size
    body = {"model": "text-embedding-3-small", "input": ["hello", "world"], "dimensions": 256}
    floats = CreateEmbeddingResponse.model_validate(ok(model, EMBEDDINGS, body))
    assert [len(item.embedding) for item in floats.data] == [256, 256]
    assert all(
        math.isclose(math.fsum(x * x for x in item.embedding), 1.0, rel_tol=1e-5) for item in floats.data
    )
    assert floats.usage.prompt_tokens == count_input_tokens(EMBEDDINGS, body)
    encoded = ok(model, EMBEDDINGS, {**body, "encoding_format": "base64"})
    for item, expected in zip(encoded["data"], floats.data, strict=True):
        raw = base64.b64decode(item["embedding"])
        assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == expected.embedding
    alone = ok(model, EMBEDDINGS, {"model": "text-embedding-3-small", "input": "world", "dimensions": 256})
    assert alone["data"][0]["embedding"] == floats.data[1].embedding  # same text, same vector


def test_models_list_is_sdk_valid():
    result = ok(FakeModel(), "/v1/models", {})
    assert result["object"] == "list"
    models = [Model.model_validate(item) for item in result["data"]]
    assert {"gpt-4o-mini", "text-embedding-3-small"} <= {m.id for m in models}


def test_paths_without_v1_prefix_are_accepted():
    assert FakeModel().answer("/chat/completions", chat_body()).status_code == 200
    status, body = error(FakeModel(), "/v1/nope", {})
    assert status == 404 and body["message"] == "Invalid URL (POST /v1/nope)"


def test_determinism_by_body_seed_and_repeat():
    body = chat_body("same question")

    def content(model: FakeModel, request: dict) -> str:
        return ok(model, CHAT, request)["choices"][0]["message"]["content"]

    first = content(FakeModel(seed=1), body)
    assert content(FakeModel(seed=1), body) == first
    assert content(FakeModel(seed=2), body) != first
    assert content(FakeModel(seed=1), chat_body("other question")) != first
    model = FakeModel(seed=1)
    answers = [content(model, body) for _ in range(3)]
    assert answers[0] == first and len(set(answers)) == 3  # a retry of the same body gets a new answer
    cold = {**body, "temperature": 0}
    assert len({content(model, cold) for _ in range(3)}) == 1


def test_echo_mode_repeats_the_last_user_message():
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "ping 42"}],
    }
    assert ok(FakeModel(echo=True), CHAT, body)["choices"][0]["message"]["content"] == "ping 42"
    responses = {
        "model": "gpt-4o",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "pong"}]}],
    }
    assert Response.model_validate(ok(FakeModel(echo=True), RESPONSES, responses)).output_text == "pong"


MESSAGE = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("url", "body", "param", "code", "message_part"),
    [
        (CHAT, {"messages": MESSAGE}, None, None, "you must provide a model parameter"),
        (CHAT, {"model": "gpt-4o"}, "messages", "missing_required_parameter", "Missing required parameter"),
        (CHAT, {"model": "gpt-4o", "messages": []}, "messages", "empty_array", "empty array"),
        (CHAT, {"model": "gpt-4o", "messages": "hi"}, "messages", "invalid_type", "expected an array"),
        (
            CHAT,
            {"model": "gpt-4o", "messages": [{"role": "bot", "content": "x"}]},
            "messages[0].role",
            "invalid_value",
            "'bot'",
        ),
        (
            CHAT,
            {"model": "gpt-4o", "messages": MESSAGE, "temprature": 1},
            None,
            None,
            "Unrecognized request argument supplied: temprature",
        ),
        (
            CHAT,
            {"model": "gpt-4o", "messages": MESSAGE, "n": 0},
            "n",
            "integer_below_min_value",
            "Expected a value >= 1",
        ),
        (CHAT, {"model": "gpt-4o", "messages": MESSAGE, "n": 129}, "n", "integer_above_max_value", "<= 128"),
        (
            CHAT,
            {"model": "o3", "messages": MESSAGE, "max_tokens": 10},
            "max_tokens",
            "unsupported_parameter",
            "max_completion_tokens",
        ),
        (
            CHAT,
            {"model": "gpt-4o", "messages": MESSAGE, "response_format": {"type": "json_object"}},
            "messages",
            None,
            "must contain the word 'json'",
        ),
        (
            CHAT,
            {"model": "gpt-4o", "messages": MESSAGE, "tool_choice": "required"},
            "tool_choice",
            None,
            "only allowed when 'tools'",
        ),
        (
            CHAT,
            {"model": "gpt-4o", "messages": MESSAGE, "stream": True},
            "stream",
            "unsupported_parameter",
            "Streaming",
        ),
        (
            CHAT,
            {
                "model": "gpt-4o",
                "messages": MESSAGE,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "loose",
                        "strict": True,
                        "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
                    },
                },
            },
            "response_format",
            "invalid_json_schema",
            "Invalid schema for response_format 'loose': In context=(), 'additionalProperties' is required",
        ),
        (
            CHAT,
            {
                "model": "gpt-4o",
                "messages": MESSAGE,
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "f",
                            "strict": True,
                            "parameters": {**WEATHER_TOOL_PARAMETERS, "required": ["city"]},
                        },
                    }
                ],
                "tool_choice": "required",
            },
            "tools[0].function.parameters",
            "invalid_function_parameters",
            "Invalid schema for function 'f'",
        ),
        (
            RESPONSES,
            {"input": "hi"},
            "model",
            "missing_required_parameter",
            "Missing required parameter: 'model'.",
        ),
        (
            RESPONSES,
            {"model": "gpt-4o", "input": "hi", "foo": 1},
            "foo",
            "unknown_parameter",
            "Unknown parameter: 'foo'.",
        ),
        (
            RESPONSES,
            {"model": "gpt-4o", "input": "hi", "max_output_tokens": 5},
            "max_output_tokens",
            "integer_below_min_value",
            ">= 16",
        ),
        (EMBEDDINGS, {"model": "text-embedding-3-small", "input": ""}, None, None, "'$.input' is invalid"),
        (EMBEDDINGS, {"model": "text-embedding-3-small", "input": []}, None, None, "'$.input' is invalid"),
        (
            EMBEDDINGS,
            {"model": "text-embedding-ada-002", "input": "x", "dimensions": 8},
            None,
            None,
            "does not support specifying dimensions",
        ),
        (
            EMBEDDINGS,
            {"model": "text-embedding-3-small", "input": "x", "dimensions": 4096},
            "dimensions",
            "integer_above_max_value",
            "<= 1536",
        ),
        (
            EMBEDDINGS,
            {"model": "text-embedding-3-small", "input": "x", "encoding_format": "hex"},
            "encoding_format",
            "invalid_value",
            "'float' and 'base64'",
        ),
        (COMPLETIONS, {"prompt": "x"}, None, None, "you must provide a model parameter"),
        (
            CHAT,
            {"model": "gpt-4o", "messages": MESSAGE, "response_format": {"type": "xml"}},
            "response_format.type",
            "invalid_value",
            "'xml'",
        ),
        (
            CHAT,
            {
                "model": "gpt-4o",
                "messages": MESSAGE,
                "response_format": {"type": "json_schema", "json_schema": {"schema": {}}},
            },
            "response_format.json_schema.name",
            "missing_required_parameter",
            "Missing required parameter",
        ),
        (
            RESPONSES,
            {"model": "gpt-4o", "input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}},
            "text.format.schema",
            "missing_required_parameter",
            "Missing required parameter",
        ),
        (
            CHAT,
            {"model": "gpt-4o", "messages": MESSAGE, "stop": ["a", "b", "c", "d", "e"]},
            "stop",
            "array_above_max_length",
            "maximum length 4",
        ),
        (
            CHAT,
            {"model": "o3", "messages": MESSAGE, "stop": "x"},
            "stop",
            "unsupported_parameter",
            "'stop' is not supported",
        ),
    ],
)
def test_bad_requests_get_the_real_400(url, body, param, code, message_part):
    status, detail = error(FakeModel(), url, body)
    assert status == 400
    assert detail["type"] == "invalid_request_error"
    assert detail["param"] == param and detail["code"] == code
    assert message_part in detail["message"]


def test_context_window_is_enforced():
    long_text = "word " * 9000  # about 9,000 tokens
    status, detail = error(
        FakeModel(), CHAT, {"model": "gpt-4", "messages": [{"role": "user", "content": long_text}]}
    )
    assert status == 400 and detail["code"] == "context_length_exceeded" and detail["param"] == "messages"
    assert "maximum context length is 8192 tokens" in detail["message"]
    body = chat_body(
        model="gpt-4o-mini", max_completion_tokens=127_000, messages=[{"role": "user", "content": long_text}]
    )
    status, detail = error(FakeModel(), CHAT, body)
    assert status == 400 and "in the completion" in detail["message"]
    assert FakeModel().answer(CHAT, {**body, "max_completion_tokens": 100}).status_code == 200
    status, detail = error(
        FakeModel(), EMBEDDINGS, {"model": "text-embedding-3-small", "input": ["short", long_text]}
    )
    assert status == 400 and "maximum context length is 8192 tokens" in detail["message"]
    fine = {
        "model": "text-embedding-3-small",
        "input": ["word " * 5000, "word " * 5000],
    }  # over 8192 together only
    assert FakeModel().answer(EMBEDDINGS, fine).status_code == 200
    status, detail = error(FakeModel(), RESPONSES, {"model": "gpt-4o", "input": "word " * 130_000})
    assert status == 400 and detail["code"] == "context_length_exceeded" and detail["param"] == "input"
    assert FakeModel().answer(CHAT, {**chat_body(long_text), "model": "my-local-llama"}).status_code == 200


def test_non_object_body_is_a_400_not_an_exception():
    status, detail = error(FakeModel(), CHAT, ["not", "an", "object"])  # type: ignore[arg-type]
    assert status == 400 and "JSON object" in detail["message"]


# ---- through the local server and the official SDK ------------------------------------------------------


def test_sdk_round_trip_through_the_local_server(local_server):
    import openai
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        population: int
        districts: list[str]

    client = openai.OpenAI(base_url=local_server.base_url, api_key=local_server.api_key)
    parsed = client.chat.completions.parse(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "A city."}], response_format=City
    )
    assert isinstance(parsed.choices[0].message.parsed, City)
    vector = client.embeddings.create(model="text-embedding-3-small", input="hello", dimensions=64)
    assert len(vector.data[0].embedding) == 64  # the SDK asked for base64 and decoded it
    assert math.isclose(math.fsum(x * x for x in vector.data[0].embedding), 1.0, rel_tol=1e-5)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert caught.value.code == "empty_array"
    assert "gpt-4o-mini" in {model.id for model in client.models.list()}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 200) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
PLAUSIBLE_KEYS = [
    "messages", "input", "prompt", "n", "stop", "tools", "tool_choice", "response_format", "text",
    "max_tokens", "max_completion_tokens", "max_output_tokens", "reasoning", "reasoning_effort", "logprobs",
    "top_logprobs", "dimensions", "encoding_format", "instructions", "temperature", "echo",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    url=st.sampled_from([CHAT, RESPONSES, COMPLETIONS, EMBEDDINGS]),
    body=st.fixed_dictionaries(
        {"model": st.sampled_from(["gpt-4o-mini", "o3", "text-embedding-3-small"])},
        optional={key: json_values for key in PLAUSIBLE_KEYS},
    ),
    messages=st.lists(
        st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "tool"]), "content": json_values}),
        max_size=2,
    ),
)
def test_arbitrary_bodies_never_raise(url, body, messages):
    if url == CHAT:
        body = {"messages": messages, **body}
    answer = FakeModel().answer(url, body)
    assert answer.status_code in (200, 400), answer.body
    if answer.status_code == 400:
        assert set(answer.body["error"]) == {"message", "type", "param", "code"}
