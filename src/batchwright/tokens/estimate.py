"""Token estimates of one request: input tokens as the API bills them, and the output-token prediction.

Endpoints: ``/v1/chat/completions`` (:mod:`~batchwright.tokens.chat`), ``/v1/responses``
(:mod:`~batchwright.tokens.responses`), ``/v1/embeddings`` and ``/v1/completions`` (text, lists of text,
token arrays, lists of token arrays: no per-request overhead) and ``/v1/moderations`` (its text; moderation
is free).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from batchwright.errors import InputError
from batchwright.tokens.chat import count_chat_input
from batchwright.tokens.counter import TokenCounter
from batchwright.tokens.images import ImageSizes
from batchwright.tokens.responses import count_responses_input

DEFAULT_COMPLETION_RATIO = 0.5
"""Predicted output tokens = ratio × max output tokens, until the engine has learned a ratio per model."""
DEFAULT_MAX_OUTPUT_TOKENS = 2048
"""Max output tokens assumed when a request sets none (the seed's default)."""
COMPLETIONS_DEFAULT_MAX_TOKENS = 16
"""The legacy completions API's own default ``max_tokens`` (API reference)."""

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"
COMPLETIONS = "/v1/completions"
MODERATIONS = "/v1/moderations"
NO_OUTPUT_ENDPOINTS = frozenset((EMBEDDINGS, MODERATIONS))


def _prompt_tokens(counter: TokenCounter, value: Any, field: str) -> int:
    """Text, a list of texts, a token array or a list of token arrays (embeddings and completions)."""
    if isinstance(value, str):
        return counter.text(value)
    if isinstance(value, list):
        total = 0
        for entry in value:
            if isinstance(entry, str):
                total += counter.text(entry)
            elif isinstance(entry, int) and not isinstance(entry, bool):
                total += 1
            elif isinstance(entry, list) and all(isinstance(t, int) for t in entry):
                total += len(entry)
            elif isinstance(entry, dict) and field == "input":  # moderation multimodal parts
                total += counter.text(entry.get("text") or "") if entry.get("type") == "text" else 0
            else:
                raise InputError(
                    f"'{field}' entries must be strings or token arrays, not {type(entry).__name__}."
                )
        return total
    raise InputError(f"The request needs '{field}': a string, a list of strings or token arrays.")


def _count_embeddings(counter: TokenCounter, body: Mapping[str, Any]) -> int:
    return _prompt_tokens(counter, body.get("input"), "input")


def _count_completions(counter: TokenCounter, body: Mapping[str, Any]) -> int:
    suffix = body.get("suffix")
    return _prompt_tokens(counter, body.get("prompt"), "prompt") + (counter.text(suffix) if suffix else 0)


_COUNTERS: dict[str, Callable[[TokenCounter, Mapping[str, Any]], int]] = {
    CHAT: count_chat_input,
    RESPONSES: count_responses_input,
    EMBEDDINGS: _count_embeddings,
    COMPLETIONS: _count_completions,
    MODERATIONS: _count_embeddings,
}


def endpoint_of(url: str) -> str:
    """The endpoint path (``/v1/chat/completions``) of a batch line's ``url`` or a full URL."""
    path = url.split("?", 1)[0].rstrip("/")
    index = path.find("/v1/")
    endpoint = path[index:] if index >= 0 else path
    if endpoint not in _COUNTERS:
        raise InputError(
            f"Unsupported endpoint {url!r}.",
            remedy="Use one of " + ", ".join(sorted(_COUNTERS)) + ".",
        )
    return endpoint


def _model_of(body: Mapping[str, Any]) -> str:
    if not isinstance(body, dict):
        raise InputError("A request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InputError("The request body has no 'model'.", remedy='Set body.model, e.g. "gpt-4o-mini".')
    return model


def count_input_tokens(url: str, body: dict[str, Any], *, image_sizes: ImageSizes | None = None) -> int:
    """Input tokens of the request ``body`` sent to endpoint ``url``, as the API bills them.

    ``image_sizes`` resolves image URLs to sizes (default: data URLs only; http(s) images count as the largest
    size their rule allows). Raises :class:`~batchwright.errors.InputError` for malformed requests.
    """
    endpoint = endpoint_of(url)
    return _COUNTERS[endpoint](TokenCounter(_model_of(body), image_sizes), body)


def _positive_int(body: Mapping[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError(f"'{field}' must be a non-negative integer, not {value!r}.")
    return value


def _choices(body: Mapping[str, Any], endpoint: str) -> int:
    choices = _positive_int(body, "n") or 1
    if endpoint == COMPLETIONS:
        choices = max(choices, _positive_int(body, "best_of") or 1)
    return choices


def max_output_tokens(url: str, body: dict[str, Any]) -> int | None:
    """The most output tokens the request may produce (× ``n`` choices), ``None`` when it sets no limit.

    Chat: ``max_completion_tokens`` or ``max_tokens``; Responses: ``max_output_tokens``; completions:
    ``max_tokens`` (API default 16) × max(``n``, ``best_of``); embeddings and moderations: 0.
    """
    endpoint = endpoint_of(url)
    if endpoint in NO_OUTPUT_ENDPOINTS:
        return 0
    if endpoint == CHAT:
        limit = _positive_int(body, "max_completion_tokens")
        limit = _positive_int(body, "max_tokens") if limit is None else limit
    elif endpoint == RESPONSES:
        limit = _positive_int(body, "max_output_tokens")
    else:
        limit = _positive_int(body, "max_tokens")
        limit = COMPLETIONS_DEFAULT_MAX_TOKENS if limit is None else limit
    return None if limit is None else limit * _choices(body, endpoint)


def output_token_limit(
    url: str, body: dict[str, Any], default_max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
) -> int:
    """:func:`max_output_tokens`, or ``default_max_output_tokens`` per choice when the request sets none."""
    limit = max_output_tokens(url, body)
    return default_max_output_tokens * _choices(body, endpoint_of(url)) if limit is None else limit


def predict_output_tokens(
    url: str,
    body: dict[str, Any],
    completion_ratio: float = DEFAULT_COMPLETION_RATIO,
    default_max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
) -> int:
    """Predicted output tokens: ``ceil(completion_ratio × output_token_limit)`` (reasoning included)."""
    return math.ceil(completion_ratio * output_token_limit(url, body, default_max_output_tokens))
