"""The fake model: the local server's default backend, deterministic for a given request body and seed.

Answers ``/v1/chat/completions``, ``/v1/responses``, ``/v1/completions``, ``/v1/embeddings`` and
``/v1/models`` with bodies that validate against the official SDK's types. What it says comes from
:mod:`batchwright.server.fake_answers` (text, schema-valid JSON, tool calls); this module shapes the
objects, applies token limits (cutting the answer, ``finish_reason="length"`` / ``incomplete``), and
fills ``usage``: prompt tokens from :func:`batchwright.tokens.count_input_tokens` (so predicted and billed
input tokens agree), completion tokens counted with tiktoken on what was generated, cached tokens for long
prompts and reasoning tokens for reasoning models.

Determinism: the answer is a function of (canonical JSON body, seed, repeat index). The k-th identical
body sent to one ``FakeModel`` gets the k-th answer, so a retry of the same request can get a different
answer, as from a real model; with ``temperature`` 0 every repeat gets the first answer.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import time
from typing import Any

from batchwright.errors import InputError
from batchwright.server.api_errors import APIError
from batchwright.server.backend import BackendResponse
from batchwright.server.fake_answers import Answer, AnswerPlanner
from batchwright.server.fake_embeddings import embeddings_body
from batchwright.server.models import is_reasoning_model, models_list
from batchwright.server.request_checks import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    RESPONSES,
    check_context_length,
    check_request,
)
from batchwright.tokens import count_input_tokens, encoding_name_for_model, get_encoding

_REASONING_EFFORT = {
    "none": (0, 0),
    "minimal": (0, 0),
    "low": (32, 256),
    "medium": (64, 640),
    "high": (256, 1536),
}
_REASONING_EFFORT["xhigh"] = (512, 3072)
_CACHE_MINIMUM = 1024
_CACHE_INCREMENT = 128
_COMPLETIONS_DEFAULT_MAX_TOKENS = 16
_MAX_REMEMBERED_BODIES = 100_000
_SERVICE_TIERS = {"flex": "flex", "priority": "priority", "fast": "priority", "scale": "scale"}
"""The tier an answer reports for the requested one (``auto`` and anything else: ``default``)."""
_RIVALS = [
    word.encode() for word in (" the", " a", " and", " of", " to", " is", " it", " in", ",", ".", " yes")
]
_RIVALS += [
    word.encode() for word in (" no", " not", " that", " this", " for", " with", " as", " on", " be", " or")
]


class FakeModel:
    """Deterministic stand-in for OpenAI's models (a :class:`~batchwright.server.backend.ModelBackend`).

    ``seed`` changes every answer; ``echo=True`` answers plain-text requests with the last user message
    (useful to check that answers land with the right request); ``cached_share`` is the share of a prompt
    of at least 1,024 tokens reported as cached (rounded down to a multiple of 128, as the API reports it).
    """

    def __init__(self, seed: int = 0, *, echo: bool = False, cached_share: float = 0.5) -> None:
        self.seed = seed
        self.cached_share = cached_share
        self._planner = AnswerPlanner(echo=echo)
        self._repeats: dict[int, int] = {}  # body hash -> times seen (oldest forgotten first)

    async def respond(self, url: str, body: dict[str, Any]) -> BackendResponse:
        """Answer ``body`` sent to ``url`` (a 400 with the API's error body for a bad request)."""
        return self.answer(url, body)

    def answer(self, url: str, body: dict[str, Any]) -> BackendResponse:
        """Synchronous :meth:`respond` (the fake model never waits on anything)."""
        if not url.startswith("/v1/"):
            url = "/v1" + url
        if url == "/v1/models":
            return BackendResponse(200, models_list())
        builder = _BUILDERS.get(url)
        if builder is None:
            return BackendResponse(404, APIError(404, f"Invalid URL (POST {url})").body())
        if not isinstance(body, dict):
            return BackendResponse(400, APIError(400, "The request body must be a JSON object.").body())
        try:
            check_request(url, body)
            prompt_tokens = _input_tokens(url, body)
            check_context_length(url, body, prompt_tokens)
            return BackendResponse(200, builder(self, url, body, prompt_tokens))
        except APIError as error:
            return BackendResponse(error.status_code, error.body())

    async def aclose(self) -> None:
        """Nothing to release."""

    def _rng(self, body: dict[str, Any]) -> random.Random:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.blake2b(f"{self.seed}:{canonical}".encode(), digest_size=16).digest()
        key = int.from_bytes(digest[:8], "little")
        repeat = self._repeats.get(key, 0)
        if len(self._repeats) >= _MAX_REMEMBERED_BODIES:
            self._repeats.pop(next(iter(self._repeats)))
        self._repeats[key] = repeat + 1
        if body.get("temperature") == 0:
            repeat = 0
        return random.Random(digest + repeat.to_bytes(8, "little"))

    def _cached(self, prompt_tokens: int) -> int:
        cached = int(prompt_tokens * self.cached_share) // _CACHE_INCREMENT * _CACHE_INCREMENT
        return cached if cached >= _CACHE_MINIMUM else 0

    def _chat(self, url: str, body: dict[str, Any], prompt_tokens: int) -> dict[str, Any]:
        rng = self._rng(body)
        model = body["model"]
        encoding = get_encoding(encoding_name_for_model(model))
        draw = self._planner.plan(url, body, rng)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        effort = body.get("reasoning_effort") or "medium"
        choices, completion_tokens, reasoning_tokens = [], 0, 0
        for index in range(body.get("n") or 1):
            answer = _stop_at(draw(rng), body.get("stop"))
            reasoning = _reasoning_tokens(model, effort, rng)
            text, visible, reasoning, cut = _fit(encoding, answer, reasoning, limit)
            completion_tokens += visible + reasoning
            reasoning_tokens += reasoning
            message: dict[str, Any] = {
                "role": "assistant",
                "content": text,
                "refusal": None,
                "annotations": [],
            }
            finish = "length" if cut else "stop"
            if answer.tool_name is not None:
                call = {"id": _id("call_"), "type": "function", "function": {"name": answer.tool_name}}
                call["function"]["arguments"] = text
                message.update(content=None, tool_calls=[call])
                finish = "length" if cut else "tool_calls"
            logprobs = None
            if body.get("logprobs") and answer.tool_name is None:
                logprobs = {
                    "content": _logprobs(encoding, text, body.get("top_logprobs") or 0, rng),
                    "refusal": None,
                }
            choices.append(
                {"index": index, "message": message, "logprobs": logprobs, "finish_reason": finish}
            )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self._cached(prompt_tokens), "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        return {
            "id": _id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": usage,
            "service_tier": _SERVICE_TIERS.get(body.get("service_tier"), "default"),
            "system_fingerprint": "fp_batchwright",
        }

    def _responses(self, url: str, body: dict[str, Any], prompt_tokens: int) -> dict[str, Any]:
        rng = self._rng(body)
        model = body["model"]
        encoding = get_encoding(encoding_name_for_model(model))
        answer = self._planner.plan(url, body, rng)(rng)
        effort = (body.get("reasoning") or {}).get("effort") or "medium"
        reasoning = _reasoning_tokens(model, effort, rng)
        text, visible, reasoning, cut = _fit(encoding, answer, reasoning, body.get("max_output_tokens"))
        status = "incomplete" if cut else "completed"
        output: list[dict[str, Any]] = []
        if is_reasoning_model(model):
            output.append({"id": _id("rs_"), "type": "reasoning", "summary": []})
        if answer.tool_name is not None:
            call_id = _id("call_")
            item = {"id": _id("fc_"), "type": "function_call", "call_id": call_id, "name": answer.tool_name}
            output.append({**item, "arguments": text, "status": status})
        elif text or not cut:
            content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
            message = {"id": _id("msg_"), "type": "message", "role": "assistant", "status": status}
            output.append({**message, "content": content})
        now = int(time.time())
        return {
            "id": _id("resp_"),
            "object": "response",
            "created_at": now,
            "completed_at": None if cut else now,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "metadata": body.get("metadata") or {},
            "model": model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": effort, "summary": None} if is_reasoning_model(model) else None,
            "service_tier": _SERVICE_TIERS.get(body.get("service_tier"), "default"),
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": {
                "input_tokens": prompt_tokens,
                "input_tokens_details": {
                    "cached_tokens": self._cached(prompt_tokens),
                    "cache_write_tokens": 0,
                },
                "output_tokens": visible + reasoning,
                "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": prompt_tokens + visible + reasoning,
            },
            "user": body.get("user"),
        }

    def _completions(self, url: str, body: dict[str, Any], prompt_tokens: int) -> dict[str, Any]:
        rng = self._rng(body)
        model = body["model"]
        encoding = get_encoding(encoding_name_for_model(model))
        limit = body.get("max_tokens", _COMPLETIONS_DEFAULT_MAX_TOKENS)
        prompts = body.get("prompt", "")
        if not isinstance(prompts, list) or (prompts and isinstance(prompts[0], int)):
            prompts = [prompts]
        choices, completion_tokens = [], 0
        for prompt in prompts:
            for _ in range(body.get("n") or 1):
                answer = _stop_at(self._planner.plan(url, {}, rng)(rng), body.get("stop"))
                text, visible, _, cut = _fit(encoding, answer, 0, limit)
                if body.get("echo") and isinstance(prompt, str):
                    text = prompt + text
                completion_tokens += visible
                finish = "length" if cut else "stop"
                choices.append(
                    {"index": len(choices), "text": text, "logprobs": None, "finish_reason": finish}
                )
        return {
            "id": _id("cmpl-"),
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "system_fingerprint": "fp_batchwright",
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _embeddings(self, url: str, body: dict[str, Any], prompt_tokens: int) -> dict[str, Any]:
        return embeddings_body(body, self.seed, prompt_tokens)


_BUILDERS = {
    CHAT: FakeModel._chat,
    RESPONSES: FakeModel._responses,
    COMPLETIONS: FakeModel._completions,
    EMBEDDINGS: FakeModel._embeddings,
}


def _input_tokens(url: str, body: dict[str, Any]) -> int:
    try:
        return count_input_tokens(url, body)
    except InputError as error:  # a body the token counter cannot read is one the API rejects
        raise APIError(400, error.message) from error


def _id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _reasoning_tokens(model: str, effort: str, rng: random.Random) -> int:
    if not is_reasoning_model(model):
        return 0
    low, high = _REASONING_EFFORT.get(effort, _REASONING_EFFORT["medium"])
    return rng.randint(low, high)


def _logprobs(encoding: Any, text: str, top: int, rng: random.Random) -> list[dict[str, Any]]:
    """Per-token log probabilities of ``text``: the chosen token, then ``top - 1`` less likely rivals."""
    entries = []
    for token in encoding.encode(text, disallowed_special=()):
        raw = encoding.decode_single_token_bytes(token)
        logprob = -round(rng.expovariate(4.0), 6)
        alternatives, rival_logprob = [], logprob
        for rival in rng.sample(_RIVALS, max(0, top - 1)):
            rival_logprob -= rng.uniform(0.5, 3.0)
            alternatives.append({"token": rival.decode(), "logprob": rival_logprob, "bytes": list(rival)})
        chosen = {"token": raw.decode("utf-8", "replace"), "logprob": logprob, "bytes": list(raw)}
        entries.append({**chosen, "top_logprobs": [chosen, *alternatives] if top else []})
    return entries


def _stop_at(answer: Answer, stop: str | list[str] | None) -> Answer:
    """The answer up to (excluding) the first stop sequence, as the API cuts text; tool calls are kept."""
    if not stop or answer.tool_name is not None:
        return answer
    ends = [answer.text.find(s) for s in ([stop] if isinstance(stop, str) else stop) if s]
    ends = [end for end in ends if end >= 0]
    return Answer(answer.text[: min(ends)]) if ends else answer


def _fit(encoding: Any, answer: Answer, reasoning: int, limit: int | None) -> tuple[str, int, int, bool]:
    """Cut the answer to the token ``limit``, reasoning first: (text, visible, reasoning, cut)."""
    tokens = encoding.encode(answer.text, disallowed_special=())
    if limit is None:
        return answer.text, len(tokens), reasoning, False
    if reasoning >= limit:
        return "", 0, limit, True
    budget = limit - reasoning
    if len(tokens) <= budget:
        return answer.text, len(tokens), reasoning, False
    return encoding.decode(tokens[:budget]), budget, reasoning, True
