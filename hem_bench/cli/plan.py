"""``hem-bench plan``: how many seeds would decide each undecided claim or comparison, from
the records under a folder.

Builds the leaderboard's tests (:mod:`hem_bench.results.leaderboard`) and prints, for every
test without a verdict, the smallest effect its design detects with 80 % power and the
seeds its observed effect would need (:mod:`hem_bench.results.plan`). ``--claim TEXT``
keeps the claims and comparisons whose text or benchmark holds TEXT: "how many seeds do I
need to decide claim X". pandas and scipy are imported inside :func:`run` only.
"""

from __future__ import annotations

import argparse

from hem_bench.cli._output import FORMATS
from hem_bench.cli.losses import add_plugin_argument
from hem_bench.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hem-bench plan``."""
    parser.add_argument(
        "--results",
        default="results",
        metavar="DIR",
        help="folder searched for run records (**/record.json; default results/)",
    )
    parser.add_argument(
        "--claim",
        default=None,
        metavar="TEXT",
        help="only the claims and comparisons whose text or benchmark holds TEXT "
        "(case-insensitive), e.g. 'segmentation' or 'HEM better than CE'",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="LOSS",
        help="loss the paired comparisons are made against (default ce, when it was run)",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Read the records, decide the families, print the plan of the undecided tests."""
    from hem_bench.cli._output import print_rows
    from hem_bench.plugins import load_plugin_files
    from hem_bench.results.leaderboard import build
    from hem_bench.results.plan import matching, plan_table, plan_text
    from hem_bench.results.stats import ALPHA
    from hem_bench.results.store import load_results

    load_plugin_files(args.plugin)
    results = load_results(args.results)
    if not len(results.frame):
        raise ConfigError(f"--results {args.results!r} holds no completed run records")
    board = build(
        results.frame, baseline=args.baseline or "ce", baseline_required=args.baseline is not None
    )
    table = plan_table(board)
    shown = matching(table, args.claim)
    if args.claim and not len(shown):
        _nothing_undecided(board, args.claim)
        return 0
    if args.format == "table":
        print(
            f"claims family: {board.claims_family} tests; exploratory family: {board.family} "
            f"comparisons against {board.baseline}; Holm at α = {ALPHA}. Undecided tests: "
            f"{len(shown)}."
        )
    rows = plan_text(shown).to_dict(orient="records")
    print_rows(rows, list(shown.columns), args.format, title="seeds to decide")
    return 0


def _nothing_undecided(board, text: str) -> None:
    """``--claim`` matched no undecided test: say whether it matched a decided claim, else
    list the claims (exit 2)."""
    claims = board.claims
    hits = claims[claims["claim"].str.lower().str.contains(text.lower(), regex=False)]
    if len(hits):
        for record in hits.to_dict(orient="records"):
            print(
                f"{record['claim']}: {record['holds here?']} (no undecided test to plan: its "
                "parts are decided or not measured)"
            )
        return
    raise ConfigError(
        f"--claim {text!r} matches no claim, comparison or benchmark; claims: "
        + "; ".join(claims["claim"])
    )
