"""Learning-rate sensitivity: protocols of one (task, data set) that differ only in the
learning rate, side by side, so that a reader sees whether a loss's standing depends on the
recipe's learning rate (a recipe is chosen for cross-entropy; a loss whose gradient has
another scale may prefer another rate).

Each :class:`Sensitivity` table has one row per loss and, per learning rate, the mean, std
and n of the headline over seeds and the loss's rank among the losses at that rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from hem_bench.results.formats import format_mean_std
from hem_bench.results.protocols import lr_only_groups, with_protocols
from hem_bench.results.stats import rank_values

if TYPE_CHECKING:  # the leaderboard builds these tables from its own
    from hem_bench.results.leaderboard import GroupTable


@dataclass
class Sensitivity:
    """The learning-rate sensitivity of one (task, dataset): protocols that differ only
    in the learning rate, side by side. ``table`` has one row per loss (``loss``) and,
    per learning rate (``lrs``, the recipe's first where it is among them), the columns
    ``lr=<lr> mean``, ``std``, ``n`` and ``rank`` of the headline."""

    task: str
    dataset: str
    headline: str
    higher_is_better: bool
    lrs: list[float]
    protocols: list[str]
    table: pd.DataFrame

    def display(self) -> pd.DataFrame:
        """The table as text: ``mean ± std (rank r)`` per learning rate."""
        out = pd.DataFrame({"loss": self.table["loss"]})
        arrow = "↑" if self.higher_is_better else "↓"
        for lr in self.lrs:
            key = f"lr={lr:g}"
            out[f"{self.headline} {arrow} at {key}"] = [
                format_mean_std(m, sd, int(n)) + ("" if pd.isna(r) else f" (rank {r:g})")
                for m, sd, n, r in zip(
                    self.table[f"{key} mean"],
                    self.table[f"{key} std"],
                    self.table[f"{key} n"],
                    self.table[f"{key} rank"],
                )
            ]
        return out


def lr_sensitivity(tables: list[GroupTable], frame: pd.DataFrame) -> list[Sensitivity]:
    """A :class:`Sensitivity` for each set of protocols of one (task, dataset) that differ
    only in the learning rate (:func:`hem_bench.results.protocols.lr_only_groups`)."""
    frame = with_protocols(frame)

    by_protocol = {t.protocol: t for t in tables}
    out = []
    for group in lr_only_groups(frame):
        members = [by_protocol[p] for p in group if p in by_protocol]
        if len(members) < 2:
            continue
        members.sort(key=lambda t: (not t.main, -float(t.settings.get("lr", 0.0))))
        first = members[0]
        losses = sorted({_plain(t, loss) for t in members for loss in t.losses()})
        table = pd.DataFrame({"loss": losses})
        lrs = []
        for t in members:
            lr = float(t.settings["lr"])
            lrs.append(lr)
            key = f"lr={lr:g}"
            stats = t.stats.rename(index=lambda v, t=t: _plain(t, v)).reindex(losses)
            h = t.headline
            table[f"{key} mean"] = stats[f"{h} mean"].to_numpy(float)
            table[f"{key} std"] = stats[f"{h} std"].to_numpy(float)
            table[f"{key} n"] = stats[f"{h} n"].fillna(0).astype(int).to_numpy()
            means = pd.Series(stats[f"{h} mean"].to_numpy(float), index=losses)
            table[f"{key} rank"] = rank_values(means, t.higher_is_better).to_numpy()
        out.append(
            Sensitivity(
                task=first.task,
                dataset=first.dataset,
                headline=first.headline,
                higher_is_better=first.higher_is_better,
                lrs=lrs,
                protocols=[t.protocol for t in members],
                table=table,
            )
        )
    return out


def _plain(table: GroupTable, variant: str) -> str:
    """A variant's label without the settings of its protocol: ``ce(lr=0.01)`` -> ``ce``
    (the loss label shared across the protocols of a sensitivity table)."""
    if table.main or "(" not in table.protocol:
        return variant
    detail = table.protocol[table.protocol.index("(") + 1 : -1]
    if variant.endswith(f"({detail})"):
        return variant[: -len(detail) - 2]
    if variant.endswith(f", {detail})"):
        return variant[: -len(detail) - 3] + ")"
    return variant
