"""The API key never leaves the process: not in the task database, exports, logs, batch metadata,
error messages or ``--debug`` output.

Real runs of the installed ``batchwright`` command (batch path and direct path, key from the
environment, the flag and the config file) against a local server that only accepts a distinctive
key; then every byte of every file written and every captured output is searched for it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from batchwright.cli import run_app
from batchwright.errors import ExitCode

BIN = Path(sys.executable).parent / "batchwright"
TASK = f"{Path(__file__).parents[1] / 'badinput' / 'corpus_tasks.py'}:Good"


def canary(label: str) -> str:
    """A key no test data could contain by chance."""
    return f"sk-{label}-{secrets.token_hex(16)}-canary"


def forms(key: str) -> list[bytes]:
    """The key and the encodings a leak could take: raw, its random middle (survives masking that keeps
    the ends), base64, JSON-escaped and as a bearer header value."""
    middle = key.split("-")[2]
    return [
        key.encode(),
        middle.encode(),
        base64.b64encode(key.encode()),
        json.dumps(key).encode(),
        f"Bearer {key}".encode(),
    ]


@dataclass
class Evidence:
    """Everything a key could leak into: files written and outputs captured."""

    outputs: dict[str, str] = field(default_factory=dict)
    roots: list[Path] = field(default_factory=list)

    def files(self) -> Iterator[Path]:
        for root in self.roots:
            yield from (p for p in root.rglob("*") if p.is_file())

    def leaks(self, key: str) -> list[str]:
        found = []
        for path in self.files():
            data = path.read_bytes()
            found += [f"{path} ({form[:12]!r}...)" for form in forms(key) if form in data]
        for name, text in self.outputs.items():
            found += [f"output {name}" for form in forms(key) if form.decode() in text]
        return found


@pytest.fixture
def key_server(tmp_path: Path) -> Iterator[Any]:
    from batchwright.server import INSTANT, ServerConfig, run_server

    key = canary("server")
    with run_server(ServerConfig(data_dir=tmp_path / "server", speed=INSTANT, api_key=key)) as server:
        yield server


@pytest.fixture
def server_log() -> Iterator[list[str]]:
    """Every log record of this process (the in-process server's included), at every level."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def batchwright(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start the installed command (runs overlap: each has its own task directory)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATCHWRIGHT_"))}
    return subprocess.Popen(
        [str(BIN), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean, **(env or {})},
    )


def common(server: Any, task_dir: Path) -> list[str]:
    return ["run", TASK, "-d", str(task_dir), "--base-url", server.base_url, "--progress", "plain",
            "--min-batch-requests", "1", "--poll-interval", "0.05"]  # fmt: skip


def test_the_key_is_never_written_or_shown(
    tmp_path: Path, key_server: Any, server_log: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    key, wrong = key_server.api_key, canary("wrong")
    evidence = Evidence(roots=[tmp_path / "tasks", tmp_path / "server"])
    tasks = tmp_path / "tasks"

    def record(name: str, proc: subprocess.Popen[str], code: ExitCode) -> str:
        out, err = proc.communicate(timeout=120)
        evidence.outputs[f"{name} stdout"], evidence.outputs[f"{name} stderr"] = out, err
        assert proc.returncode == code, err
        return " ".join((out + err).split())

    config = tmp_path / "bw.yaml"
    config.write_text(f"api_key: {key}\n", encoding="utf-8")
    config_list = tmp_path / "bw-list.yaml"
    config_list.write_text(f"api_key: [{key}]\n", encoding="utf-8")
    runs = {
        # Batch path, key from OPENAI_API_KEY, --debug on, every export format.
        "batch run": batchwright("--debug", *common(key_server, tasks / "batch"), "-o", "out.jsonl", "-o",
                                 "out.csv", "-o", "out.json", env={"OPENAI_API_KEY": key}),
        # Direct path, key from the flag, every request and response printed.
        "direct run": batchwright("--debug", *common(key_server, tasks / "direct"), "--api-key", key,
                                  "--force-direct", "--direct-verbose", "always"),
        # A wrong key: the server refuses it; the error names the problem, and neither key is shown.
        "wrong key": batchwright("--debug", *common(key_server, tasks / "refused"),
                                 env={"OPENAI_API_KEY": wrong}),
    }  # fmt: skip
    record("batch run", runs["batch run"], ExitCode.DONE)
    assert "Say the number 5" in record("direct run", runs["direct run"], ExitCode.DONE)  # requests echoed
    message = record("wrong key", runs["wrong key"], ExitCode.ERROR)
    assert "401" in message or "api key" in message.lower()
    # In-process (same code path, cheaper): errors while a key is set — a bad value next to it, a key of
    # the wrong type — and, with the key from the config file (the user's own file, not searched), a
    # dry run and the status.
    inprocess = {
        "bad value": (["--debug", *common(key_server, tasks / "bad"), "--api-key", key, "--timeout", "-1"],
                      ExitCode.BAD_INPUT),
        "key of the wrong type": (["--debug", *common(key_server, tasks / "typed"), "--config",
                                   str(config_list)], ExitCode.BAD_INPUT),
        "dry run": (["--debug", *common(key_server, tasks / "batch"), "--config", str(config), "--dry-run"],
                    ExitCode.DONE),
        "status": (["--debug", "status", str(tasks / "batch"), "--config", str(config)], ExitCode.DONE),
    }  # fmt: skip
    for name, (argv, code) in inprocess.items():
        capsys.readouterr()
        assert run_app(argv) == code, name
        captured = capsys.readouterr()
        evidence.outputs[f"{name} stdout"], evidence.outputs[f"{name} stderr"] = captured.out, captured.err
    assert "api_key" in evidence.outputs["key of the wrong type stderr"]

    ledger = key_server.ledger()
    assert ledger["batches"] and ledger["tokens"]["direct"]["requests"] == 6  # both paths really ran
    evidence.outputs["server ledger (batch metadata, file names)"] = json.dumps(ledger)
    evidence.outputs["log records"] = "\n".join(server_log)
    assert sum(1 for _ in evidence.files()) > 10
    assert Evidence(outputs={"self-check": f"x{key.split('-')[2]}x"}).leaks(key)  # the search can fail
    assert evidence.leaks(key) == []
    assert evidence.leaks(wrong) == []


def test_settings_never_render_the_key() -> None:
    from batchwright.config import EngineSettings

    key = canary("settings")
    settings = EngineSettings(api_key=key)
    for shown in (repr(settings), str(settings), settings.model_dump_json(), repr(settings.model_dump())):
        assert key not in shown
    assert settings.api_key is not None and settings.api_key.get_secret_value() == key
