"""Many chat completions in one call: :func:`complete_many`.

::

    results = batchwright.complete_many(
        [{"id": "calc_0", "content": [{"role": "user", "content": "1 + 0 = "}]}, "1 + 1 = "],
        model="gpt-4o-mini", max_completion_tokens=32, temperature=0, seed=42,
    )
    for r in results:
        print(r.id, r.text)

It runs a whole task (Batch API by default, the direct API with ``force_direct=True``) with a progress
view and a usage/cost table, and returns the answers in input order. Without ``task_dir`` the work
lives in a cache directory named after the request set, so calling again after a crash or Ctrl+C
resumes instead of paying twice; it is removed once every answer is in. With ``task_dir`` the
directory stays (and resumes) like any task's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import difflib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from rich.console import Console

from batchwright.config import EngineSettings
from batchwright.engine.types import RunSummary
from batchwright.errors import ConfigError
from batchwright.jobs.outputs import iter_task_rows
from batchwright.monitor.progress import ProgressView, choose_mode
from batchwright.monitor.snapshot import read_snapshot
from batchwright.monitor.usage_table import UsageRow, total_row, usage_table
from batchwright.tasks.api import Item, Result, Row, Task
from batchwright.tasks.run import run_task

Conversation = list[dict[str, Any]]
T = TypeVar("T")
_META = ("model", "temperature", "top_p", "max_completion_tokens")


@dataclass(frozen=True)
class Completion:
    """One answer: the input's ``id`` (custom, or its index as a string), the answer's ``text``, the
    raw ``response`` body, ``parsed`` (with a ``response_model``) and ``error`` when it failed."""

    id: str
    index: int
    text: str | None = None
    response: dict[str, Any] | None = None
    parsed: BaseModel | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether an answer arrived."""
        return self.error is None


class Completions(list[Completion]):
    """The answers in input order, with the run's ``summary``, ``usage`` rows and ``task_dir``."""

    def __init__(
        self, items: Iterable[Completion], summary: RunSummary | None, usage: list[UsageRow]
    ) -> None:
        super().__init__(items)
        self.summary = summary
        self.usage = usage

    @property
    def cost(self) -> float:
        """True cost of every answer, in USD."""
        return total_row(self.usage).cost

    def print_usage_table(self, console: Console | None = None) -> None:
        """Print the usage and cost table (predicted → true, per model and mode)."""
        (console or Console()).print(usage_table(self.usage))


def _conversation(entry: Any, index: int) -> tuple[str, Conversation]:
    """``(id, messages)`` of one input entry (see :func:`complete_many`)."""
    if isinstance(entry, str):
        return str(index), [{"role": "user", "content": entry}]
    if isinstance(entry, dict) and "role" in entry:
        return str(index), [entry]
    if isinstance(entry, dict):
        messages = entry.get("messages", entry.get("content"))
        ident = entry.get("id", index)
        unknown = set(entry) - {"id", "messages", "content"}
        if unknown or not isinstance(ident, (str, int)) or isinstance(ident, bool) or str(ident) == "":
            raise ConfigError(
                f"Input {index} is not {{'id': str, 'messages': [...]}}: {str(entry)[:120]}",
                remedy="Give a prompt, a message dict, a list of messages or {'id': ..., 'messages': [...]}.",
            )
        return str(ident), _messages(messages, index)
    return str(index), _messages(entry, index)


def _messages(value: Any, index: int) -> Conversation:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(m, dict) and "role" in m for m in value)
    ):
        raise ConfigError(
            f"Input {index} has no list of messages: {str(value)[:120]}",
            remedy="Each message is a dict with 'role' and 'content'.",
        )
    return value


class _CompletionsTask(Task):
    name = "complete-many"
    exports = ()

    def __init__(
        self, conversations: dict[str, Conversation], body: dict[str, Any], model: type[BaseModel] | None
    ):
        self.conversations = conversations
        self.body = body
        self.response_model = model  # type: ignore[misc]

    def items(self) -> Iterator[Item]:
        for key in self.conversations:
            yield Item(key)

    def request(self, item: Item) -> dict[str, Any]:
        return {**self.body, "messages": self.conversations[item.key]}

    def process(self, item: Item, result: Result) -> Row:
        parsed = result.parsed.model_dump(mode="json") if result.parsed is not None else None
        return {"id": item.key, "text": result.text, "response": result.body, "parsed": parsed, "error": None}

    def failed(self, item: Item, error: str) -> Row:
        return {"id": item.key, "text": None, "response": None, "parsed": None, "error": error}


def _split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Engine settings and request-body parameters among ``options`` (``batch_size`` is the seed
    library's name for ``max_batch_requests``); a near miss of a setting's name is refused."""
    options = dict(options)
    if "batch_size" in options:
        options["max_batch_requests"] = options.pop("batch_size")
    settings = {k: v for k, v in options.items() if k in EngineSettings.model_fields}
    body = {k: v for k, v in options.items() if k not in settings}
    for name in body:
        close = difflib.get_close_matches(name, EngineSettings.model_fields, n=1, cutoff=0.85)
        if close:
            raise ConfigError(
                f"{name!r} is not an engine setting (did you mean {close[0]!r}?), and would be sent in every "
                "request body.",
                remedy=f"Write {close[0]}=...; other keywords (seed, response_format...) go to the body.",
            )
    return settings, body


def _outside_event_loop(call: Callable[[], T]) -> T:
    """Run ``call`` here, or in a worker thread when this thread runs an event loop (Jupyter, async
    code): the engine runs its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="batchwright") as pool:
        return pool.submit(call).result()


def cache_root() -> Path:
    """Where :func:`complete_many` keeps unnamed work: ``$BATCHWRIGHT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/batchwright``, else ``~/.cache/batchwright``."""
    if os.environ.get("BATCHWRIGHT_CACHE_DIR"):
        return Path(os.environ["BATCHWRIGHT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "batchwright"


def _fingerprint(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:20]


def complete_many(
    inputs: Sequence[Any],
    *,
    model: str = "gpt-4o-mini",
    max_completion_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    response_model: type[BaseModel] | None = None,
    task_dir: str | Path | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    force_direct: bool = False,
    progress: str = "auto",
    show_usage: bool = True,
    console: Console | None = None,
    **options: Any,
) -> Completions:
    """Run one chat completion per input and return the answers in input order.

    Each input is a prompt string, one message dict (``{"role": "user", "content": ...}``), a list of
    messages, or ``{"id": ..., "messages"|"content": [...]}`` with a custom id (ids default to the
    input's index as a string and must be unique). Keywords that name an engine setting
    (``max_batch_requests``, ``session_max_cost``, ``max_rpm``...; see :class:`EngineSettings`) configure
    the run; any other keyword (``seed=42``, ``response_format=...``) is sent in every request body.
    ``progress``: ``auto``, ``live``, ``plain`` or ``quiet``. Answers that failed for good, or that a
    stopped run (budget, Ctrl+C) did not get, have ``error`` set; call again to resume.
    """
    if progress not in ("auto", "live", "plain", "quiet"):
        raise ConfigError(
            f"progress must be auto, live, plain or quiet, not {progress!r}.", remedy="Pick one of those."
        )
    conversations: dict[str, Conversation] = {}
    for index, entry in enumerate(inputs):
        key, messages = _conversation(entry, index)
        if key in conversations:
            raise ConfigError(
                f"Input {index} repeats the id {key!r}.", remedy="Give every input a unique id."
            )
        conversations[key] = messages
    if not conversations:
        return Completions([], None, [])
    settings_values, body = _split_options(options)
    for name, value in (("base_url", base_url), ("api_key", api_key)):
        if value is not None:
            settings_values[name] = value
    settings = EngineSettings(force_direct=force_direct, **settings_values)
    meta = {
        "model": model,
        "temperature": temperature,
        "top_p": top_p,
        "max_completion_tokens": max_completion_tokens,
    }
    cached = task_dir is None
    if task_dir is None:  # named after everything that makes the answers, the endpoint included
        schema = response_model.model_json_schema() if response_model is not None else None
        endpoint = settings.base_url or os.environ.get("OPENAI_BASE_URL") or "api.openai.com"
        name = _fingerprint(endpoint, meta, body, schema, list(conversations.items()))
        task_dir = cache_root() / "complete-many" / name
    directory = Path(task_dir)
    console = console or Console(stderr=True)
    mode = choose_mode(progress, console)
    task = _CompletionsTask(conversations, body, response_model)
    report = _outside_event_loop(
        lambda: run_task(
            task,
            directory,
            settings,
            meta=meta,
            monitor=lambda d: ProgressView(d, mode=mode, console=console),
        )
    )
    usage = read_snapshot(directory).usage
    if show_usage and mode != "quiet":
        console.print(usage_table(usage))
    rows = {row["id"]: row for row in iter_task_rows(directory)}
    unfinished = (
        f"unfinished: the run stopped ({report.summary.reason.value if report.summary else 'not run'})"
    )
    results = []
    for index, key in enumerate(conversations):
        row = rows.get(key)
        if row is None:
            results.append(Completion(key, index, error=unfinished))
            continue
        parsed = response_model.model_validate(row["parsed"]) if response_model and row["parsed"] else None
        results.append(Completion(key, index, row["text"], row["response"], parsed, row["error"]))
    if cached and report.complete:
        shutil.rmtree(directory, ignore_errors=True)
    elif not report.complete and mode != "quiet":
        console.print(f"not finished: call again to resume (work kept in {directory})")
    return Completions(results, report.summary, usage)
