"""The leaderboard's own plots, as PNG images: :func:`headline_bars` (per benchmark, each
loss's mean headline with the standard deviation over seeds as error bars) and
:func:`critical_difference_diagram` (the critical-difference diagram of Demsar 2006,
"Statistical comparisons of classifiers over multiple data sets", JMLR 7, Fig. 1/2, from
:func:`hem_bench.results.stats.critical_difference`: each loss at its mean rank over the
benchmarks every compared loss was run on, and a bar joining the losses whose mean ranks
differ by less than the Nemenyi critical difference). The diagram is drawn here with
matplotlib because no maintained library among the dependencies draws one
(scikit-posthocs and autorank do, but are not dependencies of hem-bench).

Every other plot belongs to a task (its ``plots`` hook: robust accuracy against the
budget, reliability diagrams, continual accuracy matrices, OOD ROC curves) and is drawn by
:func:`all_plots` through the task object. A plot that would say nothing is not drawn (a CD
diagram of fewer than two losses or benchmarks). Every function returns
:class:`~hem_bench.results.plotkit.Plot` objects holding PNG bytes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hem_bench.results.leaderboard import GroupTable
from hem_bench.results.plotkit import Plot, loss_colours, new_figure, png, text
from hem_bench.results.protocols import protocol_rows
from hem_bench.results.stats import critical_difference
from hem_bench.results.views import BenchmarkView


def headline_bars(tables: list[GroupTable], colours: dict | None = None) -> list[Plot]:
    """Per benchmark: a bar per loss at its mean headline, error bars one standard
    deviation over seeds (none for a single seed)."""
    plots = []
    colours = colours or loss_colours([loss for t in tables for loss in t.losses()])
    for table in tables:
        losses = table.losses()
        means = table.stats[f"{table.headline} mean"].to_numpy(float)
        stds = table.stats[f"{table.headline} std"].to_numpy(float)
        figure = new_figure(max(5.0, 0.8 * len(losses) + 2.0), 3.8)
        axes = figure.add_subplot()
        positions = np.arange(len(losses))
        axes.bar(
            positions,
            np.nan_to_num(means),
            yerr=stds,
            capsize=4,
            color=[colours[loss] for loss in losses],
            edgecolor="black",
            linewidth=0.6,
        )
        axes.set_xticks(positions, [text(loss) for loss in losses], rotation=30, ha="right")
        arrow = "higher is better" if table.higher_is_better else "lower is better"
        axes.set_ylabel(f"{text(table.headline)} ({arrow})")
        axes.set_title(
            f"{text(table.label)}: {text(table.headline)}\n(mean ± std over seeds)",
            fontsize="medium",
        )
        axes.grid(axis="y", alpha=0.3)
        plots.append(
            Plot(
                f"headline-{table.name}",
                f"{table.label}: {table.headline}",
                table.label,
                "headline",
                png(figure),
            )
        )
    return plots


def critical_difference_diagram(tables: list[GroupTable]) -> list[Plot]:
    """The critical-difference diagram (Demsar 2006) of :func:`critical_difference`: an
    axis of mean ranks (best on the left), each loss joined to its rank, bars joining the
    losses that are not significantly different (Nemenyi, alpha 0.05)."""
    result = critical_difference(tables)
    if result is None:
        return []
    k = len(result.losses)
    half = math.ceil(k / 2)
    height = 1.1 + 0.3 * max(half, k - half) + 0.15 * len(result.cliques)
    figure = new_figure(8.0, height)
    axes = figure.add_subplot()
    axes.set_axis_off()
    top = 0.0
    axes.set_xlim(0.2, k + 0.8)
    # the lowest label: below the axis, the clique bars, then one row per label
    lowest = -0.15 - 0.2 * len(result.cliques) - 0.15 - 0.45 * (max(half, k - half) - 1)
    axes.set_ylim(lowest - 0.25, 1.05)
    axes.hlines(top, 1, k, color="black", linewidth=1)
    for tick in range(1, k + 1):
        axes.vlines(tick, top, top + 0.12, color="black", linewidth=1)
        axes.text(tick, top + 0.18, str(tick), ha="center", va="bottom", fontsize="small")
    # the CD as a scale bar above the axis
    axes.hlines(0.75, 1, 1 + result.cd, color="black", linewidth=1.5)
    axes.vlines([1, 1 + result.cd], 0.7, 0.8, color="black", linewidth=1.5)
    axes.text(1 + result.cd / 2, 0.85, f"CD = {result.cd:.2f}", ha="center", fontsize="small")
    bar_base = -0.15
    for index, (i, j) in enumerate(result.cliques):
        y = bar_base - 0.2 * index
        axes.hlines(
            y, result.mean_ranks[i] - 0.05, result.mean_ranks[j] + 0.05, color="black", lw=3
        )
    label_top = bar_base - 0.2 * len(result.cliques) - 0.15
    for index, (loss, rank) in enumerate(zip(result.losses, result.mean_ranks)):
        left = index < half
        row = index if left else k - 1 - index
        y = label_top - 0.45 * row
        x_end = 0.5 if left else k + 0.5
        axes.plot([rank, rank, x_end], [top, y, y], color="black", linewidth=0.8)
        axes.text(
            x_end - 0.05 if left else x_end + 0.05,
            y,
            f"{text(loss)} ({rank:.2f})" if left else f"({rank:.2f}) {text(loss)}",
            ha="right" if left else "left",
            va="center",
            fontsize="small",
        )
    axes.set_xlim(-1.8, k + 2.8)
    title = f"mean rank over {len(result.benchmarks)} benchmarks (1 = best)"
    if result.left_out:
        title = f"mean rank among the {k} losses run on all {len(result.benchmarks)} benchmarks"
    axes.set_title(title, fontsize="medium")
    return [
        Plot(
            "critical-difference",
            "Critical-difference diagram (Nemenyi test, α = "
            f"{result.alpha}): losses joined by a bar are not significantly different",
            "",
            "critical_difference",
            png(figure),
        )
    ]


def benchmark_views(
    frame: pd.DataFrame,
    tables: list[GroupTable],
    colours: dict | None = None,
    papers: dict[str, tuple[str, str]] | None = None,
) -> list[BenchmarkView]:
    """One :class:`~hem_bench.results.views.BenchmarkView` per table: its protocol's runs
    with each run's loss variant as its loss label."""
    if "variant" in frame:
        frame = frame.assign(loss=frame["variant"])
    colours = colours or loss_colours(list(frame["loss"]))
    return [
        BenchmarkView(table, protocol_rows(frame, table.protocol), colours, papers or {})
        for table in tables
    ]


def task_plots(view: BenchmarkView) -> list[Plot]:
    """The plots the benchmark's task draws (its ``plots`` hook); none for a task this
    installation does not have."""
    from hem_bench.tasks import find_task

    task = find_task(view.table.task)
    if task is None or task.plots is None:
        return []
    return list(task.plots(view))


def all_plots(frame: pd.DataFrame, tables: list[GroupTable]) -> list[Plot]:
    """Every plot the runs allow, with one colour per loss throughout: the critical-difference
    diagram, each benchmark's headline bars, then each task's own plots. Runs are drawn by
    their loss variant (``ce(head=cosine)``), so runs of different protocols are never drawn
    as one loss."""
    views = benchmark_views(frame, tables)
    colours = views[0].colours if views else None
    plots = [*critical_difference_diagram(tables), *headline_bars(tables, colours)]
    for view in views:
        plots += task_plots(view)
    return plots
