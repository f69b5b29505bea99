"""Private directories: everything batchwright creates is for its user only (directories 0700).

``Path.mkdir(mode=0o700, parents=True)`` applies the mode to the last directory only; missing parents
get ``0o777`` minus the umask. :func:`make_private_dir` creates every missing level with 0700.
"""

from __future__ import annotations

import errno
from pathlib import Path


def make_private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents with mode 0700 (existing directories are left alone).

    Raises :class:`OSError` (e.g. ``NotADirectoryError``) when ``path`` or a parent is not a directory.
    """
    path = Path(path)
    missing = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            if not directory.is_dir():
                raise
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(path))
    return path
