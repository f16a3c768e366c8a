"""What every plot of the suite is drawn with: the :class:`Plot` it returns (PNG bytes), a
matplotlib figure on the Agg canvas (no pyplot: nothing global is touched, so the plots draw
the same in a script, a notebook or a headless server), a colour per loss, and record text
made safe for matplotlib. The leaderboard's own plots (:mod:`hem_bench.results.plots`) and
the tasks' plots (each task's ``plots`` hook) use them; matplotlib is imported only when a
figure is made.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

DPI = 100


@dataclass
class Plot:
    """One figure: ``name`` (the file stem), ``title``, the benchmark it belongs to
    (``benchmark``, a benchmark's label; '' for none), and the PNG bytes."""

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


def new_figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png(figure) -> bytes:
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


def grid(count: int, columns: int = 4) -> tuple[int, int]:
    """Rows and columns of a subplot grid for ``count`` panels, at most ``columns`` wide."""
    columns = min(count, columns)
    return math.ceil(count / columns), columns
