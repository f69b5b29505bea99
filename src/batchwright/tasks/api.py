"""The task API: what a user writes to run a workload.

A task is three things: its **items** (any iterable of keys and data, streamed), a **request** for an
item, and the **processing** of a result into output rows (which may reject the result as a
retryable task error). Everything else — which items still need requests, retries, batching, the
transaction that commits a result together with its output, exports — is the framework's job::

    class Capitals(batchwright.Task):
        default_meta = batchwright.TaskMeta(model="gpt-4o-mini", max_completion_tokens=50)
        response_model = Capital

        def items(self):
            for country in ["France", "Peru"]:
                yield batchwright.Item(key=country, data=country)

        def request(self, item):
            return {"messages": [{"role": "user", "content": f"Capital of {item.data}?"}]}

        def process(self, item, result):
            return {"country": item.data, "capital": result.parsed.capital}

    batchwright.run_task(Capitals(), "capitals-task")

Task metadata (:class:`TaskMeta`: model, sampling parameters, max tokens, completion ratio, opinions)
is fixed when the task directory is created and changes only with ``reinit_meta``; the framework
fills the model and sampling parameters into each request body unless the body sets them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from batchwright.errors import BatchwrightError, TaskDefinitionError
from batchwright.tasks.opinions import Opinion, OpinionPolicy, OpinionVerdict

Row = dict[str, Any]
"""One output row: a JSON-able dict. The framework adds ``key`` (the item key) when it is missing."""


class TaskError(BatchwrightError):
    """Raised by :meth:`Task.process` to reject a result; the request is retried (within its retries)."""


@dataclass(frozen=True)
class Item:
    """One unit of work: a unique short string ``key`` and any ``data`` the request needs."""

    key: str
    data: Any = None


@dataclass(frozen=True)
class Result:
    """A successful answer to one request of an item.

    ``parsed`` is the structured output validated into the task's ``response_model`` (None without
    one); ``text`` the first choice's text; ``body`` the raw response body; ``attempt`` counts from 0.
    """

    item_key: str
    body: dict[str, Any]
    parsed: BaseModel | None = None
    text: str | None = None
    attempt: int = 0
    usage: dict[str, Any] = field(default_factory=dict)


class TaskMeta(BaseModel):
    """Parameters fixed when a task directory is created (change them only with ``reinit_meta``).

    Extra fields are allowed for task-specific parameters (they are stored and compared like the rest).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    model: str = Field("gpt-4o-mini", description="Model the requests are sent to.")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass.")
    max_completion_tokens: int | None = Field(None, ge=1, description="Output token cap per request.")
    completion_ratio: float = Field(0.5, gt=0, le=1, description="Assumed output tokens / max output tokens.")
    min_opinions: int = Field(1, ge=1, description="Answers collected per item (multi-opinion tasks).")
    max_opinions: int = Field(1, ge=1, description="Most answers ever requested per item.")
    confidence: float = Field(0.78, gt=0, le=1, description="Majority share that ends sampling early.")

    def opinion_policy(self) -> OpinionPolicy:
        """The multi-opinion policy these parameters describe."""
        return OpinionPolicy(self.min_opinions, self.max_opinions, self.confidence)

    def apply_to(self, body: dict[str, Any]) -> dict[str, Any]:
        """A copy of a chat-completions ``body`` with the model and sampling parameters filled in."""
        filled = dict(body)
        filled.setdefault("model", self.model)
        for name in ("temperature", "top_p", "max_completion_tokens"):
            value = getattr(self, name)
            if (
                value is not None
                and name not in filled
                and not (name == "max_completion_tokens" and "max_tokens" in filled)
            ):
                filled[name] = value
        return filled


def _abstract(method: Any) -> Any:
    """Mark a method a task must override (checked by :meth:`Task.check_definition`)."""
    method._abstract = True
    return method


class Task:
    """Base class of a task. Implement :meth:`items`, :meth:`request` and :meth:`process`.

    Class attributes: ``name`` (identity stored in the task directory; defaults to the class name),
    ``default_meta`` (metadata of a new task directory), ``response_model`` (pydantic model for
    structured outputs, or None), ``endpoint`` (``/v1/chat/completions`` unless changed) and
    ``exports`` (files written from the output after every run, format from the suffix).
    """

    name: ClassVar[str] = ""
    default_meta: ClassVar[TaskMeta] = TaskMeta()
    response_model: ClassVar[type[BaseModel] | None] = None
    endpoint: ClassVar[str] = "/v1/chat/completions"
    exports: ClassVar[tuple[str, ...]] = ("output.jsonl",)

    _meta: TaskMeta | None = None

    @classmethod
    def task_name(cls) -> str:
        """The identity stored in the task directory."""
        return cls.name or cls.__name__

    @classmethod
    def check_definition(cls) -> None:
        """Raise :class:`TaskDefinitionError` when the class lacks a required method or attribute."""
        if not isinstance(cls.name, str):
            raise TaskDefinitionError(
                f"{cls.__qualname__}.name must be a string, not a {type(cls.name).__name__}.",
                remedy="Set name = 'my-task' (or leave it out to use the class name).",
            )
        required = cls._required_methods()
        missing = [name for name in required if getattr(getattr(cls, name), "_abstract", False)]
        if missing:
            raise TaskDefinitionError(
                f"Task {cls.__qualname__} does not implement {', '.join(missing)}.",
                remedy="Implement items(), request() and process() (see docs/tasks.md).",
            )
        if not isinstance(cls.default_meta, TaskMeta):
            raise TaskDefinitionError(
                f"{cls.__qualname__}.default_meta must be a batchwright.TaskMeta.",
                remedy="Set default_meta = TaskMeta(model=..., ...).",
            )
        if cls.response_model is not None and not (
            isinstance(cls.response_model, type) and issubclass(cls.response_model, BaseModel)
        ):
            raise TaskDefinitionError(
                f"{cls.__qualname__}.response_model must be a pydantic BaseModel subclass or None.",
                remedy="Define class Answer(pydantic.BaseModel) and set response_model = Answer.",
            )

    @classmethod
    def _required_methods(cls) -> tuple[str, ...]:
        return ("items", "request", "process")

    @property
    def meta(self) -> TaskMeta:
        """The task directory's metadata (bound by the framework before any method is called)."""
        return self._meta if self._meta is not None else self.default_meta

    def bind_meta(self, meta: TaskMeta) -> None:
        """Bind the stored metadata (done by the framework)."""
        self._meta = meta

    # --- what a task implements -----------------------------------------------------------------

    @_abstract
    def items(self) -> Iterable[Item]:
        """Every item of the task, in a stable order; keys must be unique. Streamed, never listed."""
        raise NotImplementedError

    @_abstract
    def request(self, item: Item) -> dict[str, Any]:
        """The request body for ``item`` (e.g. ``{"messages": [...]}``); model and sampling
        parameters come from :attr:`meta` unless set here."""
        raise NotImplementedError

    @_abstract
    def process(self, item: Item, result: Result) -> Row | Iterable[Row] | None:
        """Turn a result into output row(s); raise :class:`TaskError` to reject it as retryable."""
        raise NotImplementedError

    def failed(self, item: Item, error: str) -> Row | Iterable[Row] | None:
        """Output row(s) for an item that failed for good (default: none)."""
        return None

    def on_complete(self, output: Iterator[Row]) -> None:
        """Post-processing hook: runs once a run finds every item succeeded or failed."""


class OpinionTask(Task):
    """A task that asks several times per item and concludes on a confident majority.

    Implement :meth:`opinion` (one answer → an :class:`Opinion`) and :meth:`conclude` (the verdict →
    output rows) instead of :meth:`process`. How many answers are collected is set by the metadata's
    ``min_opinions``, ``max_opinions`` and ``confidence``.
    """

    default_meta: ClassVar[TaskMeta] = TaskMeta(min_opinions=3, max_opinions=5)

    @classmethod
    def _required_methods(cls) -> tuple[str, ...]:
        return ("items", "request", "opinion", "conclude")

    def process(self, item: Item, result: Result) -> Row | Iterable[Row] | None:
        """Not used by opinion tasks: the framework calls :meth:`opinion` and :meth:`conclude`."""
        raise TaskDefinitionError("OpinionTask.process is not used", remedy="Implement opinion().")

    @_abstract
    def opinion(self, item: Item, result: Result) -> Opinion:
        """One answer as an opinion; raise :class:`TaskError` to reject it as retryable."""
        raise NotImplementedError

    @_abstract
    def conclude(self, item: Item, verdict: OpinionVerdict) -> Row | Iterable[Row] | None:
        """Output row(s) once sampling for ``item`` is done."""
        raise NotImplementedError


def rows_of(item: Item, produced: Row | Iterable[Row] | None) -> list[Row]:
    """Normalise what a task returned into a list of rows, each carrying the item's ``key``."""
    if produced is None:
        return []
    rows = [produced] if isinstance(produced, dict) else list(produced)
    out = []
    for row in rows:
        if not isinstance(row, dict):
            raise TaskDefinitionError(
                f"Output for item {item.key!r} is a {type(row).__name__}, not a dict.",
                remedy="Return a dict (or a list of dicts, or None) from process()/conclude().",
            )
        out.append(row if "key" in row else {"key": item.key, **row})
    return out
