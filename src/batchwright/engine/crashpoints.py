"""Test hook: kill the process with SIGKILL at a named step boundary, to prove crash safety.

Set ``BATCHWRIGHT_TEST_CRASH_AT=<step>`` (or ``<step>:<n>`` for the n-th time the step is reached) in a
runner's environment; the runner then dies at that point exactly as ``kill -9`` would. Steps:

* ``after_cut``: a batch is cut (committed), nothing uploaded;
* ``after_upload``: the remote file exists, its id is not recorded;
* ``after_file_recorded``: the file id is recorded, no batch created;
* ``after_create``: the remote batch exists, its id is not recorded;
* ``after_batch_recorded``: the batch id is recorded;
* ``after_download``: result files are downloaded, nothing committed;
* ``before_commit``: results are applied inside the open transaction, not committed;
* ``after_commit``: results are committed, remote files not yet deleted.

Unset (always, outside tests), :func:`crashpoint` is a no-op.

A second hook, ``BATCHWRIGHT_TEST_SIGNAL_AT=<step>:<SIGNAL>`` (say ``engine_start:SIGINT``), makes
:func:`signalpoint` send that signal to the own process at a named point, to prove that a signal landing
there stops the run as promised (``SIGINT,SIGINT`` sends two, one after the other). Points:

* ``before_run``: in :func:`~batchwright.tasks.run.run_task`, right before the engine runs;
* ``engine_start``: inside the engine's event loop, before its own signal handlers are installed.
* ``engine_handlers``: right after they are installed (signals sent there queue up until the loop waits).
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("BATCHWRIGHT_TEST_CRASH_AT")
_SIGNAL_SPEC = os.environ.get("BATCHWRIGHT_TEST_SIGNAL_AT")
_hits: dict[str, int] = {}


def crashpoint(step: str) -> None:
    """Die with SIGKILL here if the test hook names ``step``."""
    if _SPEC is None:
        return
    name, _, nth = _SPEC.partition(":")
    if name != step:
        return
    _hits[step] = _hits.get(step, 0) + 1
    if _hits[step] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def signalpoint(step: str) -> None:
    """Send the own process the signal the test hook names, if it names ``step``."""
    if _SIGNAL_SPEC is None:
        return
    name, _, sigs = _SIGNAL_SPEC.partition(":")
    if name == step:
        for sig in sigs.split(","):
            os.kill(os.getpid(), signal.Signals[sig])
