"""The bad-input corpus (issue 7): every case gets a clear message, its documented exit code, no
traceback (unless ``--debug``), and leaves the task database byte for byte unchanged — or not created.

Cases run in-process through :func:`batchwright.cli.run_app` (a few also as real subprocesses at the
end). Add a case by appending a :class:`Case` to :data:`CASES`. Placeholders in ``argv`` and ``files``:
``{tmp}`` (the case's scratch dir), ``{dir}`` (its task dir), ``{tasks}`` (``corpus_tasks.py``),
``{url}``/``{key}`` (the module's local server). ``state`` says what ``{dir}`` is before the command:

- ``fresh``: it does not exist; afterwards no task database may exist there;
- ``existing``: a copy of a completed task (``setup`` may then damage it); afterwards its database
  files (main file and ``-wal``) and exports must be byte for byte what they were before;
- ``none``: the command does not involve a task directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from batchwright.cli import run_app
from batchwright.errors import ExitCode
from batchwright.store.db import DB_NAME
from batchwright.store.lock import TaskLock

from .support import TASKS, db_fingerprint, fill, read_only_mount, run

BIN = Path(sys.executable).parent / "batchwright"

State = Literal["fresh", "existing", "none"]
Setup = Callable[[Path], contextlib.AbstractContextManager[Any]]


@dataclass(frozen=True)
class Case:
    """One bad input: the command, what it must answer, and what state it starts from."""

    id: str
    argv: tuple[str, ...]
    code: ExitCode
    words: tuple[str, ...]
    """Words the error message must contain (case-insensitive, whitespace-normalised)."""
    state: State = "fresh"
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    """Files written under ``{tmp}`` before the command (name -> text or bytes)."""
    env: Mapping[str, str] = field(default_factory=dict)
    setup: Setup | None = None
    """Called with the task dir after the template is in place; its context spans the command."""


# --- setups that damage the template task directory ------------------------------------------


@contextlib.contextmanager
def hold_lock(task_dir: Path) -> Iterator[None]:
    lock = TaskLock(task_dir)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def newer_schema(task_dir: Path) -> Iterator[None]:
    with contextlib.closing(sqlite3.connect(task_dir / DB_NAME)) as conn:
        conn.execute("PRAGMA user_version = 999")
    yield


@contextlib.contextmanager
def garbage_db(task_dir: Path) -> Iterator[None]:
    (task_dir / DB_NAME).write_bytes(b"this is not a database\n" * 400)
    yield


@contextlib.contextmanager
def truncated_db(task_dir: Path) -> Iterator[None]:
    path = task_dir / DB_NAME
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    yield


@contextlib.contextmanager
def foreign_db(task_dir: Path) -> Iterator[None]:
    """Another application's SQLite database under our file name."""
    (task_dir / DB_NAME).unlink()
    with contextlib.closing(sqlite3.connect(task_dir / DB_NAME)) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('my notes')")
        conn.commit()
    yield


@contextlib.contextmanager
def db_is_a_directory(task_dir: Path) -> Iterator[None]:
    (task_dir / DB_NAME).unlink()
    (task_dir / DB_NAME).mkdir()
    yield


@contextlib.contextmanager
def export_dir_exists(task_dir: Path) -> Iterator[None]:
    (task_dir.parent / "out.jsonl").mkdir()
    yield


#: A remote endpoint (models without a price are free only on a loopback server); nothing may be sent.
REMOTE = ("--base-url", "https://api.example.com/v1", "--max-remote-batches", "0")

GOOD_LINE = (
    b'{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", '
    b'"body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}\n'
)

CASES: list[Case] = [
    # --- the command line ---------------------------------------------------------------------
    Case("unknown-flag", run("Good", "--max-batch-size", "5"), ExitCode.BAD_INPUT, ("no such option",)),
    Case("flag-not-an-int", run("Good", "--max-batch-requests", "many"), ExitCode.BAD_INPUT,
         ("max-batch-requests", "valid integer")),
    Case("flag-below-minimum", run("Good", "--max-batch-requests", "0"), ExitCode.BAD_INPUT,
         ("max_batch_requests", "greater than or equal to 1")),
    Case("flag-above-api-limit", run("Good", "--max-batch-requests", "60000"), ExitCode.BAD_INPUT,
         ("max_batch_requests", "less than or equal to 50000")),
    Case("meta-out-of-range", run("Good", "--temperature", "3"), ExitCode.BAD_INPUT,
         ("temperature", "less than or equal to 2")),
    Case("bad-progress-mode", run("Good", "--progress", "fancy"), ExitCode.BAD_INPUT,
         ("--progress", "fancy")),
    Case("dry-run-and-wipe", run("Good", "--dry-run", "--wipe-task", "--yes"), ExitCode.BAD_INPUT,
         ("--dry-run", "--wipe-task", "contradict"), state="existing"),
    Case("dry-run-and-no-run", run("Good", "--dry-run", "--no-run"), ExitCode.BAD_INPUT,
         ("--dry-run", "--no-run", "contradict")),
    Case("only-process-and-wipe", run("Good", "--only-process", "--wipe-requests", "--yes"),
         ExitCode.BAD_INPUT, ("--only-process", "--wipe-requests", "contradict"), state="existing"),
    Case("two-wipes", run("Good", "--wipe-task", "--wipe-failed", "--yes"), ExitCode.BAD_INPUT,
         ("--wipe-task", "contradict"), state="existing"),
    Case("dry-run-reinit", run("Good", "--dry-run", "--reinit-meta"), ExitCode.BAD_INPUT,
         ("--dry-run", "--reinit-meta"), state="existing"),
    Case("limits-contradict", run("Good", "--max-batch-requests", "100", "--max-remote-requests", "10"),
         ExitCode.BAD_INPUT, ("max_remote_requests", "max_batch_requests")),
    Case("poll-interval-contradict", run("Good", "--poll-interval", "30", "--poll-interval-max", "5"),
         ExitCode.BAD_INPUT, ("poll_interval_max",)),
    Case("azure-without-version", run("Good", "--azure-endpoint", "https://x.example"), ExitCode.BAD_INPUT,
         ("azure_endpoint", "api_version")),
    Case("base-url-not-a-url", run("Good", "--base-url", "localhost:8000"), ExitCode.BAD_INPUT,
         ("base_url", "not an http(s) url")),
    Case("base-url-wrong-scheme", run("Good", "--base-url", "ftp://example.com/v1"), ExitCode.BAD_INPUT,
         ("base_url", "not an http(s) url")),
    Case("no-api-key", ("run", "{tasks}:Good", "-d", "{dir}", "--base-url", "{url}"), ExitCode.BAD_INPUT,
         ("no api key", "OPENAI_API_KEY")),
    Case("no-api-key-existing", ("run", "{tasks}:DuplicateKeys", "-d", "{dir}", "--base-url", "{url}"),
         ExitCode.BAD_INPUT, ("no api key",), state="existing"),
    Case("wipe-without-yes", run("Good", "--wipe-task"), ExitCode.BAD_INPUT, ("not confirmed", "--yes"),
         state="existing"),
    Case("meta-changed-without-reinit", run("Good", "--model", "gpt-4o"), ExitCode.BAD_INPUT,
         ("fixed when the task is created", "--reinit-meta"), state="existing"),
    Case("export-unknown-format", run("Good", "--export", "out.txt"), ExitCode.BAD_INPUT,
         ("export format", ".jsonl")),
    Case("export-parts-zero", run("Good", "--export-max-entries", "0"), ExitCode.BAD_INPUT,
         ("export", "positive"), state="existing"),
    Case("demo-unknown-task", ("demo", "--task", "poetry", "-d", "{dir}"), ExitCode.BAD_INPUT,
         ("unknown demo task", "poetry")),
    Case("demo-real-and-base-url", ("demo", "--real", "--base-url", "{url}", "-d", "{dir}"),
         ExitCode.BAD_INPUT, ("--real", "--base-url", "contradict")),
    Case("status-without-dir", ("status",), ExitCode.BAD_INPUT, ("missing argument",), state="none"),
    # --- configuration: YAML file and environment ---------------------------------------------
    Case("config-missing", run("Good", "--config", "{tmp}/nope.yaml"), ExitCode.BAD_INPUT,
         ("config file", "does not exist")),
    Case("config-malformed-yaml", run("Good", "--config", "{tmp}/bw.yaml"), ExitCode.BAD_INPUT,
         ("not valid yaml",), files={"bw.yaml": "max_batch_requests: [1, 2\nmax_retries: 3\n"}),
    Case("config-not-a-mapping", run("Good", "--config", "{tmp}/bw.yaml"), ExitCode.BAD_INPUT,
         ("must be a mapping", "list"), files={"bw.yaml": "- max_batch_requests\n- 5\n"}),
    Case("config-typo", run("Good", "--config", "{tmp}/bw.yaml"), ExitCode.BAD_INPUT,
         ("unknown option", "max_batch_request", "did you mean"),
         files={"bw.yaml": "max_batch_request: 5\n"}),
    Case("config-wrong-type", run("Good", "--config", "{tmp}/bw.yaml"), ExitCode.BAD_INPUT,
         ("invalid value", "max_retries", "config"), files={"bw.yaml": "max_retries: plenty\n"}),
    Case("config-wrong-nested-type", run("Good", "--config", "{tmp}/bw.yaml"), ExitCode.BAD_INPUT,
         ("price_overrides",), files={"bw.yaml": "price_overrides:\n  gpt-4o-mini: 0.15\n"}),
    Case("config-not-utf8", run("Good", "--config", "{tmp}/bw.yaml"), ExitCode.BAD_INPUT,
         ("config file", "utf-8"), files={"bw.yaml": b"max_retries: 3\n# caf\xe9 \xff\n"}),
    Case("config-is-a-directory", run("Good", "--config", "{tmp}"), ExitCode.BAD_INPUT,
         ("cannot read config file",)),
    Case("config-from-env-missing", run("Good"), ExitCode.BAD_INPUT, ("config file", "does not exist"),
         env={"BATCHWRIGHT_CONFIG": "/nonexistent/bw.yaml"}),
    Case("env-wrong-type", run("Good"), ExitCode.BAD_INPUT,
         ("invalid value", "BATCHWRIGHT_MAX_RETRIES"), env={"BATCHWRIGHT_MAX_RETRIES": "lots"}),
    Case("env-unknown-name", run("Good"), ExitCode.BAD_INPUT, ("unknown option", "BATCHWRIGHT_MAX_RETRYS"),
         env={"BATCHWRIGHT_MAX_RETRYS": "3"}),
    Case("env-not-json", run("Good"), ExitCode.BAD_INPUT,
         ("BATCHWRIGHT_ENQUEUED_TOKEN_LIMITS", "json object"),
         env={"BATCHWRIGHT_ENQUEUED_TOKEN_LIMITS": "gpt-4o=5"}),
    # --- task definitions ---------------------------------------------------------------------
    Case("spec-without-class", ("run", "{tasks}", "-d", "{dir}"), ExitCode.BAD_INPUT, ("':taskname' part",)),
    Case("spec-file-missing", ("run", "{tmp}/nope.py:Good", "-d", "{dir}"), ExitCode.BAD_INPUT,
         ("task file", "does not exist")),
    Case("spec-module-missing", ("run", "corpus_no_such_module:Good", "-d", "{dir}"), ExitCode.BAD_INPUT,
         ("no module named", "corpus_no_such_module")),
    Case("spec-class-missing", run("Goood"), ExitCode.BAD_INPUT, ("no attribute 'goood'", "good")),
    Case("spec-not-a-task", run("NotATask"), ExitCode.BAD_INPUT, ("not a subclass of batchwright.task",)),
    Case("spec-not-a-class", run("not_a_class"), ExitCode.BAD_INPUT, ("is a int", "not a subclass")),
    Case("task-file-syntax-error", ("run", "{tmp}/broken.py:T", "-d", "{dir}"), ExitCode.BAD_INPUT,
         ("importing", "syntaxerror"), files={"broken.py": "class T(:\n    pass\n"}),
    Case("task-file-raises", ("run", "{tmp}/raises.py:T", "-d", "{dir}"), ExitCode.BAD_INPUT,
         ("importing", "runtimeerror", "no input configured"),
         files={"raises.py": "raise RuntimeError('no input configured')\n"}),
    Case("task-file-not-utf8", ("run", "{tmp}/latin.py:T", "-d", "{dir}"), ExitCode.BAD_INPUT,
         ("importing", "utf-8"), files={"latin.py": b'CITY = "caf\xe9"\n'}),
    Case("task-missing-process", run("NoProcess"), ExitCode.BAD_INPUT, ("does not implement process",)),
    Case("task-meta-wrong-type", run("MetaNotTaskMeta"), ExitCode.BAD_INPUT,
         ("default_meta", "batchwright.taskmeta")),
    Case("task-response-model-wrong", run("ResponseModelNotPydantic"), ExitCode.BAD_INPUT,
         ("response_model", "basemodel")),
    Case("task-meta-not-json", run("MetaNotJson"), ExitCode.BAD_INPUT, ("metadata", "json", "object")),
    Case("task-name-not-a-string", run("NameNotAString"), ExitCode.BAD_INPUT, ("name must be a string",)),
    Case("task-needs-arguments", run("NeedsArguments"), ExitCode.BAD_INPUT, ("without arguments", "source")),
    Case("task-dir-of-another-task", run("OtherTask"), ExitCode.BAD_INPUT,
         ("belongs to task 'corpus'", "somebody-else"), state="existing"),
    # --- items and requests: fresh directory (nothing may be created) -------------------------
    Case("items-not-items-fresh", run("NotAnItem"), ExitCode.BAD_INPUT, ("not a batchwright.item",)),
    Case("items-duplicate-key-fresh", run("DuplicateKeys"), ExitCode.BAD_INPUT, ("new-1", "more than once")),
    Case("unknown-model-fresh", run("UnknownModelMeta", *REMOTE), ExitCode.BAD_INPUT,
         ("no price", "acme-unpriced-7b", "--cost-input")),
    Case("request-too-big-fresh", run("HugeRequest", "--max-batch-bytes", "200000"), ExitCode.BAD_INPUT,
         ("cannot fit any batch", "max_batch_bytes")),
    Case("items-empty-fresh", run("NoItems"), ExitCode.BAD_INPUT, ("items()", "no items")),
    Case("items-raise-fresh", run("ItemsRaise"), ExitCode.BAD_INPUT, ("items()", "countries.csv")),
    # --- items and requests: existing directory (its database must stay unchanged) ------------
    Case("items-not-items", run("NotAnItem"), ExitCode.BAD_INPUT, ("not a batchwright.item",),
         state="existing"),
    Case("items-duplicate-key", run("DuplicateKeys"), ExitCode.BAD_INPUT, ("new-1", "more than once"),
         state="existing"),
    Case("items-empty-key", run("EmptyKey"), ExitCode.BAD_INPUT, ("non-empty string key",), state="existing"),
    Case("items-integer-key", run("IntegerKey"), ExitCode.BAD_INPUT, ("string key",), state="existing"),
    Case("items-raise", run("ItemsRaise"), ExitCode.BAD_INPUT, ("items()", "valueerror", "countries.csv"),
         state="existing"),
    Case("request-raises", run("RequestRaises"), ExitCode.BAD_INPUT,
         ("request()", "keyerror", "missing_field"), state="existing"),
    Case("request-not-a-dict", run("RequestNotADict"), ExitCode.BAD_INPUT, ("request()", "returned a list"),
         state="existing"),
    Case("request-not-json", run("BodyNotJson"), ExitCode.BAD_INPUT, ("new-1", "not json-serialisable"),
         state="existing"),
    Case("item-data-not-json", run("DataNotJson"), ExitCode.BAD_INPUT, ("new-1", "not json-serialisable"),
         state="existing"),
    Case("request-empty-model", run("EmptyModel"), ExitCode.BAD_INPUT, ("new-1", "'model'"),
         state="existing"),
    Case("request-unknown-model", run("UnknownModel", *REMOTE), ExitCode.BAD_INPUT,
         ("no price", "acme-unpriced-7b"), state="existing"),
    Case("request-too-big", run("HugeRequest", "--max-batch-bytes", "200000"), ExitCode.BAD_INPUT,
         ("new-1", "cannot fit any batch"), state="existing"),
    Case("request-over-token-cap", run("HugeRequest", "--max-batch-tokens", "1000"), ExitCode.BAD_INPUT,
         ("new-1", "max_batch_tokens"), state="existing"),
    Case("request-two-formats", run("TwoFormats"), ExitCode.BAD_INPUT, ("response_model", "response_format"),
         state="existing"),
    Case("request-wrong-endpoint", run("WrongEndpoint"), ExitCode.BAD_INPUT,
         ("unsupported endpoint", "/v1/images/generations"), state="existing"),
    # --- the task directory and its database --------------------------------------------------
    Case("locked-task-dir", run("Good"), ExitCode.LOCKED, ("in use by pid", str(os.getpid())),
         state="existing", setup=hold_lock),
    Case("newer-schema", run("Good"), ExitCode.ERROR, ("schema version 999", "upgrade batchwright"),
         state="existing", setup=newer_schema),
    Case("newer-schema-status", ("status", "{dir}"), ExitCode.ERROR, ("schema version 999",),
         state="existing", setup=newer_schema),
    Case("corrupt-db", run("Good"), ExitCode.ERROR, ("corrupt",), state="existing", setup=garbage_db),
    Case("corrupt-db-status", ("status", "{dir}"), ExitCode.ERROR, ("corrupt",), state="existing",
         setup=garbage_db),
    Case("truncated-db", run("Good"), ExitCode.ERROR, ("corrupt", "malformed"), state="existing",
         setup=truncated_db),
    Case("foreign-sqlite-db", run("Good"), ExitCode.ERROR, ("not a batchwright database",),
         state="existing", setup=foreign_db),
    Case("foreign-sqlite-db-status", ("status", "{dir}"), ExitCode.ERROR, ("not a batchwright database",),
         state="existing", setup=foreign_db),
    Case("db-is-a-directory", run("Good"), ExitCode.ERROR, ("task database",), state="existing",
         setup=db_is_a_directory),
    Case("task-dir-is-a-file", run("Good", "-d", "{tmp}/plain-file"), ExitCode.BAD_INPUT,
         ("task directory", "not a directory"), files={"plain-file": "x"}),
    Case("task-dir-under-a-file", run("Good", "-d", "{tmp}/plain-file/task"), ExitCode.BAD_INPUT,
         ("task directory", "not a directory"), files={"plain-file": "x"}),
    Case("read-only-task-dir", run("Good"), ExitCode.BAD_INPUT, ("task directory", "read-only file system"),
         state="existing", setup=read_only_mount),
    Case("read-only-new-task-dir", run("Good"), ExitCode.BAD_INPUT,
         ("task directory", "read-only file system"),
         setup=read_only_mount),
    Case("export-is-a-directory", run("Good", "--export", "{tmp}/out.jsonl"), ExitCode.BAD_INPUT,
         ("export path", "is a directory"), state="existing", setup=export_dir_exists),
    Case("export-under-a-file", run("Good", "--export", "{tmp}/plain-file/out.jsonl"), ExitCode.BAD_INPUT,
         ("export", "not a directory"), state="existing", files={"plain-file": "x"}),
    # --- input files: batchwright tokens FILE.jsonl -------------------------------------------
    Case("tokens-malformed-json", ("tokens", "{tmp}/in.jsonl"), ExitCode.BAD_INPUT,
         ("line 2", "not valid json"), state="none",
         files={"in.jsonl": GOOD_LINE + b'{"custom_id": "r2",\n'}),
    Case("tokens-not-utf8", ("tokens", "{tmp}/in.jsonl"), ExitCode.BAD_INPUT, ("line 2", "not utf-8"),
         state="none", files={"in.jsonl": GOOD_LINE + b'{"custom_id": "caf\xe9"}\n'}),
    Case("tokens-empty-file", ("tokens", "{tmp}/in.jsonl"), ExitCode.BAD_INPUT, ("holds no requests",),
         state="none", files={"in.jsonl": b""}),
    Case("tokens-blank-lines-only", ("tokens", "{tmp}/in.jsonl"), ExitCode.BAD_INPUT, ("holds no requests",),
         state="none", files={"in.jsonl": b"\n  \n\n"}),
    Case("tokens-not-an-object", ("tokens", "{tmp}/in.jsonl"), ExitCode.BAD_INPUT,
         ("line 1", "not a json object"), state="none", files={"in.jsonl": b'["custom_id", "r1"]\n'}),
    Case("tokens-missing-fields", ("tokens", "{tmp}/in.jsonl"), ExitCode.BAD_INPUT,
         ("line 1", "lacks", "url"), state="none",
         files={"in.jsonl": b'{"custom_id": "r1", "body": {"model": "gpt-4o-mini"}}\n'}),
    Case("tokens-body-wrong-type", ("tokens", "{tmp}/in.jsonl"), ExitCode.BAD_INPUT,
         ("line 1", "body.model"), state="none",
         files={"in.jsonl": b'{"custom_id": "r1", "url": "/v1/chat/completions", "body": "hello"}\n'}),
    Case("tokens-messages-wrong-type", ("tokens", "{tmp}/in.jsonl"), ExitCode.BAD_INPUT,
         ("line 1", "messages"), state="none",
         files={"in.jsonl": b'{"custom_id": "r1", "url": "/v1/chat/completions", '
                            b'"body": {"model": "gpt-4o-mini", "messages": 5}}\n'}),
    Case("tokens-unknown-model", ("tokens", "{tmp}/in.jsonl"), ExitCode.BAD_INPUT,
         ("no price", "acme-unpriced-7b"), state="none",
         files={"in.jsonl": GOOD_LINE.replace(b"gpt-4o-mini", b"acme-unpriced-7b")}),
    Case("tokens-huge-line", ("tokens", "{tmp}/in.jsonl"), ExitCode.BAD_INPUT, ("line 1", "not valid json"),
         state="none", files={"in.jsonl": b'{"custom_id": "r1", "body": "' + b"x" * 3_000_000 + b"\n"}),
    Case("tokens-utf8-bom", ("tokens", "{tmp}/in.jsonl"), ExitCode.BAD_INPUT, ("line 1", "bom"),
         state="none", files={"in.jsonl": b"\xef\xbb\xbf" + GOOD_LINE}),
    Case("tokens-file-missing", ("tokens", "{tmp}/nope.jsonl"), ExitCode.BAD_INPUT,
         ("cannot read", "no such file"), state="none"),
    Case("tokens-negative-price", ("tokens", "{tmp}/in.jsonl", "--cost-input-batch-mtoken", "-1"),
         ExitCode.BAD_INPUT, ("cost-input-batch-mtoken",), state="none", files={"in.jsonl": GOOD_LINE}),
    # --- the local server's inputs ------------------------------------------------------------
    Case("serve-bad-speed", ("serve", "--speed", "fast", "--data-dir", "{tmp}/srv"), ExitCode.BAD_INPUT,
         ("--speed", "fast"), state="none"),
    Case("serve-faults-missing", ("serve", "--faults", "{tmp}/faults.yaml", "--data-dir", "{tmp}/srv"),
         ExitCode.BAD_INPUT, ("fault plan", "no such file"), state="none"),
    Case("serve-faults-malformed", ("serve", "--faults", "{tmp}/faults.yaml", "--data-dir", "{tmp}/srv"),
         ExitCode.BAD_INPUT, ("fault plan", "status"), state="none",
         files={"faults.yaml": "requests:\n  - status: often\n"}),
    Case("serve-bad-model-limit", ("serve", "--model-token-limit", "gpt-4o", "--data-dir", "{tmp}/srv"),
         ExitCode.BAD_INPUT, ("--model-token-limit", "model=n"), state="none"),
    Case("serve-data-dir-under-a-file", ("serve", "--port", "0", "--data-dir", "{tmp}/plain-file/srv"),
         ExitCode.BAD_INPUT, ("data dir", "not a directory"), state="none", files={"plain-file": "x"}),
]  # fmt: skip


# --- the harness ------------------------------------------------------------------------------


@dataclass
class Outcome:
    code: int
    err: str
    """stderr (and stdout) with whitespace runs collapsed to one space."""
    raw: str


class CorpusRunner:
    """Prepares a case in ``tmp_path``, runs it in-process, and checks the state it leaves."""

    def __init__(self, case: Case, tmp: Path, server: Any, template: Path | None) -> None:
        self.case, self.tmp = case, tmp
        self.task_dir = tmp / "task"
        self.values = {"tmp": str(tmp), "dir": str(self.task_dir), "tasks": str(TASKS),
                       "url": server.base_url, "key": server.api_key}  # fmt: skip
        for name, content in case.files.items():
            path = tmp / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(fill(content, self.values), encoding="utf-8")
        if case.state == "existing":
            assert template is not None
            shutil.copytree(template, self.task_dir)

    def argv(self, *before: str) -> list[str]:
        return [*before, *(fill(arg, self.values) for arg in self.case.argv)]

    def run(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *before: str
    ) -> Outcome:
        for name, value in self.case.env.items():
            monkeypatch.setenv(name, fill(value, self.values))
        setup = self.case.setup(self.task_dir) if self.case.setup else contextlib.nullcontext()
        with setup:
            before_print = db_fingerprint(self.task_dir) if self.case.state == "existing" else None
            capsys.readouterr()
            try:
                code = run_app(self.argv(*before))
            except BaseException as error:  # any escape is a traceback for the user
                pytest.fail(f"run_app raised {type(error).__name__}: {error} (the user sees a traceback)")
            captured = capsys.readouterr()
            self.check_state(before_print)
        raw = captured.err + captured.out
        return Outcome(code, " ".join(raw.split()), raw)

    def check_state(self, before_print: dict[str, str | None] | None) -> None:
        """The database is what it was (``existing``) or was never created (``fresh``)."""
        if before_print is not None:
            assert db_fingerprint(self.task_dir) == before_print, "the task database changed"
        if self.case.state == "fresh":
            assert not (self.task_dir / DB_NAME).exists(), "a task database was created"
            left = sorted(p.name for p in self.task_dir.iterdir()) if self.task_dir.exists() else []
            assert not left, f"left behind in the task directory: {left}"


XFAIL: dict[str, str] = {}
"""Case id -> reason, for product bugs posted to their owners (strict: they must keep failing)."""


DEBUG_CASES = ("config-not-utf8", "items-raise", "request-raises", "corrupt-db", "locked-task-dir",
               "unknown-model-fresh", "task-file-raises", "task-dir-under-a-file")  # fmt: skip
"""Cases also run with ``--debug``, which must add the traceback."""


def params() -> list[Any]:
    marks = {cid: pytest.mark.xfail(strict=True, reason=reason) for cid, reason in XFAIL.items()}
    plain = [pytest.param(case, False, id=case.id, marks=marks.get(case.id, ())) for case in CASES]
    debug = [pytest.param(case, True, id=f"{case.id}--debug") for case in CASES if case.id in DEBUG_CASES]
    return plain + debug


def test_corpus_is_large_and_ids_are_unique() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


def test_every_exit_code_of_the_corpus_is_documented() -> None:
    table = (Path(__file__).parents[2] / "docs" / "cli.md").read_text("utf-8")
    for code in {case.code for case in CASES}:
        assert f"\n| {int(code)} | " in table, f"exit code {int(code)} is not in docs/cli.md"


@pytest.mark.parametrize(("case", "debug"), params())
def test_bad_input(
    case: Case,
    debug: bool,
    tmp_path: Path,
    corpus_server: Any,
    template: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The message names the problem, the exit code is the documented one, and the user sees a
    traceback only with ``--debug``."""
    runner = CorpusRunner(case, tmp_path, corpus_server, template)
    outcome = runner.run(capsys, monkeypatch, *(["--debug"] if debug else []))
    assert ("Traceback" in outcome.raw) is debug
    missing = [word for word in case.words if word.lower() not in outcome.err.lower()]
    assert not missing, f"message lacks {missing}: {outcome.err!r}"
    assert outcome.code == case.code, outcome.err


SUBPROCESS_CASES = ("request-raises", "newer-schema")


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SUBPROCESS_CASES], ids=lambda c: c.id)
@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_real_process(case: Case, debug: bool, tmp_path: Path, corpus_server: Any, template: Path) -> None:
    """The installed ``batchwright`` command: exit code, message on stderr, traceback only with --debug."""
    runner = CorpusRunner(case, tmp_path, corpus_server, template)
    setup = case.setup(runner.task_dir) if case.setup else contextlib.nullcontext()
    with setup:
        before = db_fingerprint(runner.task_dir) if case.state == "existing" else None
        proc = subprocess.run(
            [str(BIN), *runner.argv(*(["--debug"] if debug else []))],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **case.env},
        )
    assert proc.returncode == case.code, proc.stderr
    assert ("Traceback" in proc.stderr) is debug
    err = " ".join(proc.stderr.split()).lower()
    assert all(word.lower() in err for word in case.words), err
    if before is not None:
        assert db_fingerprint(runner.task_dir) == before
