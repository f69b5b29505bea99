"""SIGINT/SIGTERM landing at the edges of a run: a real runner process signalled at named points.

The points come from the ``BATCHWRIGHT_TEST_SIGNAL_AT`` test hook (``batchwright.engine.crashpoints``), so
the signal lands exactly in the window the chaos soak only hit about once in a hundred kills.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from batchwright.chaos.plan import engine_settings

N_ITEMS = 30


def _run_runner(server, tmp_path, hook: str, *, ignore_sigint: bool = False) -> subprocess.CompletedProcess:
    settings = tmp_path / "settings.json"
    values = engine_settings("batch", N_ITEMS, server.base_url)
    settings.write_text(values.model_dump_json(exclude={"api_key"}))
    env = dict(os.environ, OPENAI_API_KEY=server.api_key, BATCHWRIGHT_TEST_SIGNAL_AT=hook)
    args = [sys.executable, "-m", "batchwright.chaos.runner", "run", str(tmp_path / "task"), str(settings)]

    def inherit_ignored_sigint() -> None:  # as a background job of a non-interactive shell starts
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.run(
        [*args, str(N_ITEMS)], env=env, capture_output=True, text=True, timeout=120,
        preexec_fn=inherit_ignored_sigint if ignore_sigint else None,
    )  # fmt: skip


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_as_the_engine_starts_stops_the_run_cleanly(local_server, tmp_path, sig):
    """Before the engine's own handlers are in place (asyncio.run's SIGINT handler, or none for SIGTERM),
    a signal still stops the run cleanly, with the one-line summary and the interrupted exit code."""
    proc = _run_runner(local_server, tmp_path, f"engine_start:{sig}")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "complete" not in lines
    assert lines[-1].startswith("interrupted"), proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr


def test_sigint_before_the_run_is_not_ignored_when_inherited_as_ignored(local_server, tmp_path):
    """A runner started with SIGINT ignored (the soak driver run in the background) still obeys it."""
    proc = _run_runner(local_server, tmp_path, "before_run:SIGINT", ignore_sigint=True)
    assert "complete" not in proc.stdout.splitlines(), proc.stdout
    assert proc.returncode == -signal.SIGINT, proc.stdout + proc.stderr
    assert proc.stderr.rstrip().endswith("KeyboardInterrupt"), proc.stderr


def test_sigint_inside_the_run_is_not_ignored_when_inherited_as_ignored(local_server, tmp_path):
    proc = _run_runner(local_server, tmp_path, "engine_start:SIGINT", ignore_sigint=True)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("interrupted"), proc.stdout


def test_a_second_sigint_as_the_engine_starts_exits_at_once(local_server, tmp_path):
    proc = _run_runner(local_server, tmp_path, "engine_start:SIGINT,SIGINT")
    assert proc.returncode == -signal.SIGINT, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == ["running"]
    assert proc.stderr.rstrip().endswith("KeyboardInterrupt"), proc.stderr


def test_a_second_sigint_queued_behind_the_first_exits_at_once(local_server, tmp_path):
    """Two SIGINTs that reach the event loop together (it was busy when both arrived) are still two:
    the second exits at once instead of being taken for the first one again."""
    proc = _run_runner(local_server, tmp_path, "engine_handlers:SIGINT,SIGINT")
    assert proc.returncode == -signal.SIGINT, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == ["running"]
    assert proc.stderr.rstrip().endswith("KeyboardInterrupt"), proc.stderr


def test_a_sigterm_once_the_handlers_are_in_stops_cleanly(local_server, tmp_path):
    proc = _run_runner(local_server, tmp_path, "engine_handlers:SIGTERM")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("interrupted"), proc.stdout
