"""TASK specs: path/to/file.py:Name and module:Name, and clear errors for every wrong shape."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from batchwright.errors import ExitCode, TaskDefinitionError
from batchwright.tasks import Task
from batchwright.tasks.demos import UnicodeTask
from batchwright.tasks.loader import load_task_class

GOOD = """
    from batchwright import tasks

    class Echo(tasks.Task):
        def items(self):
            yield tasks.Item("a", "x")

        def request(self, item):
            return {"messages": [{"role": "user", "content": item.data}]}

        def process(self, item, result):
            return {"text": result.text}

    class Half(tasks.Task):
        def items(self):
            return []

    def not_a_class():
        pass

    NUMBER = 3
"""


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_tasks.py"
    path.write_text(textwrap.dedent(GOOD), encoding="utf-8")
    return path


def test_loads_from_a_file(task_file: Path) -> None:
    cls = load_task_class(f"{task_file}:Echo")
    assert issubclass(cls, Task) and cls.task_name() == "Echo"
    assert load_task_class(f"{task_file}:Echo") is cls  # the module is imported once


def test_loads_from_a_module() -> None:
    assert load_task_class("batchwright.tasks.demos.unicode:UnicodeTask") is UnicodeTask


def test_loads_a_module_from_the_current_directory(task_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(task_file.parent)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(task_file.parent))])
    assert load_task_class("my_tasks:Echo").__name__ == "Echo"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{file}", "no ':TaskName' part"),
        ("{file}:", "no ':TaskName' part"),
        ("{dir}/missing.py:Echo", "does not exist"),
        ("{file}:Nope", "has no attribute 'Nope'. Task classes found there: Echo, Half"),
        ("{file}:not_a_class", "is a function, not a subclass of batchwright.Task"),
        ("{file}:NUMBER", "is a int, not a subclass"),
        ("{file}:Half", "does not implement request, process"),
        ("no_such_module_xyz:Task", "No module named 'no_such_module_xyz'"),
        ("batchwright.tasks.api:Task", "not a subclass"),
    ],
)
def test_bad_specs_are_clear(task_file: Path, spec: str, message: str) -> None:
    with pytest.raises(TaskDefinitionError, match=message.replace("(", r"\(")) as caught:
        load_task_class(spec.format(file=task_file, dir=task_file.parent))
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert "TaskName" in str(caught.value) or "Task" in str(caught.value)


def test_a_file_that_fails_to_import(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("import definitely_not_installed_xyz\n", encoding="utf-8")
    with pytest.raises(TaskDefinitionError, match=r"Importing .*broken\.py.* failed: ModuleNotFoundError"):
        load_task_class(f"{path}:X")
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def (:\n", encoding="utf-8")
    with pytest.raises(TaskDefinitionError, match="SyntaxError"):
        load_task_class(f"{syntax}:X")
