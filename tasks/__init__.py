"""Tasks: one registered :class:`Task` object per task family, installed as
``hem_bench.tasks``.

>>> from hem_bench.tasks import get_task, available_tasks
>>> task = get_task("ood")      # options, recipes, headline, DataModule, LightningModule

A built-in task is one file, ``hem_bench.tasks.<name>``, shaped like a plugin: its
``Options`` model, its DataModule factory, its part of the LightningModule (a
:class:`TaskModule`), its report section and plots, and its registration. Importing this
package registers them. Kept import-light: importing this package (or a task's file) does
not import torch or lightning; a task's LightningModule is made when a run first builds it.
"""

# the built-in tasks, registered by importing their files
from hem_bench.tasks import (
    adversarial,
    classify,
    continual,
    imbalanced,
    ood,
    segmentation,
)
from hem_bench.tasks.registry import (
    ENTRY_POINT_GROUP,
    ERROR_MARGIN,
    POINT_MARGIN,
    Margin,
    Metric,
    Task,
    TaskModule,
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
    "ERROR_MARGIN",
    "POINT_MARGIN",
    "Margin",
    "Metric",
    "Task",
    "TaskModule",
    "TaskOptions",
    "TaskPluginWarning",
    "TaskResult",
    "adversarial",
    "available_tasks",
    "classify",
    "continual",
    "find_task",
    "get_task",
    "imbalanced",
    "ood",
    "option",
    "register_task",
    "segmentation",
]
