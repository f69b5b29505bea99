"""Nothing is imported or executed from strings stored in the task database.

The only code batchwright loads is the TASK named on the command line. A task directory whose
database names another task module, a response model by import path, or carries code-looking
strings in its metadata must not make batchwright import or run any of it — checked behaviourally
(a planted module records any import) and statically (the only dynamic imports in the package).
"""

from __future__ import annotations

import ast
import contextlib
import json
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

import batchwright
from batchwright.cli import run_app
from batchwright.errors import ExitCode
from batchwright.store.db import DB_NAME

TASKS = Path(__file__).parents[1] / "badinput" / "corpus_tasks.py"
EVIL = "bw_planted_module"


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An importable module that leaves a marker file if anything imports it."""
    marker = tmp_path / "imported"
    (tmp_path / f"{EVIL}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "from batchwright.tasks import Task\n"
        "class Evil(Task):\n    name = 'corpus'\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return marker


def tamper(task_dir: Path, planted_file: Path, *, keep_task_name: bool) -> None:
    """Rewrite every stored string a loader could be tempted to resolve."""
    spec = f"{planted_file}:Evil"
    code = f"__import__({EVIL!r})"
    with contextlib.closing(sqlite3.connect(task_dir / DB_NAME)) as conn, conn:
        if not keep_task_name:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'task_name'", (spec,))
        meta = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'task_meta'").fetchone()[0])
        meta.update({"task_class": spec, "module": EVIL, "exec": code, "__class__": f"{EVIL}:Evil"})
        conn.execute("UPDATE meta SET value = ? WHERE key = 'task_meta'", (json.dumps(meta),))
        conn.execute("UPDATE requests SET response_model = ?, meta = ?", (f"{EVIL}:Evil",
                     json.dumps({"data": {"i": 0}, "hook": code, "model": f"{EVIL}.Evil"})))  # fmt: skip
        conn.execute("UPDATE items SET meta = ?", (json.dumps({"opinions": [[code, 1]], "class": spec}),))
        # One request open again, so the next run collects a result that names the planted model.
        conn.execute("UPDATE requests SET state = 'pending' WHERE id = (SELECT min(id) FROM requests)")
        conn.execute(
            "UPDATE items SET state = 'committed' WHERE key = (SELECT item_key FROM requests WHERE id = "
            "(SELECT min(id) FROM requests))"
        )


def run_good(task_dir: Path, server: Any) -> int:
    return run_app([
        "run", f"{TASKS}:Good", "-d", str(task_dir), "--base-url", server.base_url, "--api-key",
        server.api_key, "--min-batch-requests", "1", "--poll-interval", "0.05", "--progress", "quiet",
    ])  # fmt: skip


@pytest.mark.parametrize("keep_task_name", [False, True], ids=["task-name-is-a-spec", "stored-strings"])
def test_tampered_strings_are_never_imported(
    tmp_path: Path,
    local_server: Any,
    planted: Path,
    keep_task_name: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    task_dir = tmp_path / "task"
    assert run_good(task_dir, local_server) == ExitCode.DONE
    tamper(task_dir, tmp_path / f"{EVIL}.py", keep_task_name=keep_task_name)
    capsys.readouterr()
    assert run_app(["status", str(task_dir)]) == ExitCode.DONE
    assert run_app(["status", str(task_dir), "--json"]) == ExitCode.DONE
    code = run_good(task_dir, local_server)
    err = " ".join(capsys.readouterr().err.split())
    if keep_task_name:
        # The reopened request's result names a model this run never registered: refused, not imported.
        assert code == ExitCode.BAD_INPUT and f"response model '{EVIL}:Evil'" in err, err
    else:
        assert code == ExitCode.BAD_INPUT and "belongs to task" in err
    assert "Traceback" not in err
    assert not planted.exists(), "a module named in the database was imported"
    assert EVIL not in sys.modules and not any(EVIL in name for name in sys.modules)


#: The only dynamic-import and code-execution call sites in the package, and what feeds them.
ALLOWED = {
    ("tasks/loader.py", "spec_from_file_location"),  # the TASK file named on the command line
    ("tasks/loader.py", "import_module"),  # the TASK module named on the command line
    ("lazy_exports.py", "import_module"),  # lazy re-exports from the packages' fixed tables
}
UNSAFE_MODULES = {"pickle", "marshal", "shelve", "dill", "cloudpickle"}


def call_name(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def test_the_package_loads_code_only_from_the_command_line() -> None:
    root = Path(batchwright.__file__).parent
    found = set()
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + (
                    [node.module] if isinstance(node, ast.ImportFrom) else []
                )
                assert not UNSAFE_MODULES & {str(n).split(".")[0] for n in names}, f"{rel} imports {names}"
            if not isinstance(node, ast.Call):
                continue
            name = call_name(node)
            if isinstance(node.func, ast.Name) and name in {"eval", "exec", "compile", "__import__"}:
                pytest.fail(f"{rel}:{node.lineno} calls {name}()")
            if name in {"load", "unsafe_load", "full_load"} and "yaml" in ast.unparse(node.func):
                pytest.fail(f"{rel}:{node.lineno} uses yaml.{name} (only yaml.safe_load is allowed)")
            if name in {"import_module", "spec_from_file_location"}:
                found.add((rel, name))
    assert found <= ALLOWED, found - ALLOWED
    assert ("tasks/loader.py", "spec_from_file_location") in found  # the scan does see the loader


def test_the_loader_is_only_fed_by_the_command_line() -> None:
    """``load_task_class`` is called from the CLI's TASK argument only, never with a stored value."""
    root = Path(batchwright.__file__).parent
    callers = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if "load_task_class(" in path.read_text("utf-8") and path.name != "loader.py"
    )
    assert callers == ["cli/run.py"]
    source = (root / "cli" / "run.py").read_text("utf-8")
    assert "load_task_class(task)" in source  # ``task`` is the typer argument TASK


def test_planted_module_would_be_caught(planted: Path) -> None:
    """The marker works: importing the planted module does leave it (so the checks above can fail)."""
    import importlib

    try:
        importlib.import_module(EVIL)
        assert planted.exists()
    finally:
        sys.modules.pop(EVIL, None)
        shutil.rmtree(planted, ignore_errors=True) if planted.is_dir() else planted.unlink(missing_ok=True)
