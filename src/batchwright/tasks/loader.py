"""Load a task class from a TASK spec: ``path/to/file.py:TaskName`` or ``package.module:TaskName``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from batchwright.errors import TaskDefinitionError
from batchwright.tasks.api import Task

_SPEC_HELP = "Give TASK as path/to/file.py:TaskName or package.module:TaskName (e.g. tasks.py:MyTask)."


def load_task_class(spec: str) -> type[Task]:
    """Import the task class named by ``spec``; raise :class:`TaskDefinitionError` when it cannot."""
    target, sep, attribute = spec.rpartition(":")
    if not sep or not target or not attribute:
        raise TaskDefinitionError(f"TASK spec {spec!r} has no ':TaskName' part.", remedy=_SPEC_HELP)
    module = _import_file(Path(target)) if _looks_like_path(target) else _import_module(target)
    try:
        obj = getattr(module, attribute)
    except AttributeError:
        names = sorted(
            name
            for name, value in vars(module).items()
            if isinstance(value, type) and issubclass(value, Task) and value is not Task
        )
        hint = f" Task classes found there: {', '.join(names)}." if names else " It defines no Task subclass."
        raise TaskDefinitionError(
            f"{target!r} has no attribute {attribute!r}.{hint}", remedy=_SPEC_HELP
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, Task)) or obj is Task:
        what = f"the class {obj.__name__}" if isinstance(obj, type) else f"a {type(obj).__name__}"
        raise TaskDefinitionError(
            f"{spec!r} is {what}, not a subclass of batchwright.Task.",
            remedy="Define `class MyTask(batchwright.Task)` implementing items(), request() and process().",
        )
    obj.check_definition()
    return obj


def _looks_like_path(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _import_file(path: Path) -> object:
    if not path.is_file():
        raise TaskDefinitionError(f"Task file {str(path)!r} does not exist.", remedy=_SPEC_HELP)
    resolved = path.resolve()
    # A stable module name per file, so pickling/pydantic references survive and re-imports are reused.
    digest = hashlib.sha1(str(resolved).encode("utf-8")).hexdigest()[:12]
    name = f"batchwright_user_task_{resolved.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise TaskDefinitionError(f"Cannot import {str(path)!r} as Python.", remedy=_SPEC_HELP)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    # Let the file import its neighbours (helpers next to the task file).
    sys.path.insert(0, str(resolved.parent))
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise TaskDefinitionError(
            f"Importing {str(path)!r} failed: {type(error).__name__}: {error}",
            remedy="Fix the error in the task file (run it with python to see the traceback).",
        ) from error
    finally:
        sys.path.remove(str(resolved.parent))
    return module


def _import_module(name: str) -> object:
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and name.startswith(error.name):
            raise TaskDefinitionError(f"No module named {name!r}.", remedy=_SPEC_HELP) from None
        raise TaskDefinitionError(
            f"Importing {name!r} failed: {error}", remedy="Install the missing dependency."
        ) from error
    except Exception as error:
        raise TaskDefinitionError(
            f"Importing {name!r} failed: {type(error).__name__}: {error}",
            remedy="Fix the error in the task module.",
        ) from error
