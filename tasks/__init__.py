"""Tasks: one registered :class:`Task` object per task family, and one LightningModule per
task, installed as ``hem_bench.tasks``.

>>> from hem_bench.tasks import get_task, available_tasks
>>> task = get_task("ood")      # options, recipes, headline, DataModule, LightningModule

Kept import-light: importing this package (or :mod:`hem_bench.tasks.registry` and the
built-in task objects) does not import torch or lightning; the LightningModules live in
``hem_bench.tasks.<name>`` and are imported when a run builds them.
"""

from hem_bench.tasks.registry import (
    ENTRY_POINT_GROUP,
    Metric,
    Task,
    TaskOptions,
    TaskPluginWarning,
    TaskResult,
    available_tasks,
    find_task,
    get_task,
    option,
    register_task,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Metric",
    "Task",
    "TaskOptions",
    "TaskPluginWarning",
    "TaskResult",
    "available_tasks",
    "find_task",
    "get_task",
    "option",
    "register_task",
]
