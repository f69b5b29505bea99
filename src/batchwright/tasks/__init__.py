"""The user-facing task API: define items, a request per item and the processing of results."""

from batchwright.tasks.api import Item, OpinionTask, Result, Row, Task, TaskError, TaskMeta
from batchwright.tasks.export import ExportFormat, ExportSpec, export_rows
from batchwright.tasks.opinions import Opinion, OpinionPolicy, OpinionVerdict

__all__ = [
    "ExportFormat",
    "ExportSpec",
    "Item",
    "Opinion",
    "OpinionPolicy",
    "OpinionTask",
    "OpinionVerdict",
    "Result",
    "Row",
    "Task",
    "TaskError",
    "TaskMeta",
    "export_rows",
]
