"""Tasks for the bad-input corpus, loaded by path (``corpus_tasks.py:Name``) like a user's task file.

``Good`` builds the template task directory; every other class shares its task name (``corpus``), so
the owner check passes and the problem under test is the one the class plants. Classes that run on
the template directory yield the template's items (known, skipped) plus new items, so the framework
has to call their code for the new ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel

from batchwright.tasks import Item, Result, Task, TaskMeta

N_ITEMS = 6


class Good(Task):
    """A well-formed task of ``N_ITEMS`` items."""

    name = "corpus"
    default_meta = TaskMeta(model="gpt-4o-mini", max_completion_tokens=400, temperature=0.5)

    def items(self) -> Iterator[Any]:
        for i in range(N_ITEMS):
            yield Item(f"k{i:02d}", {"i": i})

    def request(self, item: Item) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": f"Say the number {item.data['i']}."}]}

    def process(self, item: Item, result: Result) -> dict[str, Any]:
        return {"i": item.data["i"], "text": result.text}


class NotAnItem(Good):
    def items(self) -> Iterator[Any]:
        yield from super().items()
        yield {"key": "k99", "data": 1}


class DuplicateKeys(Good):
    def items(self) -> Iterator[Any]:
        yield from super().items()
        yield Item("new-1", {"i": 1})
        yield Item("new-1", {"i": 2})


class EmptyKey(Good):
    def items(self) -> Iterator[Any]:
        yield from super().items()
        yield Item("", {"i": 1})


class IntegerKey(Good):
    def items(self) -> Iterator[Any]:
        yield from super().items()
        yield Item(7, {"i": 7})  # type: ignore[arg-type]


class ItemsRaise(Good):
    def items(self) -> Iterator[Any]:
        yield from super().items()
        raise ValueError("row 7 of countries.csv has 3 columns, expected 2")


class RequestRaises(Good):
    def items(self) -> Iterator[Any]:
        yield from super().items()
        yield Item("new-1", {})

    def request(self, item: Item) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": item.data["missing_field"]}]}


class RequestNotADict(RequestRaises):
    def request(self, item: Item) -> Any:
        return [{"role": "user", "content": "hello"}]


class BodyNotJson(RequestRaises):
    def request(self, item: Item) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": "hi"}], "metadata": {"tags": {"a", "b"}}}


class DataNotJson(Good):
    def items(self) -> Iterator[Any]:
        yield from super().items()
        yield Item("new-1", {"i": 1, "handle": object()})


class EmptyModel(RequestRaises):
    def request(self, item: Item) -> dict[str, Any]:
        return {"model": "", "messages": [{"role": "user", "content": "hi"}]}


class UnknownModel(RequestRaises):
    def request(self, item: Item) -> dict[str, Any]:
        return {"model": "acme-unpriced-7b", "messages": [{"role": "user", "content": "hi"}]}


class UnknownModelMeta(Good):
    default_meta = TaskMeta(model="acme-unpriced-7b", max_completion_tokens=16)


class HugeRequest(RequestRaises):
    """One request of ~400 kB (the corpus caps batches at 200 kB)."""

    def request(self, item: Item) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": "lorem ipsum " * 35_000}]}


class Answer(BaseModel):
    answer: str


class TwoFormats(RequestRaises):
    response_model = Answer

    def request(self, item: Item) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}


class WrongEndpoint(RequestRaises):
    endpoint = "/v1/images/generations"

    def request(self, item: Item) -> dict[str, Any]:
        return {"prompt": "a cat"}


class NeedsArguments(Good):
    def __init__(self, source: str) -> None:
        self.source = source


class NoProcess(Task):
    name = "corpus"

    def items(self) -> Iterator[Any]:
        yield Item("k00", 0)

    def request(self, item: Item) -> dict[str, Any]:
        return {"messages": []}


class MetaNotTaskMeta(Good):
    default_meta: ClassVar[Any] = {"model": "gpt-4o-mini"}


class ResponseModelNotPydantic(Good):
    response_model = dict  # type: ignore[assignment]


class OtherTask(Good):
    name = "somebody-else"


class NotATask:
    """A class that is not a batchwright.Task."""


not_a_class = 42


class NoItems(Good):
    """An empty input: items() yields nothing."""

    def items(self) -> Iterator[Any]:
        return iter(())


class MetaNotJson(Good):
    """Task-specific metadata that JSON cannot hold."""

    default_meta = TaskMeta(model="gpt-4o-mini", max_completion_tokens=400, lookup=object())


class NameNotAString(Good):
    name = 123  # type: ignore[assignment]
