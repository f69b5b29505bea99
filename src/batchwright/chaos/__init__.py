"""The chaos soak: a task run to completion through faults, server restarts and killed runners, then proven.

A driver starts the local server with a fault plan that mixes every fault kind, runs the task in a runner
subprocess, kills that runner at random moments (SIGKILL, SIGINT, SIGTERM) and restarts it until the task
completes, then checks the task database, the exported output and the server's ledger::

    from batchwright.chaos import SoakConfig, run_soak

    result = run_soak(SoakConfig(work_dir=Path("soak"), requests=1_000, kills=10, mode="batch"))
    assert result.ok, result.failures()

``bench/chaos.py`` runs it at full size (20,000 requests, 100 kills) and prints the checks as a table.
"""

from __future__ import annotations

from batchwright.lazy_exports import lazy_getattr

_EXPORTS = {
    "Check": "batchwright.chaos.checks",
    "SoakConfig": "batchwright.chaos.driver",
    "SoakResult": "batchwright.chaos.driver",
    "run_soak": "batchwright.chaos.driver",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
