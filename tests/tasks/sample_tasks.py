"""Small tasks used by the task and CLI tests (also loaded by path: tests/tasks/sample_tasks.py:Words)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

from batchwright.tasks import Item, Result, Task, TaskError, TaskMeta


class Word(BaseModel):
    model_config = ConfigDict(extra="forbid")

    word: str
    is_long: bool


class Words(Task):
    """``n`` items; the first answer of every third item is rejected; keys in ``reject`` always are."""

    name = "words"
    default_meta = TaskMeta(model="gpt-4o-mini", max_completion_tokens=20, temperature=0.5)
    response_model = Word

    def __init__(self, n: int = 12, reject: tuple[str, ...] = (), crash_on: str | None = None) -> None:
        self.n = n
        self.reject = set(reject)
        self.crash_on = crash_on
        self.seen: Counter[str] = Counter()
        self.completed: list[int] = []

    def items(self) -> Iterator[Item]:
        for i in range(self.n):
            yield Item(f"w{i:03d}", {"i": i})

    def request(self, item: Item) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": f"Give word number {item.data['i']}."}]}

    def process(self, item: Item, result: Result) -> dict[str, Any]:
        self.seen[item.key] += 1
        if item.key == self.crash_on:
            raise ValueError("bug in the task")
        if item.key in self.reject:
            raise TaskError("always wrong")
        if item.data["i"] % 3 == 0 and self.seen[item.key] == 1:
            raise TaskError("first answer rejected")
        assert isinstance(result.parsed, Word)
        return {"i": item.data["i"], "word": result.parsed.word, "text_is_json": result.text.startswith("{")}

    def failed(self, item: Item, error: str) -> dict[str, Any]:
        return {"i": item.data["i"], "error": error}

    def on_complete(self, output: Iterator[dict[str, Any]]) -> None:
        self.completed.append(sum(1 for _ in output))


class OtherWords(Words):
    name = "other-words"
