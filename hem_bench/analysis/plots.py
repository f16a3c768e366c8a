"""Figures of ``hem-bench analyze``: CKA heatmaps and the separation-transfer scatter.

matplotlib is imported when a figure is drawn, through its object-oriented API with the
Agg canvas (no pyplot, no global backend switch). Files are written to a temporary name
and renamed into place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hem_bench.atomic import atomic_path


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png")


def _draw(ax, matrix, rows, columns, vmin, vmax, annotate: bool):
    image = ax.imshow(matrix, vmin=vmin, vmax=vmax, cmap="magma", aspect="auto")
    ax.set_xticks(range(len(columns)), labels=columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), labels=rows, fontsize=7)
    if annotate and matrix.size <= 225:
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                value = matrix[i, j]
                if math.isfinite(value):
                    colour = "black" if value > (vmin + vmax) / 2 else "white"
                    ax.text(
                        j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color=colour
                    )
    return image


def heatmap(
    matrix: np.ndarray,
    rows: Sequence[str],
    columns: Sequence[str],
    title: str,
    path: Path,
    xlabel: str = "",
    ylabel: str = "",
    vmin: float = 0.0,
    vmax: float = 1.0,
) -> None:
    """One annotated heatmap (CKA in [0, 1] by default) written to ``path``."""
    matrix = np.asarray(matrix, dtype=float)
    figure = _figure(2.5 + 0.45 * len(columns), 2.0 + 0.35 * len(rows))
    ax = figure.add_subplot()
    image = _draw(ax, matrix, rows, columns, vmin, vmax, annotate=True)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    figure.colorbar(image, ax=ax, fraction=0.05)
    _save(figure, path)


def heatmap_grid(
    matrices: dict[str, np.ndarray], labels: Sequence[str], title: str, path: Path
) -> None:
    """One small labels x labels heatmap per entry of ``matrices`` (a layer each)."""
    count = len(matrices)
    columns = min(count, 4)
    rows = math.ceil(count / columns)
    size = 1.2 + 0.35 * len(labels)
    figure = _figure(columns * size + 1.0, rows * size + 0.6)
    image = None
    for index, (name, matrix) in enumerate(matrices.items()):
        ax = figure.add_subplot(rows, columns, index + 1)
        image = _draw(ax, np.asarray(matrix, dtype=float), labels, labels, 0.0, 1.0, True)
        ax.set_title(name, fontsize=8)
    figure.suptitle(title, fontsize=9)
    if image is not None:
        figure.colorbar(image, ax=figure.axes, fraction=0.02)
    _save(figure, path)


def scatter(
    x: Sequence[float],
    y: Sequence[float],
    labels: Sequence[str],
    title: str,
    xlabel: str,
    ylabel: str,
    path: Path,
) -> None:
    """A labelled scatter plot (one point per loss)."""
    figure = _figure(4.5, 3.6)
    ax = figure.add_subplot()
    ax.scatter(x, y, color="tab:blue")
    for xi, yi, label in zip(x, y, labels):
        ax.annotate(label, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.grid(alpha=0.3)
    _save(figure, path)


# -- the figures of one group of runs ---------------------------------------------------


def _layer_label(name: str, kinds: dict[str, str]) -> str:
    kind = kinds.get(name)
    short = name.removeprefix("backbone.")
    return f"{short} ({kind})" if kind else short


def plot_group(name, runs, layers, kinds, cross_matrices, folder: Path) -> list[str]:
    """Draw the group's figures into ``folder``; returns their file names."""
    written: list[str] = []

    def target(file_name: str) -> Path:
        written.append(file_name)
        return folder / file_name

    ticks = [_layer_label(layer, kinds) for layer in layers]
    labels = [run.label for run in runs]
    for run in runs:
        matrix = np.array([[run.results["cka_within"][a][b] for b in layers] for a in layers])
        heatmap(
            matrix,
            ticks,
            ticks,
            f"CKA between layers — {run.label}\n{name}",
            target(f"cka_within_{_file_part(run.label)}.png"),
            xlabel="layer",
            ylabel="layer",
        )
    if len(runs) > 1:
        per_layer = {}
        for layer, tick in zip(layers, ticks):
            matrix = np.ones((len(runs), len(runs)))
            for i, a in enumerate(labels):
                for j, b in enumerate(labels):
                    key = (a, b) if (a, b) in cross_matrices else (b, a)
                    k = layers.index(layer)
                    matrix[i, j] = cross_matrices[key][k, k]
            per_layer[tick] = matrix
        heatmap_grid(
            per_layer,
            labels,
            f"CKA between losses, layer by layer — {name}",
            target("cka_between_losses.png"),
        )
        for (a, b), matrix in cross_matrices.items():
            if a == b:
                continue
            heatmap(
                matrix,
                ticks,
                ticks,
                f"CKA: {a} (rows) vs {b} (columns)\n{name}",
                target(f"cka_{_file_part(a)}_vs_{_file_part(b)}.png"),
                xlabel=f"layer of {b}",
                ylabel=f"layer of {a}",
            )
    points = [
        (run.results["class_separation"], run.results["transfer_acc"], run.label)
        for run in runs
        if run.results["transfer_acc"] is not None
    ]
    if points:
        scatter(
            [p[0] for p in points],
            [p[1] for p in points],
            [p[2] for p in points],
            f"Class separation vs transfer — {name}",
            "class separation R² (test, penultimate)",
            "linear-probe accuracy on held-out classes",
            target("separation_vs_transfer.png"),
        )
    return written


def _file_part(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
