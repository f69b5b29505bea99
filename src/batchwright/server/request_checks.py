"""Validation of model-request bodies with the OpenAI API's own messages, params and codes.

``check_request(url, body)`` raises :class:`~batchwright.server.api_errors.APIError` (status 400) for a body
the real API rejects: missing ``model``, unknown parameters (the known ones are read from the official SDK's
request types, so the list follows the SDK), bad ``messages``, out-of-range ``n`` and token limits,
``max_tokens`` on reasoning models, ``json_object`` without the word "json", tool choices without tools,
streaming (which the local server does not do) and bad embedding inputs.
"""

from __future__ import annotations

from typing import Any

from openai.types import completion_create_params, embedding_create_params
from openai.types.chat import completion_create_params as chat_create_params
from openai.types.responses import response_create_params

from batchwright.server.api_errors import APIError, invalid_value, missing_parameter
from batchwright.server.models import (
    EMBEDDING_DIMENSIONS,
    context_window,
    is_reasoning_model,
    supports_dimensions,
)
from batchwright.tokens import encoding_name_for_model, get_encoding

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
COMPLETIONS = "/v1/completions"
EMBEDDINGS = "/v1/embeddings"

KNOWN_PARAMETERS: dict[str, frozenset[str]] = {
    CHAT: frozenset(chat_create_params.CompletionCreateParamsBase.__annotations__) | {"stream"},
    RESPONSES: frozenset(response_create_params.ResponseCreateParamsBase.__annotations__) | {"stream"},
    COMPLETIONS: frozenset(completion_create_params.CompletionCreateParamsBase.__annotations__) | {"stream"},
    EMBEDDINGS: frozenset(embedding_create_params.EmbeddingCreateParams.__annotations__),
}
_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_JSON_TYPES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array"}
_MAX_EMBEDDING_INPUTS = 2048
_MAX_STOP_SEQUENCES = 4
_FORMAT_TYPES = ("text", "json_object", "json_schema")
_NUMBER = (int, float)
_PARAMETER_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "stop": ((str, list), "a string or an array of strings"),
    "tools": ((list,), "an array of objects"),
    "tool_choice": ((str, dict), "a string or an object"),
    "response_format": ((dict,), "an object"),
    "text": ((dict,), "an object"),
    "reasoning": ((dict,), "an object"),
    "reasoning_effort": ((str,), "a string"),
    "input": ((str, list), "a string or an array"),
    "prompt": ((str, list), "a string or an array"),
    "instructions": ((str, list), "a string or an array"),
    "metadata": ((dict,), "an object"),
    "logprobs": ((bool,), "a boolean"),
    "echo": ((bool,), "a boolean"),
    "stream": ((bool,), "a boolean"),
    "temperature": (_NUMBER, "a number"),
    "top_p": (_NUMBER, "a number"),
}


def check_request(url: str, body: dict[str, Any]) -> None:
    """Raise APIError(400) if the real API would reject ``body`` sent to ``url``."""
    _check_model_and_parameters(url, body)
    if body.get("stream"):
        raise APIError(
            400,
            "Streaming is not supported by the local batchwright server; send 'stream': false.",
            param="stream",
            code="unsupported_parameter",
        )
    _check_types(body)
    _check_tools(body, url == RESPONSES)
    if url == CHAT:
        _check_chat(body)
    elif url == RESPONSES:
        _check_min_integer(body, "max_output_tokens", 16)
        text = body.get("text")
        if isinstance(text, dict) and "format" in text:
            _check_format(text["format"], "text.format", nested=False)
        _check_tool_choice(body, body.get("tool_choice"), [t.get("name") for t in _dicts(body.get("tools"))])
    elif url == COMPLETIONS:
        _check_min_integer(body, "max_tokens", 0)
        _check_n(body)
        _check_stop(body)
    elif url == EMBEDDINGS:
        _check_embeddings(body)


def check_context_length(url: str, body: dict[str, Any], prompt_tokens: int) -> None:
    """Raise APIError(400) when the prompt (plus the requested completion) exceeds the model's window."""
    window = context_window(body["model"])
    if window is None:
        return
    if url == CHAT:
        completion = body.get("max_completion_tokens") or body.get("max_tokens") or 0
        if prompt_tokens + completion > window:
            raise APIError(
                400,
                f"This model's maximum context length is {window} tokens. However, you requested "
                f"{prompt_tokens + completion} tokens ({prompt_tokens} in the messages, {completion} in the "
                "completion). Please reduce the length of the messages or completion.",
                param="messages",
                code="context_length_exceeded",
            )
    elif url == RESPONSES:
        if prompt_tokens + (body.get("max_output_tokens") or 0) > window:
            raise APIError(
                400,
                "Your input exceeds the context window of this model. "
                "Please adjust your input and try again.",
                param="input",
                code="context_length_exceeded",
            )
    elif url == COMPLETIONS:
        _check_legacy_length(window, prompt_tokens, body.get("max_tokens", 16) or 0)
    elif url == EMBEDDINGS and prompt_tokens > window:  # the limit is per input: find the longest one
        encoding = get_encoding(encoding_name_for_model(body["model"]))
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        lengths = [
            len(i) if isinstance(i, list) else len(encoding.encode(i, disallowed_special=())) for i in inputs
        ]
        _check_legacy_length(window, max(lengths), 0)


def _check_legacy_length(window: int, prompt_tokens: int, completion: int) -> None:
    if prompt_tokens + completion > window:
        raise APIError(
            400,
            f"This model's maximum context length is {window} tokens, however you requested "
            f"{prompt_tokens + completion} tokens ({prompt_tokens} in your prompt; {completion} for the "
            "completion). Please reduce your prompt; or completion length.",
        )


def _check_types(body: dict[str, Any]) -> None:
    for name, (types, expected) in _PARAMETER_TYPES.items():
        value = body.get(name)
        if value is not None and (
            not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        ):
            raise _invalid_type(name, expected, value)
    stop = body.get("stop")
    if isinstance(stop, list) and not all(isinstance(item, str) for item in stop):
        raise _invalid_type("stop", "a string or an array of strings", stop)


def _check_tools(body: dict[str, Any], responses: bool) -> None:
    for index, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict):
            raise _invalid_type(f"tools[{index}]", "an object", tool)
        if tool.get("type", "function") != "function":
            continue
        spec, where = (
            (tool, f"tools[{index}]") if responses else (tool.get("function"), f"tools[{index}].function")
        )
        if not isinstance(spec, dict):
            raise missing_parameter(where)
        if not isinstance(spec.get("name"), str):
            raise missing_parameter(f"{where}.name")
        if spec.get("parameters") is not None and not isinstance(spec["parameters"], dict):
            raise _invalid_type(f"{where}.parameters", "an object", spec["parameters"])
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and not isinstance(choice.get("name", choice.get("function")), (str, dict)):
        raise missing_parameter("tool_choice.name" if responses else "tool_choice.function")
    if isinstance(choice, dict) and not responses and not isinstance(choice["function"], dict):
        raise _invalid_type("tool_choice.function", "an object", choice["function"])


def _check_model_and_parameters(url: str, body: dict[str, Any]) -> None:
    model = body.get("model")
    if url == RESPONSES:
        if not model:
            raise missing_parameter("model")
        unknown = [key for key in body if key not in KNOWN_PARAMETERS[url]]
        if unknown:
            raise APIError(
                400, f"Unknown parameter: '{unknown[0]}'.", param=unknown[0], code="unknown_parameter"
            )
    else:
        if not model:
            raise APIError(400, "you must provide a model parameter")
        unknown = [key for key in body if key not in KNOWN_PARAMETERS[url]]
        if unknown:
            raise APIError(400, f"Unrecognized request argument supplied: {unknown[0]}")
    if not isinstance(model, str):
        raise _invalid_type("model", "a string", model)


def _check_chat(body: dict[str, Any]) -> None:
    if "messages" not in body:
        raise missing_parameter("messages")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _invalid_type("messages", "an array of objects", messages)
    if not messages:
        raise invalid_value(
            "messages",
            "empty array. Expected an array with minimum length 1, but got an empty array instead.",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _invalid_type(where, "an object", message)
        if "role" not in message:
            raise missing_parameter(f"{where}.role")
        if message["role"] not in _ROLES:
            supported = ", ".join(f"'{r}'" for r in _ROLES[:-1]) + f", and '{_ROLES[-1]}'"
            raise APIError(
                400,
                f"Invalid value: '{message['role']}'. Supported values are: {supported}.",
                param=f"{where}.role",
                code="invalid_value",
            )
        if "content" not in message and message["role"] != "assistant":
            raise missing_parameter(f"{where}.content")
    _check_n(body)
    _check_min_integer(body, "max_completion_tokens", 1)
    _check_min_integer(body, "max_tokens", 1)
    _check_min_integer(body, "top_logprobs", 0, 20)
    if "max_tokens" in body and is_reasoning_model(body["model"]):
        raise APIError(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            param="max_tokens",
            code="unsupported_parameter",
        )
    response_format = body.get("response_format")
    json_object = isinstance(response_format, dict) and response_format.get("type") == "json_object"
    if json_object and "json" not in repr(messages).lower():
        raise APIError(
            400,
            "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
            "'json_object'.",
            param="messages",
        )
    names = [t.get("function", {}).get("name") for t in _dicts(body.get("tools"))]
    _check_tool_choice(body, body.get("tool_choice"), names)
    if "response_format" in body:
        _check_format(body["response_format"], "response_format", nested=True)
    _check_stop(body)


def _check_format(fmt: Any, where: str, *, nested: bool) -> None:
    """``response_format`` (chat: name and schema under ``json_schema``) or ``text.format`` (flat)."""
    if not isinstance(fmt, dict):
        raise _invalid_type(where, "an object", fmt)
    kind = fmt.get("type")
    if kind not in _FORMAT_TYPES:
        raise APIError(
            400,
            f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and 'json_schema'.",
            param=f"{where}.type",
            code="invalid_value",
        )
    if kind != "json_schema":
        return
    spec, prefix = (fmt.get("json_schema"), f"{where}.json_schema") if nested else (fmt, where)
    if not isinstance(spec, dict):
        raise missing_parameter(prefix)
    for required in ("name", "schema") if not nested else ("name",):
        if required not in spec:
            raise missing_parameter(f"{prefix}.{required}")


def _check_stop(body: dict[str, Any]) -> None:
    stop = body.get("stop")
    if stop is None:
        return
    if is_reasoning_model(body["model"]):
        raise APIError(
            400,
            "Unsupported parameter: 'stop' is not supported with this model.",
            param="stop",
            code="unsupported_parameter",
        )
    if isinstance(stop, list) and len(stop) > _MAX_STOP_SEQUENCES:
        raise invalid_value(
            "stop",
            f"array too long. Expected an array with maximum length {_MAX_STOP_SEQUENCES}, but got an array "
            f"with length {len(stop)} instead.",
            code="array_above_max_length",
        )


def _check_tool_choice(body: dict[str, Any], choice: Any, names: list[Any]) -> None:
    if choice is None:
        return
    if not body.get("tools") and choice != "none":
        raise APIError(
            400,
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            param="tool_choice",
        )
    if isinstance(choice, dict):
        name = choice.get("name") or choice.get("function", {}).get("name")
        if name not in names:
            raise APIError(
                400,
                f"Invalid value for 'tool_choice': function '{name}' is not among the 'tools'.",
                param="tool_choice",
                code="invalid_value",
            )
    elif choice not in ("none", "auto", "required"):
        raise APIError(
            400,
            f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'.",
            param="tool_choice",
            code="invalid_value",
        )


def _check_n(body: dict[str, Any]) -> None:
    _check_min_integer(body, "n", 1, 128)


def _check_min_integer(body: dict[str, Any], name: str, minimum: int, maximum: int | None = None) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid_type(name, "an integer", value)
    if value < minimum:
        raise invalid_value(
            name,
            f"integer below minimum value. Expected a value >= {minimum}, but got {value} instead.",
            code="integer_below_min_value",
        )
    if maximum is not None and value > maximum:
        raise invalid_value(
            name,
            f"integer above maximum value. Expected a value <= {maximum}, but got {value} instead.",
            code="integer_above_max_value",
        )


def _check_embeddings(body: dict[str, Any]) -> None:
    if "input" not in body:
        raise missing_parameter("input")
    inputs = body["input"]
    if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
        inputs = [inputs]
    valid = isinstance(inputs, list) and 0 < len(inputs) <= _MAX_EMBEDDING_INPUTS
    valid = valid and all(
        (isinstance(item, str) and item) or (isinstance(item, list) and item and _all_ints(item))
        for item in inputs
    )
    if not valid:
        raise APIError(
            400,
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        )
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise APIError(
            400,
            f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    if "dimensions" in body:
        if not supports_dimensions(body["model"]):
            raise APIError(400, "This model does not support specifying dimensions.")
        _check_min_integer(body, "dimensions", 1, EMBEDDING_DIMENSIONS.get(body["model"]))


def _all_ints(values: list[Any]) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _invalid_type(name: str, expected: str, value: Any) -> APIError:
    got = "null" if value is None else _JSON_TYPES.get(type(value), "an object")
    return APIError(
        400,
        f"Invalid type for '{name}': expected {expected}, but got {got} instead.",
        param=name,
        code="invalid_type",
    )
