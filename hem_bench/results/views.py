"""What a task's report hooks see of one benchmark: :class:`BenchmarkView`.

A task's ``report_section`` and ``plots`` hooks (:class:`hem_bench.tasks.Task`) receive one
view per benchmark (protocol) of the leaderboard: its table, its runs, the colour of each
loss (the same in every plot of a report) and the paper of each loss (for links). The
leaderboard builds the views; the tasks only read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from hem_bench.run_folder import RunFolder


@dataclass(frozen=True)
class BenchmarkView:
    """One benchmark as a task's hooks see it.

    ``table`` is the leaderboard's table of the protocol
    (:class:`hem_bench.results.leaderboard.GroupTable`); ``runs`` its runs, one row each,
    with the loss *variant* label in column ``loss`` (``ce(lr=0.0003)`` in a protocol that
    is not the main one) and the record's path in ``path``; ``colours`` a colour per loss
    label; ``papers`` ``(url, citation)`` per loss label the registry knows."""

    table: Any
    runs: pd.DataFrame
    colours: dict[str, Any] = field(default_factory=dict)
    papers: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The benchmark's label (``classify/digits``)."""
        return str(self.table.label)

    @property
    def name(self) -> str:
        """The benchmark's label made safe for file names (``classify-digits``)."""
        return str(self.table.name)

    @property
    def losses(self) -> list[str]:
        """The loss labels in the table's order (best first)."""
        return [str(loss) for loss in self.table.losses()]

    def by_loss(self):
        """``(loss, runs)`` per loss, sorted by name."""
        return self.runs.groupby("loss", sort=True)

    @staticmethod
    def folder(run: Any) -> RunFolder:
        """The run folder of a row of :attr:`runs` (its record's folder)."""
        return RunFolder(Path(run["path"]).parent)
