"""batchwright: run large LLM workloads through batch APIs and the direct API, safely and restartably.

The task API is re-exported here (imported on first use, so ``import batchwright`` stays light)::

    import batchwright

    class MyTask(batchwright.Task): ...

    batchwright.run_task(MyTask(), "my-task-dir")
"""

from __future__ import annotations

from batchwright.errors import BatchwrightError, ExitCode
from batchwright.lazy_exports import lazy_getattr

__version__ = "0.1.0"

_LAZY = {
    "Completion": "batchwright.jobs.complete",
    "EngineSettings": "batchwright.config",
    "ExportSpec": "batchwright.tasks.export",
    "Item": "batchwright.tasks.api",
    "Opinion": "batchwright.tasks.opinions",
    "OpinionTask": "batchwright.tasks.api",
    "Result": "batchwright.tasks.api",
    "Task": "batchwright.tasks.api",
    "TaskError": "batchwright.tasks.api",
    "TaskMeta": "batchwright.tasks.api",
    "TaskRunReport": "batchwright.tasks.run",
    "complete_many": "batchwright.jobs.complete",
    "run_task": "batchwright.tasks.run",
}

__all__ = ["BatchwrightError", "ExitCode", "__version__", *sorted(_LAZY)]


__getattr__ = lazy_getattr(__name__, _LAZY)
