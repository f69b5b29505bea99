"""The one exception hierarchy of batchwright, and the CLI's documented exit codes.

Every error carries a message that names the problem and, where there is one, a remedy.
The CLI prints ``str(error)`` (cause and remedy, no traceback unless ``--debug``) and exits with
``error.exit_code``.
"""

from __future__ import annotations

import os
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ``batchwright`` command (documented in ``docs/cli.md``)."""

    DONE = 0
    """Everything asked for is done."""
    ERROR = 1
    """An error stopped the run (remote, state or internal); state is consistent."""
    BAD_INPUT = 2
    """Bad command line, configuration, task definition or input file; nothing was written."""
    WORK_LEFT = 3
    """The run stopped with work left: a limit or budget was reached, batches are still in flight,
    or the run was interrupted. Run again to continue."""
    SAFETY_STOP = 4
    """A safety stop (pass ratio, failed batches) halted the run; see the message."""
    LOCKED = 5
    """The task directory is locked by another running process."""


class BatchwrightError(Exception):
    """Base class of every error batchwright raises on purpose."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, remedy: str | None = None) -> None:
        self.message = message
        self.remedy = remedy
        super().__init__(message if remedy is None else f"{message}\n{remedy}")


class InputError(BatchwrightError):
    """Bad input from the user: options, configuration, task definitions, input files."""

    exit_code = ExitCode.BAD_INPUT


class ConfigError(InputError):
    """A configuration value, flag combination or config file is invalid."""


class TaskDefinitionError(InputError):
    """A task spec cannot be loaded or has the wrong shape."""


class PriceUnknownError(InputError):
    """No price is known for a model and none was given."""


class StateError(BatchwrightError):
    """The task database is missing, corrupt, from a newer version, or belongs to another task."""


class TaskLockedError(BatchwrightError):
    """Another process holds the task directory's lock."""

    exit_code = ExitCode.LOCKED


class RemoteError(BatchwrightError):
    """The provider answered with an error that batchwright cannot absorb by retrying."""


class TokenizerUnavailableError(BatchwrightError):
    """A tiktoken vocabulary is neither cached nor available offline."""


class SafetyStop(BatchwrightError):
    """A safety stop (pass ratio, failed batches) halted the run."""

    exit_code = ExitCode.SAFETY_STOP


def os_error_reason(error: OSError) -> str:
    """A short reason for a failed file operation, naming the path (``mkdir`` on a regular file says
    "File exists"; we say what is wrong)."""
    name = error.filename
    reason = error.strerror or str(error)
    if name is not None and os.path.exists(name) and not os.path.isdir(name):
        reason = "it exists and is not a directory" if isinstance(error, FileExistsError) else reason
    return reason if name is None else f"{reason} ({name})"
