"""The ``batchwright`` command line: a thin layer over the library.

Importing this package registers every command module on :data:`batchwright.cli.app.app`.
"""

from batchwright.cli import (
    demo,  # noqa: F401  (registers the command)
    jobs,  # noqa: F401  (registers the commands)
    run,  # noqa: F401  (registers the command)
    serve,  # noqa: F401  (registers the command)
    status,  # noqa: F401  (registers the command)
    tokens,  # noqa: F401  (registers the command)
)
from batchwright.cli.app import app, main, run_app

__all__ = ["app", "main", "run_app"]
