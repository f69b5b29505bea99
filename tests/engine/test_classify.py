"""Classification of batch lines and responses: success, retryable, requeue, fatal — never a crash."""

from __future__ import annotations

import json

import pydantic
import pytest

from batchwright.engine.classify import classify_line, classify_response, usage_of
from batchwright.engine.types import Kind

CHAT = "/v1/chat/completions"


class Answer(pydantic.BaseModel):
    char: str
    code: int


def chat_body(content, finish="stop", refusal=None):
    return {
        "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": finish,
                     "message": {"role": "assistant", "content": content, "refusal": refusal}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7,
                  "prompt_tokens_details": {"cached_tokens": 3},
                  "completion_tokens_details": {"reasoning_tokens": 2}},
    }  # fmt: skip


def line(status=200, body=None, error=None):
    return {"id": "x", "custom_id": "1-1", "response": None if status is None else
            {"status_code": status, "request_id": "r", "body": body}, "error": error}  # fmt: skip


def classify(obj, model=None, url=CHAT):
    return classify_line(7, url, obj, json.dumps(obj), model)


def test_success_with_usage():
    out = classify(line(body=chat_body("hello")))
    assert out.kind is Kind.SUCCESS and out.attempt_id == 7
    assert (out.input_tokens, out.cached_tokens, out.output_tokens, out.reasoning_tokens) == (11, 3, 7, 2)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retryable_statuses(status):
    out = classify(line(status, {"error": {"message": "busy", "code": "x"}}))
    assert out.kind is Kind.RETRY and out.status_code == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_4xx_are_fatal(status):
    out = classify(line(status, {"error": {"message": "bad", "code": "invalid_value"}}))
    assert out.kind is Kind.FATAL and out.error_code == "invalid_value"


@pytest.mark.parametrize("code", ["batch_expired", "batch_cancelled", "token_limit_exceeded"])
def test_unprocessed_codes_requeue(code):
    assert classify(line(None, error={"code": code, "message": "m"})).kind is Kind.REQUEUE


def test_unknown_error_code_is_fatal_not_a_crash():
    out = classify(line(None, error={"code": "brand_new_code_2031", "message": "?"}))
    assert out.kind is Kind.FATAL and out.error_code == "brand_new_code_2031"


@pytest.mark.parametrize(
    "obj",
    [{"custom_id": "1-1"}, {"custom_id": "1-1", "response": {"body": {}}},
     {"custom_id": "1-1", "response": "x"}, line(200, body=["not", "an", "object"])],
)  # fmt: skip
def test_malformed_lines_are_fatal_for_that_request(obj):
    assert classify(obj).kind is Kind.FATAL


def test_truncated_empty_and_refusal_outputs_retry():
    assert classify(line(body=chat_body("cut", finish="length"))).error_code == "truncated"
    assert classify(line(body=chat_body(""))).error_code == "empty"
    assert classify(line(body=chat_body(None, refusal="no"))).error_code == "refusal"
    assert classify(line(body={"choices": []})).kind is Kind.RETRY


def test_structured_output_parsed_and_validated():
    ok = classify(line(body=chat_body('{"char": "a", "code": 97}')), Answer)
    assert ok.kind is Kind.SUCCESS and ok.parsed == Answer(char="a", code=97)
    bad_json = classify(line(body=chat_body('{"char": "a", ')), Answer)
    assert bad_json.kind is Kind.RETRY and bad_json.error_code == "invalid_json"
    invalid = classify(line(body=chat_body('{"char": "a", "code": "x"}')), Answer)
    assert invalid.kind is Kind.RETRY and invalid.error_code == "validation_error"


def test_responses_endpoint_text_and_usage():
    body = {"status": "completed", "output": [{"type": "message", "content": [
        {"type": "output_text", "text": '{"char": "b", "code": 98}'}]}],
        "usage": {"input_tokens": 5, "output_tokens": 4, "input_tokens_details": {"cached_tokens": 1},
                  "output_tokens_details": {"reasoning_tokens": 0}}}  # fmt: skip
    out = classify_response(1, "/v1/responses", 200, body, "raw", Answer)
    assert (
        out.kind is Kind.SUCCESS
        and out.parsed.code == 98
        and out.input_tokens == 5
        and out.cached_tokens == 1
    )
    incomplete = classify_response(1, "/v1/responses", 200, {**body, "status": "incomplete"}, "raw", Answer)
    assert incomplete.error_code == "truncated"


def test_embeddings_and_completions():
    emb = {"data": [{"embedding": [0.1]}], "usage": {"prompt_tokens": 3, "total_tokens": 3}}
    assert classify_response(1, "/v1/embeddings", 200, emb, "", None).kind is Kind.SUCCESS
    assert classify_response(1, "/v1/embeddings", 200, {"data": []}, "", None).error_code == "empty"
    comp = {
        "choices": [{"text": "hi", "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
    }
    assert classify_response(1, "/v1/completions", 200, comp, "", None).kind is Kind.SUCCESS
    assert usage_of({"usage": None}) == (0, 0, 0, 0)
