"""Metadata records of losses: the paper that introduced a loss and what it supports.

These records are plain dataclasses (no torch import), so listings stay cheap. Every
registered loss carries one as ``info``; ``hem-bench losses`` renders a table from them, and
the test suite checks each claim (supported tasks, need for class counts, defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The task kinds a loss can serve: one label per input, or one label per pixel.
TASK_KINDS = ("classification", "segmentation")

#: what a loss's 'mean' reduction divides by (see :attr:`LossInfo.mean_over`)
MEAN_OVER = ("examples", "positive")


@dataclass(frozen=True)
class Paper:
    """The publication that introduced a loss."""

    title: str
    authors: str
    venue: str
    year: int
    url: str

    def cite(self) -> str:
        """Short citation, e.g. ``Spratling & Schütt 2025``."""
        return f"{self.authors} {self.year}"


@dataclass(frozen=True)
class LossInfo:
    """What a loss is, where it comes from and what it can serve.

    ``params`` and ``param_types`` are filled in by :func:`hem_bench.losses.register_loss`
    from the constructor's signature, so they always agree with the code.
    """

    #: one line saying what the loss computes
    summary: str
    #: the publication that introduced it
    paper: Paper
    #: task kinds it supports, a subset of :data:`TASK_KINDS`
    tasks: frozenset[str] = frozenset(TASK_KINDS)
    #: whether the constructor needs ``class_counts`` (training examples per class)
    needs_class_counts: bool = False
    #: whether 'mean' is the mean of the 'none' values over the non-ignored examples
    #: (pixels); False for set-level losses such as Dice, whose 'none' gives one value
    #: per example (image)
    elementwise: bool = True
    #: what 'mean' divides the summed per-example losses by: "examples", the non-ignored
    #: examples (pixels), as for cross-entropy; "positive", only those whose loss is
    #: positive (HEM, as its authors define it)
    mean_over: str = "examples"
    #: the registered name (filled in at registration)
    name: str = ""
    #: constructor parameters and their defaults, beyond reduction / ignore_index / class_counts
    params: Mapping[str, Any] = field(default_factory=dict)
    #: the type each parameter is parsed to from the command line
    param_types: Mapping[str, type] = field(default_factory=dict)
    #: the pydantic model that checks and types the parameters (derived at registration
    #: from the constructor's signature; see :func:`hem_bench.losses.parse_loss_params`)
    params_model: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.tasks) - set(TASK_KINDS)
        if unknown or not self.tasks:
            raise ValueError(
                f"LossInfo.tasks must be a non-empty subset of {TASK_KINDS}; got {sorted(self.tasks)}"
            )
        object.__setattr__(self, "tasks", frozenset(self.tasks))
        if self.mean_over not in MEAN_OVER:
            raise ValueError(
                f"LossInfo.mean_over must be one of {MEAN_OVER}; got {self.mean_over!r}"
            )

    def supports(self, task_kind: str) -> bool:
        """Whether the loss can serve ``task_kind`` ('classification' or 'segmentation')."""
        return task_kind in self.tasks
