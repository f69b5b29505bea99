"""How function/tool definitions and structured-output schemas are rendered into hidden prompt text.

OpenAI does not send JSON schemas to the model as JSON: tools become TypeScript-like type declarations in a
``functions`` namespace, and a response format becomes a section of the system/developer message. The
rendering below follows

* the harmony format guide (OpenAI cookbook ``articles/openai-harmony.md``: "Defining available tools" and
  "Structured output") for the shape of both sections, and
* the community reverse-engineering fitted against real ``usage.prompt_tokens``
  (hmarr/openai-chat-tokens ``src/functions.ts`` and ``src/index.ts``, MIT) for the exact text of a function
  block and its constants (see :data:`FUNCTIONS_BLOCK_OVERHEAD`).

Extensions beyond that reference (rendered the TypeScript way): ``anyOf``/``oneOf`` and type lists become
unions, ``const`` a literal, ``$ref`` is resolved against ``$defs``/``definitions`` (depth-limited), objects
without properties render as ``object``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

FUNCTIONS_BLOCK_OVERHEAD = 9
"""Tokens added once when functions are present (hmarr: "Add nine per completion"): the hidden message that
carries the namespace (4, see :data:`HIDDEN_MESSAGE_OVERHEAD`) and its ``# Tools`` header."""

HIDDEN_MESSAGE_OVERHEAD = 4
"""Part of the overhead saved when the request already has a system message (hmarr: "subtract four tokens"):
tools and response formats are appended to the first system message instead of a message of their own."""

_MAX_REF_DEPTH = 8


def render_functions(functions: list[Mapping[str, Any]]) -> str:
    """The ``namespace functions { ... }`` text for function definitions (``name``/``description``/
    ``parameters`` dicts, as in ``tools[].function`` or the legacy ``functions``)."""
    lines = ["namespace functions {", ""]
    for function in functions:
        description = function.get("description")
        if description:
            lines.append(f"// {description}")
        parameters = function.get("parameters")
        if (
            isinstance(parameters, Mapping)
            and isinstance(parameters.get("properties"), Mapping)
            and parameters["properties"]
        ):
            lines.append(f"type {function.get('name', '')} = (_: {{")
            lines.append(_Renderer(parameters).properties(parameters, 0))
            lines.append("}) => any;")
        else:
            lines.append(f"type {function.get('name', '')} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def render_response_format(name: str, description: str | None, schema: Any) -> str:
    """The ``# Response Formats`` section for a JSON-schema response format (compact JSON, like harmony)."""
    comment = f"// {description}\n" if description else ""
    body = json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
    return f"# Response Formats\n\n## {name}\n\n{comment}{body}"


class _Renderer:
    """Renders JSON-schema properties as TypeScript types, resolving ``$ref`` against the root schema."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.depth = 0

    def properties(self, obj: Mapping[str, Any], indent: int) -> str:
        required = obj.get("required")
        required = required if isinstance(required, list) else ()
        properties = obj.get("properties")
        lines = []
        for name, prop in properties.items() if isinstance(properties, Mapping) else ():
            prop = prop if isinstance(prop, Mapping) else {}
            if prop.get("description"):
                lines.append(f"// {prop['description']}")
            optional = "" if name in required else "?"
            lines.append(f"{name}{optional}: {self.type(prop, indent)},")
        return "\n".join(" " * indent + line for line in lines)

    def type(self, prop: Mapping[str, Any], indent: int) -> str:
        if "$ref" in prop:
            return self._ref(prop["$ref"], indent)
        if "enum" in prop and isinstance(prop["enum"], list):
            return " | ".join(_literal(value) for value in prop["enum"])
        if "const" in prop:
            return _literal(prop["const"])
        for key in ("anyOf", "oneOf"):
            if isinstance(prop.get(key), list):
                return " | ".join(
                    self.type(option, indent) for option in prop[key] if isinstance(option, Mapping)
                )
        kind = prop.get("type")
        if isinstance(kind, list):
            return " | ".join(self.type({**prop, "type": one}, indent) for one in kind)
        if kind is None and isinstance(prop.get("properties"), Mapping):
            kind = "object"
        if kind in ("string", "boolean", "null", "number"):
            return str(kind)
        if kind == "integer":
            return "number"
        if kind == "object":
            if not isinstance(prop.get("properties"), Mapping) or not prop["properties"]:
                return "object"
            return "\n".join(["{", self.properties(prop, indent + 2), "}"])
        if kind == "array":
            items = prop.get("items")
            return f"{self.type(items, indent)}[]" if isinstance(items, Mapping) else "any[]"
        return "any"

    def _ref(self, ref: Any, indent: int) -> str:
        target: Any = self.root
        if not isinstance(ref, str) or not ref.startswith("#/") or self.depth >= _MAX_REF_DEPTH:
            return "any"
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        if not isinstance(target, Mapping):
            return "any"
        self.depth += 1
        try:
            return self.type(target, indent)
        finally:
            self.depth -= 1


def _literal(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else json.dumps(value)
