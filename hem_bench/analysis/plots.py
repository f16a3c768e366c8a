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
