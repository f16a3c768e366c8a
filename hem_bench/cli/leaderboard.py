"""``hem-bench leaderboard``: tables and an HTML report from the run records under a folder.

Reads every ``record.json`` under ``--results`` (:mod:`hem_bench.results.store`), builds
the tables (:mod:`hem_bench.results.leaderboard`) and writes the chosen formats into
``--out`` (:mod:`hem_bench.results.outputs` says which files). pandas and matplotlib are
imported inside :func:`run` only, so that ``hem-bench --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hem_bench.cli.losses import add_plugin_argument
from hem_bench.errors import ConfigError
from hem_bench.results.outputs import FORMATS

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
    add_plugin_argument(parser)


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


def run(args: argparse.Namespace) -> int:
    """Read the records, build the tables, write the chosen outputs and print a summary."""
    formats = parse_formats(args.format)
    from datetime import datetime, timezone

    from hem_bench.plugins import load_plugin_files
    from hem_bench.results.leaderboard import build
    from hem_bench.results.outputs import write_outputs
    from hem_bench.results.report import header_text
    from hem_bench.results.store import load_results

    load_plugin_files(args.plugin)  # tasks (and losses) of plugins: their key metrics
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
    written = write_outputs(board, results, out, formats, when)
    print(header_text(results, when))
    print()
    print_summary(board)
    print(f"wrote {len(written)} files into {out}:")
    for path in written:
        print(f"  {path}")
    return 0


def print_summary(board) -> None:
    """The overall table, the rank intervals, the other protocols and the learning-rate
    sensitivity, as plain text."""
    from hem_bench.results.formats import text_table

    print(text_table(board.overall_display()), end="")
    print()
    if len(board.ranks):
        print("mean rank with its 95% bootstrap interval over benchmarks and seeds:")
        print(text_table(board.ranks_display()), end="")
        print()
    if len(board.protocols) > board.protocols[["task", "dataset"]].drop_duplicates().shape[0]:
        others = board.protocols[~board.protocols["main"].astype(bool)]
        print(
            f"{len(others)} protocol(s) besides the main ones, not ranked with them: "
            + "; ".join(others["protocol"])
        )
        print()
    for item in board.sensitivity:
        print(f"learning-rate sensitivity, {item.task}/{item.dataset}:")
        print(text_table(item.display()), end="")
        print()
