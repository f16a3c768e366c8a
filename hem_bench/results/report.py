"""A single self-contained HTML report of a leaderboard that answers its question first.

Layout, top to bottom:

1. the verdict: every loss sorted by mean rank, with the rank-uncertainty columns the
   leaderboard offers (any column of ``board.overall`` whose name holds ``CI`` or
   ``interval``: the bootstrap interval over benchmarks and seeds) and p(first), whether its
   mean rank is significantly worse than the best one (Nemenyi critical difference after a
   Friedman test, Demsar 2006; see :func:`hem_bench.results.stats.critical_difference`),
   and a rank heatmap of the main protocols: one cell per loss and benchmark, coloured by
   the loss's rank there (green = 1, best; red = last) and holding the mean headline; then
   the critical-difference diagram and which display answers which question;
2. the papers' claims re-tested, the paired comparisons against the baseline, the power of
   every undecided verdict, the learning-rate sensitivity and the protocols with their code
   versions (:mod:`hem_bench.results.sections`), each comparison with its one verdict under
   the family policy (:mod:`hem_bench.results.family`);
3. one section per benchmark: its caveat where one applies (an embedded small data set,
   fewer epochs than the task's recipe), the table of mean ± std of every key metric, each
   column titled with its better direction as the task declares it (↑ higher, ↓ lower is
   better: the task's :class:`~hem_bench.tasks.Metric`), the task's own section (its
   ``report_section`` hook: the ood task adds every detector on near and far OOD, as
   OpenOOD reports them) and its plots;
4. the representation analysis, when ``hem-bench analyze`` has written one.

A table of contents follows the title. Every table sits in a box of its own width that
scrolls sideways when it is wider than the page, with its first column (the loss) fixed,
so the page itself never scrolls sideways at 1280 px. Each loss links to the paper that
introduced it (the loss registry's ``info.paper``). Numbers are rounded for reading (3
decimals; the CSV and JSON outputs keep every digit).

The page has no external resources: the style sheet is inline and each plot is a PNG
embedded as a ``data:image/png;base64,...`` URI, so the file can be mailed, archived or
opened offline (the paper links are plain links). Every string that comes from records
(loss, metric, task and data set names, paths, error messages) is escaped with
:func:`html.escape`, so a record cannot inject markup or scripts into the page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from hem_bench.results.caveats import caveat_html, caveats, general_caveat
from hem_bench.results.html import (
    Cell,
    escape,
    figure_html,
    figures_html,
    interval_text,
    loss_html,
    mean_std,
    metric_header,
    number,
    paper_urls,
    table_html,
    wrap_slashes,
)
from hem_bench.results.leaderboard import ANALYSIS_NOTE, GroupTable, Leaderboard
from hem_bench.results.plotkit import Plot
from hem_bench.results.plots import benchmark_views
from hem_bench.results.sections import (
    claims_section,
    code_caveat,
    paired_section,
    power_section,
    protocols_section,
    sensitivity_section,
)
from hem_bench.results.stats import CriticalDifference, critical_difference, rank_values
from hem_bench.results.store import SKIP_REASONS, Results
from hem_bench.results.views import BenchmarkView

#: width of the fixed first column of the wide tables
FIRST_COLUMN = "12em"

STYLE = f"""
* {{ box-sizing: border-box; }}
body {{ font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 1em auto;
       max-width: 1200px; padding: 0 1em; color: #1d1d1f; line-height: 1.4;
       overflow-wrap: break-word; }}
h1 {{ margin: 0 0 0.1em; font-size: 1.6em; }}
h2 {{ margin-top: 1.8em; border-bottom: 1px solid #ddd; font-size: 1.3em; }}
h3 {{ font-size: 1.05em; margin-bottom: 0.3em; }}
nav {{ font-size: 0.88em; margin: 0.3em 0; }} nav details {{ display: inline; margin: 0; }}
nav summary {{ display: inline; cursor: pointer; color: #0b57d0; }} nav ol {{ display: inline; padding: 0; margin: 0; }}
nav li {{ display: inline; margin-right: 0.9em; }} nav li + li::before {{ content: "· ";
       color: #999; margin-right: 0.3em; }}
.wrap {{ overflow-x: auto; max-width: 100%; margin: 0.5em 0; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left;
       vertical-align: top; }}
th {{ background: #f0f2f5; font-weight: 600; overflow-wrap: normal; }} td.num, th.num {{ text-align: right; }}
td.num {{ white-space: nowrap; font-variant-numeric: tabular-nums; }}
table.fixed th:first-child, table.fixed td:first-child {{ position: sticky; left: 0;
       z-index: 1; background: #fff; width: {FIRST_COLUMN}; min-width: {FIRST_COLUMN};
       max-width: {FIRST_COLUMN}; }}
table.fixed th:first-child {{ background: #f0f2f5; }}
table.fixed2 th:nth-child(2), table.fixed2 td:nth-child(2) {{ position: sticky;
       left: {FIRST_COLUMN}; z-index: 1; background: #fff; }}
table.fixed2 th:nth-child(2) {{ background: #f0f2f5; }}
td.heat, th.heat {{ text-align: center; white-space: nowrap; font-variant-numeric: tabular-nums; }}
.nw {{ white-space: nowrap; }} .rk {{ color: #333; font-size: 0.8em; }} .pos {{ color: #777; font-size: 0.85em; }}
table.claims td.long {{ min-width: 28em; }} table.claims td:first-child {{ min-width: 12em; }}
.note {{ color: #555; font-size: 0.88em; margin: 0.3em 0; }}
.caveat {{ background: #fff6e0; border-left: 4px solid #e0a100; padding: 0.3em 0.7em;
       font-size: 0.88em; margin: 0.5em 0; }}
.better {{ color: #0a7d2c; }} .worse {{ color: #b3261e; }}
.figs {{ display: flex; flex-wrap: wrap; gap: 0 1.5em; align-items: flex-start; }}
figure {{ margin: 1em 0; max-width: 100%; }}
.figs figure {{ flex: 0 1 calc(50% - 0.75em); }} .figs figure.wide {{ flex-basis: 100%; }}
.figs figure:only-child {{ flex-basis: auto; }} figure img {{ max-width: 100%; border: 1px solid #eee; }}
figcaption {{ color: #555; font-size: 0.88em; }} code {{ background: #f3f3f3; padding: 0 0.2em; }}
details {{ margin: 0.5em 0; }} a {{ color: #0b57d0; }}
.legend span {{ display: inline-block; padding: 0 0.5em; }}
"""


# -- losses and their papers ------------------------------------------------------------


# -- tables --------------------------------------------------------------------------------


# -- the verdict ---------------------------------------------------------------------------


#: suffixes of the two bound columns of one interval, merged into one ``[low, high]`` cell
BOUNDS = ((" low", " high"), ("_low", "_high"), (" lower", " upper"), ("_lower", "_upper"))


def uncertainty_columns(overall: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """The columns of the overall table that state the uncertainty of the mean rank: any
    whose name holds ``CI`` or ``interval`` (none when the leaderboard has none), as
    (title, columns); the two bound columns of one interval (``... low`` and ``... high``)
    become one entry."""
    names = [str(c) for c in overall.columns if "CI" in str(c) or "interval" in str(c).lower()]
    out: list[tuple[str, list[str]]] = []
    used: set[str] = set()
    for name in names:
        if name in used:
            continue
        for low, high in BOUNDS:
            if name.endswith(low) and name[: -len(low)] + high in names:
                pair = [name, name[: -len(low)] + high]
                out.append((name[: -len(low)], pair))
                used.update(pair)
                break
        else:
            out.append((name, [name]))
            used.add(name)
    return out


def rank_colour(rank: float, count: int) -> str:
    """The background of a heatmap cell: green for rank 1 through yellow to red for the
    last of ``count`` ranks (HSL hue 120 -> 0, light so that the text stays readable)."""
    t = 0.0 if count <= 1 else (rank - 1.0) / (count - 1.0)
    t = min(max(t, 0.0), 1.0)
    return f"background: hsl({120.0 * (1.0 - t):.0f}, 62%, 78%)"


def verdict_html(
    board: Leaderboard, papers: dict[str, tuple[str, str]], cd: CriticalDifference | None
) -> str:
    """The ranking table with its rank heatmap: loss, mean rank, its uncertainty and
    p(first), the Nemenyi verdict against the best loss, how many main benchmarks it ran on,
    then one coloured cell per main benchmark (the ranked ones; other protocols have their
    own sections)."""
    tables = [t for t in board.tables if t.main]
    extra = uncertainty_columns(board.overall)
    means = {t.label: t.stats[f"{t.headline} mean"] for t in tables}
    ranks = {t.label: rank_values(means[t.label], t.higher_is_better) for t in tables}
    apart = intervals_apart(board.overall, cd)
    rows = []
    for position, record in enumerate(board.overall.to_dict(orient="records"), start=1):
        loss = str(record["loss"])
        row = [
            Cell(f'<span class="pos">{position}.</span> {loss_html(loss, papers)}'),
            Cell(f"<b>{number(record['mean rank'], 2)}</b>", "num"),
            *[Cell(escape(_uncertainty(record, columns)), "num") for _, columns in extra],
        ]
        if "p(first)" in record:
            row.append(Cell(number(record["p(first)"], 2), "num"))
        if cd is not None:
            row.append(_nemenyi_cell(loss, cd, loss in apart))
        row.append(Cell(f"{int(record['benchmarks'])}/{len(tables)}", "num"))
        row += [_heat_cell(means[t.label], ranks[t.label], loss) for t in tables]
        rows.append(row)
    header = _verdict_header(tables, extra, "p(first)" in board.overall, cd is not None)
    return table_html(header, rows, css="fixed fixed2", table_id="ranking")


def _uncertainty(record: dict[str, Any], columns: list[str]) -> str:
    """One uncertainty cell: an interval from two bound columns, or a single value."""
    if len(columns) == 2:
        return interval_text([record[c] for c in columns])
    return interval_text(record[columns[0]])


def _verdict_header(
    tables: list[GroupTable], extra: list, p_first: bool, nemenyi: bool
) -> list[str | Cell]:
    """The ranking table's header."""
    header: list[str | Cell] = [
        "loss",
        Cell(
            '<span title="mean over the benchmarks of the rank (1 = best)">mean rank ↓</span>',
            "num",
        ),
        *[
            Cell(
                f'<span title="95 % bootstrap interval, benchmarks and seeds redrawn: how far '
                f'the mean rank could move; not a test between losses">{escape(title)}</span>',
                "num",
            )
            for title, _ in extra
        ],
    ]
    if p_first:
        header.append(
            Cell('<span title="share of bootstrap replicates ranked first">p(first)</span>', "num")
        )
    if nemenyi:
        header.append(
            Cell(
                '<span title="Nemenyi test on the losses run on every benchmark: is the mean '
                'rank worse than the best one by the critical difference or more?">vs #1</span>'
            )
        )
    header.append(Cell('<span title="main benchmarks the loss was run on">runs on</span>', "num"))
    for t in tables:
        header.append(
            Cell(
                f'{wrap_slashes(t.label)}<br><span class="rk">'
                f"{metric_header(t.headline, t.higher_is_better)}</span>",
                "heat",
            )
        )
    return header


def _nemenyi_cell(loss: str, cd: CriticalDifference, apart: bool) -> Cell:
    """The ``vs #1`` cell: best, worse, n.s. (``†`` where the intervals lie apart)."""
    ranks = dict(zip(cd.losses, cd.mean_ranks))
    best = cd.mean_ranks[0]
    if loss not in ranks:
        return Cell("not compared", "note", title="not run on every benchmark")
    if ranks[loss] == best:
        return Cell("best")
    if ranks[loss] - best >= cd.cd:
        return Cell("worse", "worse", title=f"significantly worse, p < {cd.alpha}")
    if apart:
        return Cell(
            "n.s. †",
            title="not significantly worse than the best; its bootstrap interval lies apart "
            "from the best one's (see the note under the table)",
        )
    return Cell("n.s.", title="not significantly worse than the best")


def _heat_cell(means: pd.Series, ranks: pd.Series, loss: str) -> Cell:
    """One heatmap cell: the loss's mean headline on a benchmark and its rank there."""
    value = means.get(loss, math.nan)
    rank = ranks.get(loss, math.nan)
    if rank is None or (isinstance(rank, float) and math.isnan(rank)):
        return Cell("–", "heat", title="not run on this benchmark")
    count = int(ranks.notna().sum())
    shown = f"{rank:g}"
    return Cell(
        f'{number(value)} <span class="rk">#{escape(shown)}</span>',
        "heat",
        rank_colour(float(rank), count),
        f"rank {shown} of {count}",
    )


def intervals_apart(overall: pd.DataFrame, cd: CriticalDifference | None) -> set[str]:
    """The losses whose bootstrap interval of the mean rank lies wholly above the best
    loss's while the Nemenyi test does not find them worse: a marginal interval is one
    loss's uncertainty, not a corrected comparison, and the page says so beside them."""
    low, high = "mean rank CI low", "mean rank CI high"
    if cd is None or low not in overall or not len(overall):
        return set()
    ranks = dict(zip(cd.losses, cd.mean_ranks))
    best = cd.losses[0]
    bounds = overall.set_index("loss")
    if best not in bounds.index:
        return set()
    top = float(bounds.at[best, high])
    return {
        loss
        for loss, rank in ranks.items()
        if rank - cd.mean_ranks[0] < cd.cd and float(bounds.at[loss, low]) > top
    }


#: which rank display answers which question (under the ranking)
TRUST = (
    '<p class="note"><b>Which to read for what.</b> To compare two losses, read '
    "<em>vs #1</em> and the critical-difference diagram: the Nemenyi test treats the "
    "benchmarks as the units and corrects for every pair of losses. The interval beside the "
    "mean rank (a bootstrap that redraws the benchmarks and, within each, the seeds) and "
    "p(first) say how far one loss's mean rank could move with other benchmarks and seeds "
    "like these; two intervals that do not overlap are not a corrected test (†: intervals "
    "apart, difference below the critical difference).</p>"
)


def cd_text(cd: CriticalDifference | None) -> str:
    """What the Friedman test and the critical difference say, in a sentence or two."""
    if cd is None:
        return (
            '<p class="note">No critical-difference test: it needs two losses run on at '
            "least two benchmarks.</p>"
        )
    k, n = len(cd.losses), len(cd.benchmarks)
    friedman = (
        f"Friedman test of the ranks of the {k} losses over {n} benchmarks: p = "
        f"{cd.friedman_p:.3g}"
        + (
            f" (the losses differ, p &lt; {cd.alpha})."
            if cd.friedman_p < cd.alpha
            else f" (no evidence that the losses differ at α = {cd.alpha})."
        )
        if not math.isnan(cd.friedman_p)
        else "No Friedman test (it needs three losses or more)."
    )
    left_out = (
        f" Not compared (missing on some benchmark): {escape(', '.join(cd.left_out))}."
        if cd.left_out
        else ""
    )
    return (
        f'<p class="note">{friedman} Nemenyi critical difference at α = {cd.alpha}: CD = '
        f"q<sub>α</sub> √(k(k+1)/6N) = {cd.q_alpha:.3f} × √({k}·{k + 1}/(6·{n})) = "
        f"<b>{cd.cd:.2f}</b> ranks: two losses whose mean ranks differ by less are not "
        f"significantly different (Demšar 2006). Column <em>vs #1</em>: <em>worse</em> when a "
        "loss's mean rank is the CD or more above the best one, <em>n.s.</em> (not "
        f"significantly worse) otherwise.{left_out}</p>" + TRUST
    )


# -- caveats -------------------------------------------------------------------------------


# -- benchmark tables ----------------------------------------------------------------------


def group_table_html(table: GroupTable, papers: dict[str, tuple[str, str]]) -> str:
    """One benchmark's table: loss, seeds, then mean ± std of every metric, each titled
    with its better direction. Nothing is bold: which differences are significant is the
    paired comparisons' and the claims' to say."""
    header: list[str | Cell] = ["loss", Cell("seeds", "num")]
    for metric in table.metrics:
        header.append(Cell(metric_header(metric, table.direction(metric)), "num"))
    rows = []
    for loss in table.stats.index:
        seeds = int(table.seeds[loss])
        row = [Cell(loss_html(str(loss), papers)), Cell(str(seeds), "num")]
        for metric in table.metrics:
            text = mean_std(
                table.stats.at[loss, f"{metric} mean"],
                table.stats.at[loss, f"{metric} std"],
                int(table.stats.at[loss, f"{metric} n"]),
                seeds,
            )
            row.append(Cell(escape(text), "num"))
        rows.append(row)
    return table_html(header, rows, table_id=f"t-{table.name}")


# -- the rest ------------------------------------------------------------------------------


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
    from hem_bench.results.record import SCHEMA_VERSION

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


#: benchmarks listed in the table of contents before they are folded away
TOC_BENCHMARKS = 8


def _toc(entries: list[tuple[str, str]], benchmarks: list[tuple[str, str]]) -> str:
    """The table of contents: links to the sections, on one or two lines; past
    :data:`TOC_BENCHMARKS` benchmarks their links fold into a list that opens on a click."""

    def items(pairs: list[tuple[str, str]]) -> str:
        return "".join(f'<li><a href="#{escape(a)}">{escape(t)}</a></li>' for a, t in pairs)

    if len(benchmarks) <= TOC_BENCHMARKS:
        return f'<nav aria-label="contents"><b>Contents:</b> <ol>{items(entries + benchmarks)}</ol></nav>'
    return (
        f'<nav aria-label="contents"><b>Contents:</b> <ol>{items(entries)}</ol>'
        f"<details><summary>{len(benchmarks)} benchmarks</summary><ol>{items(benchmarks)}</ol>"
        "</details></nav>"
    )


def render(
    board: Leaderboard,
    results: Results,
    plots: Iterable[Plot] = (),
    when: datetime | None = None,
) -> str:
    """The whole report as one HTML page."""
    by_benchmark: dict[str, list[Plot]] = {}
    for plot in plots:
        by_benchmark.setdefault(plot.benchmark, []).append(plot)
    cd_plots = [p for p in by_benchmark.get("", []) if p.kind == "critical_difference"]
    by_benchmark[""] = [p for p in by_benchmark.get("", []) if p not in cd_plots]
    losses = [str(x) for x in board.overall["loss"]] if "loss" in board.overall else []
    papers = paper_urls(losses)
    notes = caveats(board, results)
    toc = [("verdict", "Verdict"), ("claims", "Claims"), ("paired", "Paired tests")]
    toc += [("power", "Power")]
    if board.sensitivity:
        toc.append(("sensitivity", "Learning rate"))
    toc.append(("protocols", "Protocols"))
    if board.analysis:
        toc.append(("analysis", "Representation analysis"))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>hem-bench leaderboard</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>hem-bench leaderboard</h1>",
        f'<p class="note" id="summary">{escape(header_text(results, when))}</p>',
        _toc(toc, [(f"b-{t.name}", t.label) for t in board.tables]),
        general_caveat(notes, board.tables),
        code_caveat(board),
        verdict_section(board, papers, cd_plots),
        _skipped_html(results),
        claims_section(board),
        paired_section(board, papers),
        power_section(board),
        sensitivity_section(board, papers),
        protocols_section(board),
    ]
    for view in benchmark_views(results.frame, board.tables, papers=papers):
        caveat = notes.get(view.label)
        extra = caveat.notes(view.table.dataset) if caveat else []
        parts.append(benchmark_section(view, extra, by_benchmark.pop(view.label, [])))
    parts.append(analysis_section(board, papers))
    rest = [plot for group in by_benchmark.values() for plot in group]
    if rest:
        parts.append("<h2>Other plots</h2>")
        parts.append(figures_html(rest))
    parts.append(
        '<p class="note">Generated by <code>hem-bench leaderboard</code>; self-contained '
        "(no external resources; loss names link to their papers).</p></body></html>"
    )
    return "\n".join(part for part in parts if part) + "\n"


def verdict_section(
    board: Leaderboard, papers: dict[str, tuple[str, str]], cd_plots: list[Plot]
) -> str:
    """The ranking with its heatmap, the critical-difference test and its diagram."""
    cd = critical_difference(board.tables)
    return "".join(
        [
            '<h2 id="verdict">Verdict: which loss is most general?</h2>',
            '<p class="note">Losses sorted by mean rank over the benchmarks (1 = best; ties '
            "share the average rank). Each cell: the loss's mean headline on that benchmark "
            "over seeds, and its rank there (#), coloured "
            '<span style="background: hsl(120, 62%, 78%)">&nbsp;best&nbsp;</span> to '
            '<span style="background: hsl(0, 62%, 78%)">&nbsp;worst&nbsp;</span>. '
            "The question of Spratling &amp; Schütt 2025 (arXiv:2501.12191): does one loss "
            "do well on every task?</p>",
            verdict_html(board, papers, cd),
            cd_text(cd),
            *[figure_html(p) for p in cd_plots],
        ]
    )


def benchmark_section(view: BenchmarkView, caveat: list[str], plots: list[Plot]) -> str:
    """One benchmark: what it is, its caveat, its table, the task's own section (its
    ``report_section`` hook) and its plots."""
    from hem_bench.tasks import find_task

    table = view.table
    task = find_task(table.task)
    own = task.report_section(view) if task is not None and task.report_section else ""
    return "".join(
        [
            f'<h2 id="{escape("b-" + table.name)}">{escape(table.label)}</h2>',
            f'<p class="note">task {escape(table.task)}, data set {escape(table.dataset)}, '
            f"model {escape(table.model)}; headline {escape(table.headline)} "
            f"({'higher' if table.higher_is_better else 'lower'} is better); mean ± sample "
            "std over seeds; bold: the best mean of a column.</p>",
            caveat_html(caveat),
            group_table_html(table, view.papers),
            own,
            figures_html(plots),
        ]
    )


def analysis_section(board: Leaderboard, papers: dict[str, tuple[str, str]]) -> str:
    """The representation analysis tables, where ``hem-bench analyze`` has run."""
    if not board.analysis:
        return ""
    parts = [
        '<h2 id="analysis">Representation analysis</h2>',
        f'<p class="note">{escape(ANALYSIS_NOTE.replace("`", ""))}</p>',
    ]
    for table in board.analysis:
        parts.append(f'<h3 id="{escape(table.name)}">{escape(table.label)}</h3>')
        parts.append(group_table_html(table, papers))
    return "".join(parts)
