"""The local OpenAI-compatible batch server (emulator with fault injection).

Public API (imported lazily, so ``batchwright.server.backend`` stays light)::

    from batchwright.server import run_server, ServerConfig, INSTANT, FaultPlan
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ServerConfig": "batchwright.server.config",
    "INSTANT": "batchwright.server.config",
    "DEFAULT_API_KEY": "batchwright.server.config",
    "FaultPlan": "batchwright.server.faults",
    "load_fault_plan": "batchwright.server.faults",
    "run_server": "batchwright.server.process",
    "RunningServer": "batchwright.server.process",
    "serve_forever": "batchwright.server.process",
    "create_app": "batchwright.server.app",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'batchwright.server' has no attribute {name!r}")
