"""``hem-bench leaderboard``: tables and an HTML report from the run records under a folder.

Reads every ``record.json`` under ``--results`` (:mod:`hem_bench.results.store`), builds
the tables (:mod:`hem_bench.results.leaderboard`) and writes into ``--out``:

- ``leaderboard.md``: every table in Markdown (format ``md``);
- ``overall.csv``, ``<task>-<dataset>[-<model>].csv`` per benchmark and
  ``paired-<baseline>.csv`` (format ``csv``);
- ``report.html``: one self-contained page with every table and plot (format ``html``);
- ``leaderboard.json``: the tables as data (format ``json``);
- ``plots/*.png``: the plots (format ``png``).

Files are written through a temporary file and a rename, so an interrupted command leaves
the previous version of a file intact. pandas and matplotlib are imported inside
:func:`run` only, so that ``hem-bench --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hem_bench.atomic import write_atomic
from hem_bench.errors import ConfigError

FORMATS = ("md", "csv", "html", "json", "png")
DEFAULT_FORMATS = ",".join(FORMATS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hem-bench leaderboard``."""
    parser.add_argument(
        "--results",
        default="results",
        metavar="DIR",
        help="folder searched for run records (**/record.json; default results/)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="folder for the tables, report and plots (default: <results>/leaderboard)",
    )
    parser.add_argument(
        "--format",
        default=DEFAULT_FORMATS,
        metavar="LIST",
        help=f"comma-separated outputs among {', '.join(FORMATS)} (default: all)",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="LOSS",
        help="loss the others are compared with, seed by seed (default ce, when it was run)",
    )


def parse_formats(text: str) -> list[str]:
    """The formats of ``--format`` (comma-separated, case-insensitive); raises
    :class:`ConfigError` for an unknown one or an empty list."""
    names = [part.strip().lower() for part in str(text).split(",") if part.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise ConfigError(
            f"unknown --format {unknown[0]!r}; accepted: {', '.join(FORMATS)} "
            "(comma-separated, e.g. md,csv)"
        )
    if not names:
        raise ConfigError(f"--format names no output; accepted: {', '.join(FORMATS)}")
    return list(dict.fromkeys(names))


def markdown_document(board, header: str) -> str:
    """Every table of the leaderboard as one Markdown document; every string from records
    goes through :func:`~hem_bench.results.leaderboard.markdown_text`."""
    from hem_bench.results.leaderboard import (
        ALPHA,
        ANALYSIS_NOTE,
        WILCOXON_MIN_PAIRS,
        markdown_table,
        markdown_text,
    )

    parts = [
        "# hem-bench leaderboard\n",
        markdown_text(header) + "\n",
        "## Overall: generality\n",
        "Mean headline per benchmark, the rank of each loss there (1 = best; ties share the "
        "average rank) and the mean rank over benchmarks, sorted by mean rank.\n",
        markdown_table(board.overall_display()),
        f"## Paired comparisons against {markdown_text(board.baseline)}\n",
        "Per-seed headline differences (positive = better than the baseline); two-sided "
        f"paired t-test from 2 seeds, Wilcoxon signed-rank from {WILCOXON_MIN_PAIRS}; "
        f"verdicts at p < {ALPHA}.\n",
        markdown_table(board.paired_display())
        if len(board.paired)
        else "No loss shares a benchmark with the baseline.\n",
    ]
    for table in board.tables:
        direction = "higher" if table.higher_is_better else "lower"
        parts.append(f"## {markdown_text(table.label)}\n")
        parts.append(
            f"Model {markdown_text(table.model)}; headline {markdown_text(table.headline)} "
            f"({direction} is better); mean ± std over n seeds.\n"
        )
        parts.append(markdown_table(table.display()))
    if board.analysis:
        parts.append("## Representation analysis\n")
        parts.append(ANALYSIS_NOTE + "\n")
        for table in board.analysis:
            parts.append(f"### {markdown_text(table.label)}\n")
            parts.append(f"Model {markdown_text(table.model)}; mean ± std over n seeds.\n")
            parts.append(markdown_table(table.display()))
    return "\n".join(parts)


def run(args: argparse.Namespace) -> int:
    """Read the records, build the tables and write the chosen outputs."""
    formats = parse_formats(args.format)
    from datetime import datetime, timezone

    from hem_bench.results.leaderboard import build, summary, text_table
    from hem_bench.results.store import load_results

    results = load_results(args.results)
    board = build(
        results.frame, baseline=args.baseline or "ce", baseline_required=args.baseline is not None
    )
    out = Path(args.out) if args.out else Path(args.results) / "leaderboard"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {str(out)!r}: cannot create the folder ({exc})") from None
    when = datetime.now(timezone.utc)
    from hem_bench.results.report import header_text

    header = header_text(results, when)
    written: list[Path] = []

    plots = []
    if "png" in formats or "html" in formats:
        from hem_bench.results.plots import all_plots

        plots = all_plots(results.frame, board.tables)
    if "md" in formats:
        written.append(write_atomic(out / "leaderboard.md", markdown_document(board, header)))
    if "csv" in formats:
        written.append(write_atomic(out / "overall.csv", board.overall.to_csv(index=False)))
        for table in board.tables:
            written.append(
                write_atomic(out / f"{table.name}.csv", table.numeric().to_csv(index=False))
            )
        for table in board.analysis:
            written.append(
                write_atomic(out / f"{table.name}.csv", table.numeric().to_csv(index=False))
            )
        written.append(
            write_atomic(
                out / f"paired-{_file_name(board.baseline)}.csv",
                board.paired_numeric().to_csv(index=False),
            )
        )
    if "json" in formats:
        import json

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
        written.append(
            write_atomic(
                out / "leaderboard.json", json.dumps(data, indent=2, allow_nan=False) + "\n"
            )
        )
    if "html" in formats:
        from hem_bench.results.report import render

        written.append(write_atomic(out / "report.html", render(board, results, plots, when)))
    if "png" in formats:
        for plot in plots:
            written.append(write_atomic(out / "plots" / f"{plot.name}.png", plot.png))

    print(header)
    print()
    print(text_table(board.overall_display()), end="")
    print()
    print(f"wrote {len(written)} files into {out}:")
    for path in written:
        print(f"  {path}")
    return 0


def _file_name(text: str) -> str:
    """``text`` made safe as part of a file name (the baseline in ``paired-<baseline>.csv``)."""
    from hem_bench.results.leaderboard import slug

    return slug(text)
