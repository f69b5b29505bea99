"""The local OpenAI-compatible batch server (emulator with fault injection).

Public API (imported lazily, so ``batchwright.server.backend`` stays light)::

    from batchwright.server import run_server, ServerConfig, INSTANT, FaultPlan
"""

from __future__ import annotations

from batchwright.lazy_exports import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, _EXPORTS)
