"""Plots of a results store, as PNG images (matplotlib, drawn off-screen with Agg).

- :func:`headline_bars`: per benchmark, each loss's mean headline with the standard
  deviation over seeds as error bars;
- :func:`robust_accuracy_curves`: robust accuracy against the attack budget epsilon, one
  line per loss, from metrics ``robust_acc/<attack>/<eps>``;
- :func:`reliability_diagrams`: accuracy against confidence in 15 equal-width bins, from
  metrics ``calibration/<k>/conf``, ``.../acc``, ``.../frac`` (Guo et al. 2017, "On
  calibration of modern neural networks", ICML; a missing bin is empty). Seeds are pooled:
  ``acc_k = sum_s frac_sk acc_sk / sum_s frac_sk`` (likewise the confidence), which is the
  accuracy of the bin over all seeds' test sets of equal size;
- :func:`accuracy_matrices`: the continual-learning accuracy matrix ``R[t, i]`` (accuracy
  on experience i after training experience t; Lopez-Paz & Ranzato 2017, "Gradient episodic
  memory for continual learning", NeurIPS) from metrics ``acc_matrix/<t>/<i>``, mean over
  seeds, one heatmap per loss;
- :func:`ood_roc_curves`: ROC curves (``sklearn.metrics.roc_curve``) of the ``msp``
  detector on the ``unknown`` set, from ``scores/ood_scores.npz`` in the run folder (keys
  ``<detector>__test`` for in-distribution and ``<detector>__<set>`` for OOD outlier scores;
  OOD is the positive class), the first seed of each loss;
- :func:`critical_difference_diagram`: the critical-difference diagram of Demsar (2006,
  "Statistical comparisons of classifiers over multiple data sets", JMLR 7, Fig. 1/2) from
  :func:`critical_difference`: each loss at its mean rank over the benchmarks that every
  compared loss was run on, and a bar joining the losses whose mean ranks differ by less
  than the Nemenyi critical difference ``CD = q_alpha * sqrt(k (k + 1) / (6 N))`` (k
  losses, N benchmarks; ``q_alpha`` is the studentized range quantile for k groups and
  infinite degrees of freedom divided by sqrt(2), ``scipy.stats.studentized_range``), after
  a Friedman test (``scipy.stats.friedmanchisquare``) of the same ranks. The diagram is
  drawn here with matplotlib because no maintained library among the dependencies draws
  one (scikit-posthocs and autorank do, but are not dependencies of hem-bench).

A plot that would say nothing is not drawn: a robust-accuracy curve with a single epsilon
(one point per loss; the benchmark table already holds that number), or a CD diagram of
fewer than two losses or benchmarks.

Every function returns :class:`Plot` objects holding PNG bytes; :meth:`Plot.save` writes
one. matplotlib is imported only when a plot is drawn, through its object-oriented API
(``Figure`` on an Agg canvas) so that no global pyplot state or backend is touched: the
plots draw the same in a script, a notebook or a headless server.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hem_bench.results.leaderboard import (
    ALPHA,
    GroupTable,
    benchmark_names,
    benchmarks,
    rank_values,
    slug,
)

CALIBRATION_BINS = 15
ROBUST_KEY = re.compile(r"^robust_acc/([^/]+)/([^/]+)$")
CALIBRATION_KEY = re.compile(r"^calibration/(\d+)/(conf|acc|frac)$")
MATRIX_KEY = re.compile(r"^acc_matrix/(\d+)/(\d+)$")
SCORES_FILE = Path("scores") / "ood_scores.npz"
ROC_DETECTOR = "msp"
ROC_SET = "unknown"
DPI = 100


@dataclass
class Plot:
    """One figure: ``name`` (the file stem), ``title``, the benchmark it belongs to
    (``benchmark``, a label of :func:`benchmark_names`; '' for none), and the PNG bytes."""

    name: str
    title: str
    benchmark: str
    kind: str
    png: bytes

    def save(self, folder: str | Path) -> Path:
        """Write the PNG as ``<folder>/<name>.png``; returns its path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.png"
        path.write_bytes(self.png)
        return path


def _figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def text(value: str) -> str:
    """A string from a record, safe as matplotlib text: ``$`` would start mathtext, and a
    legend skips labels that start with ``_``."""
    value = str(value).replace("$", r"\$")
    return " " + value if value.startswith("_") else value


def loss_colours(losses: list[str]) -> dict[str, tuple]:
    """A fixed colour per loss (sorted names, matplotlib's tab10 then tab20 cycle), so a
    loss has the same colour in every plot."""
    from matplotlib import colormaps

    names = sorted(set(losses))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _grid(count: int, columns: int = 4) -> tuple[int, int]:
    """Rows and columns of a subplot grid for ``count`` panels, at most ``columns`` wide."""
    columns = min(count, columns)
    return math.ceil(count / columns), columns


def _benchmark_rows(frame: pd.DataFrame):
    """(label, name, rows) for every benchmark of the frame."""
    keys = benchmarks(frame)
    labels = benchmark_names(keys)
    for task, dataset, model in keys:
        rows = frame[
            (frame["task"] == task) & (frame["dataset"] == dataset) & (frame["model"] == model)
        ]
        label = labels[(task, dataset, model)]
        yield label, slug(label.replace("/", "-")), rows


def headline_bars(tables: list[GroupTable], colours: dict | None = None) -> list[Plot]:
    """Per benchmark: a bar per loss at its mean headline, error bars one standard
    deviation over seeds (none for a single seed)."""
    plots = []
    colours = colours or loss_colours([loss for t in tables for loss in t.losses()])
    for table in tables:
        losses = table.losses()
        means = table.stats[f"{table.headline} mean"].to_numpy(float)
        stds = table.stats[f"{table.headline} std"].to_numpy(float)
        figure = _figure(max(5.0, 0.8 * len(losses) + 2.0), 3.8)
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
                _png(figure),
            )
        )
    return plots


def robust_accuracy_curves(frame: pd.DataFrame, colours: dict | None = None) -> list[Plot]:
    """Per benchmark and attack with ``robust_acc/<attack>/<eps>`` metrics: robust accuracy
    (mean ± std over seeds) against epsilon, one line per loss."""
    plots = []
    colours = colours or loss_colours(list(frame["loss"]))
    for label, name, rows in _benchmark_rows(frame):
        curves: dict[str, list[tuple[float, str]]] = {}
        for column in rows.columns:
            match = ROBUST_KEY.match(column)
            if not match or rows[column].isna().all():
                continue
            try:
                eps = float(match.group(2))
            except ValueError:
                continue
            curves.setdefault(match.group(1), []).append((eps, column))
        for attack, points in sorted(curves.items()):
            points.sort()
            if len({eps for eps, _ in points}) < 2:
                continue  # one epsilon: a curve of one point says nothing the table does not
            figure = _figure(6.0, 4.0)
            axes = figure.add_subplot()
            for loss, runs in rows.groupby("loss", sort=True):
                xs, means, stds = [], [], []
                for eps, column in points:
                    values = runs[column].dropna().to_numpy(float)
                    if len(values):
                        xs.append(eps)
                        means.append(values.mean())
                        stds.append(values.std(ddof=1) if len(values) > 1 else 0.0)
                if xs:
                    axes.errorbar(
                        xs,
                        means,
                        yerr=stds,
                        marker="o",
                        capsize=3,
                        label=text(loss),
                        color=colours.get(loss),
                    )
            axes.set_xlabel("ε (attack budget)")
            axes.set_ylabel("robust accuracy")
            axes.set_ylim(-0.02, 1.02)
            axes.set_title(f"{text(label)}: {text(attack)}")
            axes.grid(alpha=0.3)
            axes.legend(fontsize="small")
            plots.append(
                Plot(
                    f"robust-{name}-{slug(attack)}",
                    f"{label}: robust accuracy against ε ({attack})",
                    label,
                    "robust",
                    _png(figure),
                )
            )
    return plots


def pooled_calibration(runs: pd.DataFrame) -> pd.DataFrame:
    """Bins 0..14 of the reliability diagram pooled over seeds: columns ``conf``, ``acc``
    (frac-weighted means) and ``frac`` (mean over seeds); NaN for an empty bin."""
    rows = []
    for k in range(CALIBRATION_BINS):
        keys = [f"calibration/{k}/{part}" for part in ("conf", "acc", "frac")]
        if not all(key in runs.columns for key in keys):
            rows.append({"conf": math.nan, "acc": math.nan, "frac": math.nan})
            continue
        part = runs[keys].dropna()
        weights = part[keys[2]].to_numpy(float)
        if not len(part) or weights.sum() <= 0:
            rows.append({"conf": math.nan, "acc": math.nan, "frac": math.nan})
            continue
        rows.append(
            {
                "conf": float(np.average(part[keys[0]], weights=weights)),
                "acc": float(np.average(part[keys[1]], weights=weights)),
                "frac": float(weights.sum() / len(runs)),
            }
        )
    return pd.DataFrame(rows)


def reliability_diagrams(frame: pd.DataFrame, colours: dict | None = None) -> list[Plot]:
    """Per benchmark with ``calibration/<k>/...`` metrics: a reliability diagram per loss
    (bars: accuracy of each confidence bin; outline: its mean confidence; the diagonal is
    perfect calibration)."""
    plots = []
    colours = colours or loss_colours(list(frame["loss"]))
    width = 1.0 / CALIBRATION_BINS
    edges = np.arange(CALIBRATION_BINS) * width
    for label, name, rows in _benchmark_rows(frame):
        if not any(CALIBRATION_KEY.match(c) and rows[c].notna().any() for c in rows.columns):
            continue
        groups = list(rows.groupby("loss", sort=True))
        n_rows, n_columns = _grid(len(groups))
        figure = _figure(3.2 * n_columns, 3.2 * n_rows + 0.4)
        for index, (loss, runs) in enumerate(groups, start=1):
            axes = figure.add_subplot(n_rows, n_columns, index)
            bins = pooled_calibration(runs)
            present = bins["acc"].notna().to_numpy()
            axes.bar(
                edges[present],
                bins["acc"].to_numpy(float)[present],
                width=width,
                align="edge",
                color=colours.get(loss),
                edgecolor="black",
                linewidth=0.5,
                label="accuracy",
            )
            axes.bar(
                edges[present],
                bins["conf"].to_numpy(float)[present],
                width=width,
                align="edge",
                fill=False,
                edgecolor="red",
                linewidth=0.8,
                linestyle="--",
                label="confidence",
            )
            axes.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
            axes.set_xlim(0, 1)
            axes.set_ylim(0, 1)
            axes.set_xlabel("confidence")
            axes.set_ylabel("accuracy")
            title = text(loss)
            if "ece" in runs.columns and runs["ece"].notna().any():
                title += f" (ECE {runs['ece'].mean():.3f})"
            axes.set_title(title, fontsize="medium")
            if index == 1:
                axes.legend(fontsize="x-small", loc="upper left")
        figure.suptitle(f"{text(label)}: reliability diagrams")
        plots.append(
            Plot(
                f"reliability-{name}",
                f"{label}: reliability diagrams",
                label,
                "reliability",
                _png(figure),
            )
        )
    return plots


def accuracy_matrix(runs: pd.DataFrame) -> np.ndarray:
    """The mean over seeds of ``acc_matrix/<t>/<i>`` as a T x I array (NaN where absent)."""
    cells = {}
    for column in runs.columns:
        match = MATRIX_KEY.match(column)
        if match and runs[column].notna().any():
            cells[(int(match.group(1)), int(match.group(2)))] = float(runs[column].mean())
    if not cells:
        return np.zeros((0, 0))
    matrix = np.full(
        (max(t for t, _ in cells) + 1, max(i for _, i in cells) + 1), np.nan, dtype=float
    )
    for (t, i), value in cells.items():
        matrix[t, i] = value
    return matrix


def accuracy_matrices(frame: pd.DataFrame) -> list[Plot]:
    """Per benchmark with ``acc_matrix/<t>/<i>`` metrics: a heatmap per loss of the
    accuracy on experience i (columns) after training experience t (rows)."""
    plots = []
    for label, name, rows in _benchmark_rows(frame):
        groups = [(loss, accuracy_matrix(runs)) for loss, runs in rows.groupby("loss", sort=True)]
        groups = [(loss, m) for loss, m in groups if m.size]
        if not groups:
            continue
        n_rows, n_columns = _grid(len(groups), 3)
        figure = _figure(3.6 * n_columns + 0.8, 3.4 * n_rows + 0.4)
        image = None
        for index, (loss, matrix) in enumerate(groups, start=1):
            axes = figure.add_subplot(n_rows, n_columns, index)
            image = axes.imshow(
                np.ma.masked_invalid(matrix), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto"
            )
            for (t, i), value in np.ndenumerate(matrix):
                if not math.isnan(value):
                    axes.text(
                        i,
                        t,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize="small",
                        color="white" if value < 0.6 else "black",
                    )
            axes.set_xticks(range(matrix.shape[1]))
            axes.set_yticks(range(matrix.shape[0]))
            axes.set_xlabel("evaluated on experience i")
            axes.set_ylabel("after training experience t")
            axes.set_title(text(loss), fontsize="medium")
        figure.colorbar(image, ax=figure.axes, shrink=0.8, label="accuracy")
        figure.suptitle(f"{text(label)}: accuracy matrix")
        plots.append(
            Plot(
                f"acc-matrix-{name}",
                f"{label}: continual accuracy matrix",
                label,
                "acc_matrix",
                _png(figure),
            )
        )
    return plots


def read_scores(run_dir: Path, detector: str = ROC_DETECTOR, ood_set: str = ROC_SET):
    """In-distribution and OOD outlier scores of ``detector`` from a run folder's
    ``scores/ood_scores.npz``; ``None`` when the file or its keys are missing or unreadable."""
    path = Path(run_dir) / SCORES_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            key_in, key_out = f"{detector}__test", f"{detector}__{ood_set}"
            if key_in not in data.files or key_out not in data.files:
                return None
            return np.asarray(data[key_in], float), np.asarray(data[key_out], float)
    except (OSError, ValueError):
        return None


def ood_roc_curves(frame: pd.DataFrame, colours: dict | None = None) -> list[Plot]:
    """Per benchmark whose runs stored OOD scores: the ROC curve of detector ``msp`` on
    the ``unknown`` set, one line per loss (its first seed with scores), OOD = positive."""
    from sklearn.metrics import auc, roc_curve

    plots = []
    colours = colours or loss_colours(list(frame["loss"]))
    for label, name, rows in _benchmark_rows(frame):
        curves = []
        for loss, runs in rows.groupby("loss", sort=True):
            for _, run in runs.sort_values("seed").iterrows():
                scores = read_scores(Path(run["path"]).parent)
                if scores is not None:
                    curves.append((loss, int(run["seed"]), scores))
                    break
        if not curves:
            continue
        figure = _figure(5.5, 5.0)
        axes = figure.add_subplot()
        for loss, seed, (inside, outside) in curves:
            labels = np.concatenate([np.zeros(len(inside)), np.ones(len(outside))])
            fpr, tpr, _ = roc_curve(labels, np.concatenate([inside, outside]))
            axes.plot(
                fpr,
                tpr,
                label=f"{text(loss)} (seed {seed}, AUROC {auc(fpr, tpr):.3f})",
                color=colours.get(loss),
            )
        axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
        axes.set_xlabel("false positive rate (in-distribution flagged)")
        axes.set_ylabel("true positive rate (OOD detected)")
        axes.set_title(f"{text(label)}: ROC, {ROC_DETECTOR} on {ROC_SET}")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.01)
        axes.legend(fontsize="small", loc="lower right")
        axes.grid(alpha=0.3)
        plots.append(
            Plot(
                f"roc-{name}",
                f"{label}: ROC of {ROC_DETECTOR} on {ROC_SET}",
                label,
                "roc",
                _png(figure),
            )
        )
    return plots


@dataclass
class CriticalDifference:
    """The Nemenyi post-hoc comparison of mean ranks (Demsar 2006, section 3.2.2).

    ``losses`` and ``mean_ranks`` are sorted best first; the ranks are recomputed among the
    compared losses only (those run on every one of the ``benchmarks``); ``left_out`` are
    the losses missing on some benchmark. ``cliques`` are index pairs ``(i, j)`` (inclusive)
    of the maximal runs of losses whose mean ranks differ by less than ``cd``.
    """

    losses: list[str]
    mean_ranks: list[float]
    benchmarks: list[str]
    cd: float
    q_alpha: float
    friedman_p: float
    alpha: float
    left_out: list[str]
    cliques: list[tuple[int, int]]


def nemenyi_q(k: int, alpha: float = ALPHA) -> float:
    """The Nemenyi test's critical value ``q_alpha`` for ``k`` groups: the studentized range
    quantile (infinite degrees of freedom) over sqrt(2); 2.569 for k = 4 at alpha 0.05."""
    from scipy.stats import studentized_range

    return float(studentized_range.ppf(1.0 - alpha, k, np.inf) / math.sqrt(2.0))


def critical_difference(
    tables: list[GroupTable], alpha: float = ALPHA
) -> CriticalDifference | None:
    """The critical-difference comparison of the losses run on every benchmark; None when
    fewer than two losses or two benchmarks remain. Only the main protocol of each task and
    data set counts, as in the overall ranking (another protocol, e.g. a learning-rate arm,
    names its losses by its settings)."""
    from scipy.stats import friedmanchisquare

    tables = [t for t in tables if getattr(t, "main", True)]
    if len(tables) < 2:
        return None
    present = [set(t.stats.index[t.stats[f"{t.headline} mean"].notna()]) for t in tables]
    every = set.intersection(*present)
    losses = sorted(every)
    if len(losses) < 2:
        return None
    ranks = pd.DataFrame(
        {
            t.label: rank_values(t.stats.loc[losses, f"{t.headline} mean"], t.higher_is_better)
            for t in tables
        }
    )
    mean = ranks.mean(axis=1).sort_values(kind="stable")
    k, n = len(losses), len(tables)
    q = nemenyi_q(k, alpha)
    cd = q * math.sqrt(k * (k + 1) / (6.0 * n))
    p = math.nan
    if k >= 3:
        with np.errstate(all="ignore"):
            p = float(friedmanchisquare(*ranks.loc[mean.index].to_numpy(float)).pvalue)
    values = mean.to_numpy(float)
    cliques: list[tuple[int, int]] = []
    for i in range(k):
        j = i
        while j + 1 < k and values[j + 1] - values[i] < cd:
            j += 1
        if j > i and (not cliques or j > cliques[-1][1]):
            cliques.append((i, j))
    all_losses = set().union(*present)
    return CriticalDifference(
        losses=list(mean.index),
        mean_ranks=[float(v) for v in values],
        benchmarks=[t.label for t in tables],
        cd=cd,
        q_alpha=q,
        friedman_p=p,
        alpha=alpha,
        left_out=sorted(all_losses - every),
        cliques=cliques,
    )


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
    figure = _figure(8.0, height)
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
            _png(figure),
        )
    ]


def all_plots(frame: pd.DataFrame, tables: list[GroupTable]) -> list[Plot]:
    """Every plot the runs allow, with one colour per loss throughout. Runs are drawn by
    their loss variant (``ce(head=cosine)``) where the frame has one, so runs of different
    protocols are never drawn as one loss."""
    if "variant" in frame:
        frame = frame.assign(loss=frame["variant"])
    colours = loss_colours(list(frame["loss"]))
    return [
        *critical_difference_diagram(tables),
        *headline_bars(tables, colours),
        *robust_accuracy_curves(frame, colours),
        *reliability_diagrams(frame, colours),
        *accuracy_matrices(frame),
        *ood_roc_curves(frame, colours),
    ]
