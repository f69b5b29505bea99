"""Helpers for the job tests: batch-format JSONL files and the CLI pointed at the local server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from batchwright.cli import run_app

CHAT = "/v1/chat/completions"


def chat_line(custom_id: str, text: str = "hello", **body: Any) -> dict[str, Any]:
    """One batch-format request for the chat endpoint."""
    full = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **body}
    return {"custom_id": custom_id, "method": "POST", "url": CHAT, "body": full}


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    """Write ``lines`` (dicts as JSON, strings as they are) one per line."""
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), "utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def server_flags(server: Any) -> list[str]:
    """Run options that point a job at ``server`` and keep polling fast."""
    return [
        "--base-url", server.base_url, "--api-key", server.api_key, "--poll-interval", "0.05",
        "--poll-interval-max", "0.2", "--min-batch-requests", "1", "--progress", "plain",
    ]  # fmt: skip


def cli(*argv: str) -> int:
    """``batchwright ARGV`` in-process; returns the exit code."""
    return run_app(list(argv))
