"""The files of a leaderboard: what ``hem-bench leaderboard --format`` writes into its
output folder, each through a temporary file and a rename (an interrupted command leaves
the previous version of a file intact):

- ``leaderboard.md``: every table in Markdown (format ``md``), and the claims table written
  into ``README.md`` of the output folder where that file holds the claims markers
  (:data:`hem_bench.results.markdown.CLAIMS_START`, ``CLAIMS_END``);
- ``overall.csv``, ``<protocol>.csv`` per benchmark, ``paired-<baseline>.csv``,
  ``protocols.csv``, ``ranks.csv``, ``claims.csv``, ``power.csv`` (every undecided test:
  :mod:`hem_bench.results.plan`) and
  ``lr-sensitivity-<task>-<dataset>.csv`` (format ``csv``);
- ``report.html``: one self-contained page with every table and plot (format ``html``);
- ``leaderboard.json``: the tables as data (format ``json``);
- ``plots/*.png``: the plots (format ``png``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hem_bench.atomic import write_atomic

if TYPE_CHECKING:  # the command line reads FORMATS before pandas is imported
    from hem_bench.results.leaderboard import GroupTable, Leaderboard
    from hem_bench.results.store import Results

#: the outputs ``--format`` chooses among
FORMATS = ("md", "csv", "html", "json", "png")


def write_outputs(
    board: Leaderboard, results: Results, out: Path, formats: list[str], when: datetime
) -> list[Path]:
    """Write the files of ``formats`` (a subset of :data:`FORMATS`) into ``out``; returns
    their paths."""
    from hem_bench.results.report import header_text

    header = header_text(results, when)
    plots = []
    if "png" in formats or "html" in formats:
        from hem_bench.results.plots import all_plots

        plots = all_plots(results.frame, board.tables)  # drawn by loss variant
    written: list[Path] = []
    if "md" in formats:
        from hem_bench.results.markdown import markdown_document, update_readme

        written.append(write_atomic(out / "leaderboard.md", markdown_document(board, header)))
        if update_readme(out / "README.md", board):
            written.append(out / "README.md")
    if "csv" in formats:
        written += _write_csv(board, out)
    if "json" in formats:
        data = {
            "generated_at": when.isoformat(timespec="seconds"),
            "results": str(results.root),
            "counts": results.counts(),
            "skipped": [
                {"path": str(s.path), "category": s.category, "reason": s.reason}
                for s in results.skipped
            ],
            **summary(board),
            "plots": [f"plots/{plot.name}.png" for plot in plots] if "png" in formats else [],
        }
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
        written.append(write_atomic(out / "leaderboard.json", text))
    if "html" in formats:
        from hem_bench.results.report import render

        written.append(write_atomic(out / "report.html", render(board, results, plots, when)))
    if "png" in formats:
        for plot in plots:
            written.append(write_atomic(out / "plots" / f"{plot.name}.png", plot.png))
    return written


def _write_csv(board: Leaderboard, out: Path) -> list[Path]:
    """Every table as numbers, one CSV file each."""
    from hem_bench.results.formats import slug
    from hem_bench.results.plan import plan_table

    files = {"overall.csv": board.overall.to_csv(index=False)}
    for table in [*board.tables, *board.analysis]:
        files[f"{table.name}.csv"] = table.numeric().to_csv(index=False)
    files[f"paired-{slug(board.baseline)}.csv"] = board.paired_numeric().to_csv(index=False)
    files["protocols.csv"] = _protocols_csv(board)
    files["ranks.csv"] = board.ranks.to_csv(index=False)
    files["claims.csv"] = board.claims.to_csv(index=False)
    files["power.csv"] = plan_table(board).to_csv(index=False)
    for item in board.sensitivity:
        name = slug(f"lr-sensitivity-{item.task}-{item.dataset}")
        files[f"{name}.csv"] = item.table.to_csv(index=False)
    return [write_atomic(out / name, text) for name, text in files.items()]


def _protocols_csv(board) -> str:
    """The protocols table for CSV: the settings as JSON text."""
    import json

    out = board.protocols.copy()
    if len(out):
        out["settings"] = [json.dumps(v, sort_keys=True, default=str) for v in out["settings"]]
    return out.to_csv(index=False)


def summary(board: Leaderboard) -> dict[str, Any]:
    """The leaderboard as JSON-ready data: the overall table, every benchmark table (mean,
    std and n of each metric per loss), the paired comparisons, the claims, the sizes of
    the two families (``family`` is the exploratory one, as ``exploratory_family``) and the
    power of every undecided test."""
    from hem_bench.results.formats import records_of
    from hem_bench.results.plan import plan_table

    return {
        "baseline": board.baseline,
        "losses": board.losses,
        "overall": records_of(board.overall),
        "tables": [_table_summary(table) for table in board.tables],
        "paired": records_of(board.paired),
        "analysis": [_table_summary(table) for table in board.analysis],
        "protocols": records_of(board.protocols),
        "ranks": records_of(board.ranks),
        "family": board.family,
        "sensitivity": [
            {
                "task": s.task,
                "dataset": s.dataset,
                "headline": s.headline,
                "higher_is_better": s.higher_is_better,
                "lrs": s.lrs,
                "protocols": s.protocols,
                "rows": records_of(s.table),
            }
            for s in board.sensitivity
        ],
        "claims": records_of(board.claims),
        "claims_family": int(board.claims_family),
        "exploratory_family": int(board.family),
        "power": records_of(plan_table(board)),
    }


def _table_summary(table: GroupTable) -> dict[str, Any]:
    """One table as JSON-ready data: mean, std and n of each metric per loss."""
    from hem_bench.results.formats import json_value

    rows = []
    for loss in table.stats.index:
        rows.append(
            {
                "loss": loss,
                "n": int(table.seeds[loss]),
                "metrics": {
                    m: {
                        "mean": json_value(table.stats.at[loss, f"{m} mean"]),
                        "std": json_value(table.stats.at[loss, f"{m} std"]),
                        "n": int(table.stats.at[loss, f"{m} n"]),
                        "ci_low": json_value(table.stats.at[loss, f"{m} ci low"]),
                        "ci_high": json_value(table.stats.at[loss, f"{m} ci high"]),
                    }
                    for m in table.metrics
                },
            }
        )
    return {
        "name": table.name,
        "benchmark": table.label,
        "protocol": table.protocol,
        "main": table.main,
        "settings": {k: json_value(v) for k, v in table.settings.items()},
        "task": table.task,
        "dataset": table.dataset,
        "model": table.model,
        "headline": table.headline,
        "higher_is_better": table.higher_is_better,
        "metrics": table.metrics,
        "rows": rows,
    }
