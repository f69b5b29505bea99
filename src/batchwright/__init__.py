"""batchwright: run large LLM workloads through batch APIs and the direct API, safely and restartably."""

from batchwright.errors import BatchwrightError, ExitCode

__version__ = "0.1.0"

__all__ = ["BatchwrightError", "ExitCode", "__version__"]
