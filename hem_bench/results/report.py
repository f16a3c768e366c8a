"""A single self-contained HTML report of a leaderboard: every table and every plot.

The page has no external resources: the style sheet is inline and each plot is a PNG
embedded as a ``data:image/png;base64,...`` URI, so the file can be mailed, archived or
opened offline. Every string that comes from records (loss, metric, task and data set
names, paths, error messages) is escaped with :func:`html.escape`, so a record cannot
inject markup or scripts into the page.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from hem_bench.results.leaderboard import (
    ALPHA,
    ANALYSIS_NOTE,
    WILCOXON_MIN_PAIRS,
    Leaderboard,
)
from hem_bench.results.plots import Plot
from hem_bench.results.store import SKIP_REASONS, Results

STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #1d1d1f; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f2f5; } td.num { text-align: right; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
.note { color: #555; font-size: 0.92em; } .better { color: #0a7d2c; } .worse { color: #b3261e; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; } code { background: #f3f3f3; padding: 0 0.2em; }
details { margin: 0.5em 0; } .scroll { overflow-x: auto; }
"""


#: cells that hold numbers (``0.91 ± 0.01``, ``-0.02``, ``2/6``, ``–``) are right-aligned
NUMERIC = re.compile(r"^(–|[+-]?\d[\d.]*(e[+-]?\d+)?( ± [\d.]+)?( \(n=\d+\))?|\d+/\d+)$")


def escape(value: Any) -> str:
    """``value`` as HTML text: ``&``, ``<``, ``>`` and quotes escaped; NaN shown as ``–``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return html.escape(str(value), quote=True)


def html_table(frame: pd.DataFrame, cell_class=None) -> str:
    """``frame`` as an HTML table, every header and cell escaped. ``cell_class(column,
    value)`` may name a CSS class for a cell."""
    head = "".join(f"<th>{escape(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row):
            classes = [cell_class(column, value) if cell_class else None]
            classes.append("num" if NUMERIC.match(str(value)) else None)
            css = " ".join(c for c in classes if c)
            attribute = f' class="{escape(css)}"' if css else ""
            cells.append(f"<td{attribute}>{escape(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<div class="scroll"><table><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></div>"
    )


def figure_html(plot: Plot) -> str:
    """A plot as a ``<figure>`` with its PNG inline (base64 data URI)."""
    data = base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure><img alt="{escape(plot.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(plot.title)}</figcaption></figure>"
    )


def _verdict_class(column: str, value: Any) -> str | None:
    """The CSS class of a verdict cell: ``better`` or ``worse`` (coloured); None otherwise."""
    if column != "verdict":
        return None
    text = str(value)
    if text.startswith("better"):
        return "better"
    if text.startswith("worse"):
        return "worse"
    return None


def _skipped_html(results: Results) -> str:
    """The left-out records, one collapsible list per reason, each file with why."""
    if not results.skipped:
        return ""
    items = []
    for category, description in SKIP_REASONS.items():
        skipped = results.skipped_by(category)
        if not skipped:
            continue
        what = description.format(version=_schema_version())
        entries = "".join(
            f"<li><code>{escape(s.path)}</code>: {escape(s.reason)}</li>" for s in skipped
        )
        items.append(
            f"<details><summary>{len(skipped)} {escape(what)}</summary><ul>{entries}</ul></details>"
        )
    return "".join(items)


def _schema_version() -> int:
    """The schema version this hem-bench reads (imported late: config imports pydantic)."""
    from hem_bench.config import SCHEMA_VERSION

    return SCHEMA_VERSION


def header_text(results: Results, when: datetime | None = None) -> str:
    """One sentence on what was aggregated: records used, left out, from where, when."""
    counts = results.counts()
    when = when or datetime.now(timezone.utc)
    left_out = ", ".join(f"{counts[k]} {k}" for k in SKIP_REASONS if counts[k])
    return (
        f"Aggregated {counts['used']} run records of {counts['found']} found under "
        f"{results.root} on {when.strftime('%Y-%m-%d %H:%M UTC')}"
        + (f"; left out: {left_out}." if left_out else "; none left out.")
    )


def render(
    board: Leaderboard,
    results: Results,
    plots: Iterable[Plot] = (),
    when: datetime | None = None,
) -> str:
    """The whole report as one HTML page."""
    plots = list(plots)
    by_benchmark: dict[str, list[Plot]] = {}
    for plot in plots:
        by_benchmark.setdefault(plot.benchmark, []).append(plot)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>hem-bench leaderboard</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>hem-bench leaderboard</h1>",
        f'<p class="note" id="summary">{escape(header_text(results, when))}</p>',
        _skipped_html(results),
        "<p>Is a loss a general-purpose replacement for cross-entropy? Each benchmark (task, "
        "data set, model) trains the same model with the same recipe under every loss; the "
        "tables show the mean ± sample standard deviation over seeds (n = seeds).</p>",
        '<h2 id="overall">Overall: generality</h2>',
        '<p class="note">Mean headline of each loss on each benchmark and its rank there '
        "(1 = best; ties share the average rank). <em>mean rank</em> averages the ranks over "
        "the benchmarks a loss was run on; <em>benchmarks</em> says on how many. Sorted by "
        "mean rank: the most general loss first (the question of Spratling &amp; Schütt 2025, "
        "arXiv:2501.12191).</p>",
        html_table(board.overall_display()),
        f'<h2 id="paired">Paired comparisons against {escape(board.baseline)}</h2>',
        '<p class="note">Per-seed differences of the headline for the seeds both losses have, '
        "signed so that positive means better than the baseline. Two-sided paired t-test "
        f"from 2 paired seeds, Wilcoxon signed-rank test from {WILCOXON_MIN_PAIRS}; verdicts "
        f"at p &lt; {ALPHA}, not corrected for multiple comparisons.</p>",
        html_table(board.paired_display(), _verdict_class)
        if len(board.paired)
        else "<p>No loss shares a benchmark with the baseline.</p>",
    ]
    for table in board.tables:
        anchor = escape("b-" + table.name)
        parts.append(f'<h2 id="{anchor}">{escape(table.label)}</h2>')
        parts.append(
            f'<p class="note">task {escape(table.task)}, data set {escape(table.dataset)}, '
            f"model {escape(table.model)}; headline {escape(table.headline)} "
            f"({'higher' if table.higher_is_better else 'lower'} is better)</p>"
        )
        parts.append(html_table(table.display()))
        parts.extend(figure_html(plot) for plot in by_benchmark.pop(table.label, []))
    if board.analysis:
        parts.append('<h2 id="analysis">Representation analysis</h2>')
        parts.append(f'<p class="note">{escape(ANALYSIS_NOTE.replace("`", ""))}</p>')
        for table in board.analysis:
            parts.append(f'<h3 id="{escape(table.name)}">{escape(table.label)}</h3>')
            parts.append(html_table(table.display()))
    rest = [plot for group in by_benchmark.values() for plot in group]
    if rest:
        parts.append("<h2>Other plots</h2>")
        parts.extend(figure_html(plot) for plot in rest)
    parts.append(
        '<p class="note">Generated by <code>hem-bench leaderboard</code>; self-contained '
        "(no external resources).</p></body></html>"
    )
    return "\n".join(part for part in parts if part) + "\n"
