"""Endpoints, embeddings and completions inputs, output-token limits and predictions, model encodings."""

from __future__ import annotations

import pytest

from batchwright.errors import InputError
from batchwright.tokens import (
    count_input_tokens,
    encoding_name_for_model,
    endpoint_of,
    max_output_tokens,
    model_profile,
    output_token_limit,
    predict_output_tokens,
)

CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "Hello world"}]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Hello world", 2),
        (["Hello world", "How many r in strawberry?"], 8),
        ([15339, 1917, 0], 3),  # one token array
        ([[15339, 1917], [0], []], 3),  # token arrays
    ],
)
@pytest.mark.parametrize("endpoint", ["/v1/embeddings", "/v1/moderations"])
def test_embeddings_and_moderation_inputs(endpoint, value, expected):
    assert count_input_tokens(endpoint, {"model": "text-embedding-3-small", "input": value}) == expected


def test_embeddings_use_cl100k():
    body = {"model": "text-embedding-3-large", "input": "Sunny, 21 C"}
    assert count_input_tokens("/v1/embeddings", body) == 6


def test_completions_prompt_and_suffix():
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": ["Hello world", [1, 2, 3]], "suffix": "Hello world"}
    assert count_input_tokens("/v1/completions", body) == 2 + 3 + 2


@pytest.mark.parametrize("bad", [None, 5, [1.5], [{"text": "x"}], [None]])
def test_bad_prompts_are_errors(bad):
    with pytest.raises(InputError):
        count_input_tokens("/v1/completions", {"model": "davinci-002", "prompt": bad})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/v1/chat/completions/", "/v1/chat/completions"),
        ("https://api.openai.com/v1/responses?x=1", "/v1/responses"),
    ],
)
def test_endpoint_of(url, expected):
    assert endpoint_of(url) == expected


def test_unsupported_endpoint_names_the_supported_ones():
    with pytest.raises(InputError, match=r"/v1/chat/completions, /v1/completions"):
        count_input_tokens("/v1/images/generations", {"model": "dall-e-3", "prompt": "a cat"})


@pytest.mark.parametrize(
    ("url", "body", "expected"),
    [
        (CHAT, {"messages": USER}, None),
        (CHAT, {"messages": USER, "max_tokens": 100}, 100),
        (CHAT, {"messages": USER, "max_completion_tokens": 50, "max_tokens": 100}, 50),
        (CHAT, {"messages": USER, "max_completion_tokens": 50, "n": 3}, 150),
        ("/v1/responses", {"input": "hi", "max_output_tokens": 70}, 70),
        ("/v1/responses", {"input": "hi"}, None),
        ("/v1/completions", {"prompt": "hi"}, 16),  # the API's default max_tokens
        ("/v1/completions", {"prompt": "hi", "max_tokens": 10, "n": 2, "best_of": 5}, 50),
        ("/v1/embeddings", {"input": "hi"}, 0),
    ],
)
def test_max_output_tokens(url, body, expected):
    assert max_output_tokens(url, {"model": "gpt-4o", **body}) == expected


def test_output_token_limit_defaults_per_choice():
    assert output_token_limit(CHAT, {"model": "gpt-4o", "messages": USER, "n": 3}, 1000) == 3000
    assert output_token_limit(CHAT, {"model": "gpt-4o", "messages": USER, "max_tokens": 7}, 1000) == 7
    completions = {"model": "davinci-002", "prompt": "x", "best_of": 2}
    assert output_token_limit("/v1/completions", completions, 99) == 32  # the API's default 16 × best_of


def test_predicted_output_tokens():
    body = {"model": "gpt-4o", "messages": USER, "max_completion_tokens": 101}
    assert predict_output_tokens(CHAT, body, 0.5, 2048) == 51  # ceil(50.5)
    assert predict_output_tokens(CHAT, {"model": "gpt-4o", "messages": USER, "n": 2}, 0.25, 1000) == 500
    assert (
        predict_output_tokens("/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"}, 0.5, 99)
        == 0
    )


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
def test_bad_limits_are_errors(bad):
    with pytest.raises(InputError, match="non-negative integer"):
        max_output_tokens(CHAT, {"model": "gpt-4o", "messages": USER, "max_tokens": bad})


@pytest.mark.parametrize(
    ("model", "encoding", "known"),
    [
        ("gpt-4o-mini-2024-07-18", "o200k_base", True),
        ("gpt-4.1-nano-2025-04-14", "o200k_base", True),
        ("gpt-4.5-preview", "o200k_base", True),
        ("o1-mini", "o200k_base", True),
        ("o3-2025-04-16", "o200k_base", True),
        ("gpt-5.4-nano", "o200k_base", True),
        ("gpt-oss-120b", "o200k_base", True),
        ("openai/gpt-4o", "o200k_base", True),
        ("gpt-4", "cl100k_base", True),
        ("gpt-4-32k-0613", "cl100k_base", True),
        ("gpt-3.5-turbo-16k", "cl100k_base", True),
        ("ft:gpt-3.5-turbo-0125:org::abc", "cl100k_base", True),
        ("text-embedding-ada-002", "cl100k_base", True),
        ("llama-3.1-70b", "o200k_base", False),
        ("claude-sonnet-4", "o200k_base", False),
    ],
)
def test_encodings_and_fallback(model, encoding, known):
    assert encoding_name_for_model(model) == encoding
    assert model_profile(model).known is known
