"""The pieces the HTML report is made of: escaped text, numbers rounded for reading, cells
and tables in sideways-scrolling boxes, metric headers with their better direction, loss
names linked to their papers, and plots as inline PNG figures.

The report (:mod:`hem_bench.results.report`) and the tasks' report sections (each task's
``report_section`` hook) build their HTML from these, so that every string that comes from
records (loss, metric, task and data set names, paths, messages) is escaped with
:func:`html.escape` in one place.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hem_bench.results.formats import format_mean_std
from hem_bench.results.plotkit import Plot

#: decimals of the numbers shown (the CSV and JSON keep every digit)
DECIMALS = 3


#: cells that hold numbers (``0.91 ± 0.01``, ``-0.02``, ``2/6``, ``–``) are right-aligned
NUMERIC = re.compile(r"^(–|[+-]?\d[\d.]*(e[+-]?\d+)?( ± [\d.]+)?( \(n=\d+\))?|\d+/\d+)$")


def escape(value: Any) -> str:
    """``value`` as HTML text: ``&``, ``<``, ``>`` and quotes escaped; NaN shown as ``–``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return html.escape(str(value), quote=True)


def number(value: Any, decimals: int = DECIMALS) -> str:
    """A number rounded for reading (``decimals`` after the point; ``–`` for NaN)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(value):
        return "–"
    return f"{value:.{decimals}f}"


def mean_std(mean: float, std: float, n: int, seeds: int | None = None) -> str:
    """``mean ± std`` rounded for reading (see :func:`leaderboard.format_mean_std`)."""
    return format_mean_std(mean, std, n, seeds, fmt=number)


def arrow(higher: bool | None) -> str:
    """``↑`` (higher is better), ``↓`` (lower) or '' (no better direction)."""
    return "" if higher is None else ("↑" if higher else "↓")


def wrap_slashes(label: str) -> str:
    """``label`` escaped, broken into lines only after a ``/`` (never inside a name)."""
    parts = [f'<span class="nw">{escape(part)}</span>' for part in str(label).split("/")]
    return "/<wbr>".join(parts)


def metric_header(metric: str, higher: bool | None) -> str:
    """A metric's column title as HTML: its name and its better direction (``higher``:
    True, False, or None for a descriptive metric or one of unknown direction)."""
    mark = arrow(higher)
    title = {True: "higher is better", False: "lower is better", None: "descriptive"}[higher]
    return f'<span title="{title}">{escape(metric)}{" " + mark if mark else ""}</span>'


def paper_urls(losses: Iterable[str]) -> dict[str, tuple[str, str]]:
    """(url, citation) of the paper of each loss the registry knows; a loss variant
    ``name(param=value)`` links to the paper of ``name``. Losses the registry does not know
    (a plugin not installed here, a name from elsewhere) are left out."""
    try:
        from hem_bench.losses import loss_info
    except Exception:  # pragma: no cover - the registry needs torch; the report does not
        return {}
    out = {}
    for loss in losses:
        base = str(loss).split("(", 1)[0].strip()
        try:
            paper = loss_info(base).paper
        except Exception:
            continue
        if paper.url.startswith(("https://", "http://")):
            out[loss] = (paper.url, f"{paper.cite()}: {paper.title}")
    return out


def loss_html(loss: str, papers: dict[str, tuple[str, str]]) -> str:
    """A loss name, linked to its paper when known."""
    if loss in papers:
        url, cite = papers[loss]
        return f'<a href="{escape(url)}" title="{escape(cite)}">{escape(loss)}</a>'
    return escape(loss)


@dataclass
class Cell:
    """One table cell: its HTML (already escaped), CSS classes and inline style."""

    html: str
    css: str = ""
    style: str = ""
    title: str = ""

    def render(self, tag: str = "td") -> str:
        attributes = ""
        if self.css:
            attributes += f' class="{escape(self.css)}"'
        if self.style:
            attributes += f' style="{escape(self.style)}"'
        if self.title:
            attributes += f' title="{escape(self.title)}"'
        return f"<{tag}{attributes}>{self.html}</{tag}>"


@dataclass
class Spanning(Cell):
    """A cell spanning several columns."""

    span: int = 1

    def render(self, tag: str = "td") -> str:
        return super().render(tag).replace(f"<{tag}", f'<{tag} colspan="{self.span}"', 1)


def text_cell(value: Any, css: str = "") -> Cell:
    """A cell holding ``value`` as escaped text; numbers right-aligned."""
    text = escape(value)
    numeric = "num" if NUMERIC.match(html.unescape(text)) else ""
    return Cell(text, " ".join(c for c in (css, numeric) if c))


def table_html(
    header: Sequence[str | Cell],
    rows: Iterable[Sequence[Cell]],
    css: str = "fixed",
    header_rows: Sequence[Sequence[Cell]] = (),
    table_id: str = "",
) -> str:
    """A table in a sideways-scrolling box; ``header`` cells are HTML (escaped by the
    caller), ``header_rows`` extra header rows above it (grouped columns)."""
    heads = "".join((h if isinstance(h, Cell) else Cell(h)).render("th") for h in header)
    extra = "".join("<tr>" + "".join(c.render("th") for c in row) + "</tr>" for row in header_rows)
    body = "".join("<tr>" + "".join(c.render() for c in row) + "</tr>" for row in rows)
    identifier = f' id="{escape(table_id)}"' if table_id else ""
    classes = f' class="{escape(css)}"' if css else ""
    return (
        f'<div class="wrap"><table{identifier}{classes}><thead>{extra}<tr>{heads}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def html_table(frame: pd.DataFrame, cell_class=None, css: str = "fixed", table_id: str = "") -> str:
    """``frame`` as an HTML table, every header and cell escaped. ``cell_class(column,
    value)`` may name a CSS class for a cell."""
    rows = []
    for row in frame.itertuples(index=False):
        rows.append(
            [
                text_cell(value, (cell_class(column, value) if cell_class else None) or "")
                for column, value in zip(frame.columns, row)
            ]
        )
    return table_html([escape(c) for c in frame.columns], rows, css, table_id=table_id)


def figure_html(plot: Plot) -> str:
    """A plot as a ``<figure>`` with its PNG inline (base64 data URI)."""
    data = base64.b64encode(plot.png).decode("ascii")
    width = int.from_bytes(plot.png[16:20], "big") if plot.png[12:16] == b"IHDR" else 0
    css = ' class="wide"' if width > 800 else ""
    return (
        f'<figure{css}><img alt="{escape(plot.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(plot.title)}</figcaption></figure>"
    )


def figures_html(plots: Sequence[Plot]) -> str:
    """Plots side by side where the page is wide enough (they wrap onto new rows)."""
    if not plots:
        return ""
    return '<div class="figs">' + "".join(figure_html(p) for p in plots) + "</div>"


def interval_text(value: Any) -> str:
    """An uncertainty cell as text: a pair as ``[low, high]``, a number in 2 decimals."""
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 2:
        return f"[{number(value[0], 2)}, {number(value[1], 2)}]"
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return number(value, 2)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return str(value)


def p_value(value: Any) -> str:
    """A p-value in 3 significant digits; ``–`` where no test was made."""
    try:
        return "–" if pd.isna(value) else f"{float(value):.3g}"
    except (TypeError, ValueError):
        return str(value)
