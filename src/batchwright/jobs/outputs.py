"""Export a job's stored output rows to a file, without the task layer's ``key`` column.

Jobs carry their own identifier in each row (``custom_id``, the dataset's id column), so the
framework's ``key`` would only repeat it. Rows are read in pages from the task database, read-only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from batchwright.engine.maintenance import Maintenance
from batchwright.store.db import Store
from batchwright.tasks.export import ExportSpec, export_rows


def iter_task_rows(task_dir: Path, *, drop: tuple[str, ...] = ("key",)) -> Iterator[dict[str, Any]]:
    """The output rows of ``task_dir`` in commit order, without the ``drop`` columns."""
    with Store.open(task_dir, readonly=True) as store:
        for _, _, row in Maintenance(store, task_dir).iter_outputs(0, 1000):
            yield {name: value for name, value in row.items() if name not in drop}


def export_task_rows(task_dir: Path, target: Path, *, drop: tuple[str, ...] = ("key",)) -> list[Path]:
    """Write every output row of ``task_dir`` to ``target`` atomically (format from the suffix)."""
    return export_rows(lambda: iter_task_rows(task_dir, drop=drop), ExportSpec(target))
