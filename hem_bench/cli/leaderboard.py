"""``hem-bench leaderboard``: tables and an HTML report from the run records under a folder.

Reads every ``record.json`` under ``--results`` (:mod:`hem_bench.results.store`), builds
the tables (:mod:`hem_bench.results.leaderboard`) and writes into ``--out``:

- ``leaderboard.md``: every table in Markdown (format ``md``), and the claims table written
  into ``README.md`` of the output folder where that file holds the claims markers
  (:data:`CLAIMS_START`, :data:`CLAIMS_END`);
- ``overall.csv``, ``<protocol>.csv`` per benchmark, ``paired-<baseline>.csv``,
  ``protocols.csv``, ``ranks.csv``, ``claims.csv`` and
  ``lr-sensitivity-<task>-<dataset>.csv`` (format ``csv``);
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
from hem_bench.cli.losses import add_plugin_argument
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


def markdown_document(board, header: str) -> str:
    """Every table of the leaderboard as one Markdown document; every string from records
    goes through :func:`~hem_bench.results.leaderboard.markdown_text`."""
    from hem_bench.results.leaderboard import (
        ANALYSIS_NOTE,
        markdown_table,
        markdown_text,
    )

    parts = [
        "# hem-bench leaderboard\n",
        markdown_text(header) + "\n",
        *protocols_section(board),
        "## Overall: generality\n",
        "Mean headline per benchmark, the rank of each loss there (1 = best; ties share the "
        "average rank) and the mean rank over benchmarks, sorted by mean rank. Only the main "
        "protocol of each task and data set is ranked.\n",
        markdown_table(board.overall_display()),
        *ranks_section(board),
        *paired_section(board),
    ]
    for table in board.tables:
        direction = "higher" if table.higher_is_better else "lower"
        parts.append(f"## {markdown_text(table.label)}\n")
        parts.append(
            f"Model {markdown_text(table.model)}; headline {markdown_text(table.headline)} "
            f"({direction} is better); mean ± std over n seeds, and the 95% t-interval of "
            "the headline's mean.\n"
        )
        parts.append(markdown_table(table.display()))
    parts += sensitivity_section(board)
    if board.analysis:
        parts.append("## Representation analysis\n")
        parts.append(ANALYSIS_NOTE + "\n")
        for table in board.analysis:
            parts.append(f"### {markdown_text(table.label)}\n")
            parts.append(f"Model {markdown_text(table.model)}; mean ± std over n seeds.\n")
            parts.append(markdown_table(table.display()))
    parts += claims_section(board)
    return "\n".join(parts)


def protocols_section(board) -> list[str]:
    """The protocols found: one row each, with the settings that distinguish it."""
    from hem_bench.results.leaderboard import markdown_table

    if not len(board.protocols):
        return []
    return [
        "## Protocols\n",
        "A benchmark is a protocol: every setting but the loss, its parameters and the seed "
        "(model, head, epochs, learning rate, batch size, task options, ...). Runs of "
        "different protocols are never averaged, ranked or tested together. The main "
        "protocol of a task and data set keeps its plain name; another is named by the "
        "settings in which it differs, and so are its losses (`ce(head=cosine)`).\n",
        markdown_table(board.protocols_display()),
    ]


def ranks_section(board) -> list[str]:
    """The generality ranking with its bootstrap uncertainty."""
    from hem_bench.results.leaderboard import markdown_table
    from hem_bench.results.stats import BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED

    if not len(board.ranks):
        return []
    return [
        "### How sure is the ranking\n",
        f"A bootstrap over seeds ({BOOTSTRAP_REPLICATES} replicates, generator seed "
        f"{BOOTSTRAP_SEED}): each replicate redraws every benchmark's seeds with replacement, "
        "ranks the losses on the redrawn means and averages the ranks. 95% interval of each "
        "loss's mean rank, and how often it ranks first; overlapping intervals mean the "
        "ranks are not clearly different.\n",
        markdown_table(board.ranks_display()),
    ]


def paired_section(board) -> list[str]:
    """The paired comparisons with the baseline."""
    from hem_bench.results.leaderboard import (
        ALPHA,
        WILCOXON_MIN_PAIRS,
        markdown_table,
        markdown_text,
    )

    return [
        f"## Paired comparisons against {markdown_text(board.baseline)}\n",
        "Per-seed headline differences (positive = better than the baseline), their mean "
        "(the effect size) and its 95% t-interval; two-sided paired t-test from 2 seeds, "
        f"Wilcoxon signed-rank from {WILCOXON_MIN_PAIRS}. The t-test p-values are "
        f"Holm-corrected over the family of all {board.family} comparisons of this table "
        f"(every benchmark and loss); verdicts from the corrected p at {ALPHA}.\n",
        markdown_table(board.paired_display())
        if len(board.paired)
        else "No loss shares a benchmark with the baseline.\n",
    ]


def sensitivity_section(board) -> list[str]:
    """The learning-rate sensitivity tables."""
    from hem_bench.results.leaderboard import markdown_table, markdown_text

    if not board.sensitivity:
        return []
    parts = [
        "## Learning-rate sensitivity\n",
        "Protocols of one task that differ only in the learning rate, side by side: each "
        "loss's headline (mean ± std over seeds, rank among the losses at that rate). The "
        "recipe is chosen for cross-entropy; a ranking that changes with the rate depends "
        "on the recipe more than on the loss.\n",
    ]
    for item in board.sensitivity:
        parts.append(f"### {markdown_text(item.task)}/{markdown_text(item.dataset)}\n")
        parts.append(markdown_table(item.display()))
    return parts


def claims_section(board, level: str = "##") -> list[str]:
    """The papers' claims, re-tested: claim | source | what the grid shows | verdict."""
    from hem_bench.results.claims import EQUIVALENCE_MARGIN
    from hem_bench.results.leaderboard import ALPHA, markdown_table

    if not len(board.claims):
        return []
    family = board.claims.attrs.get("family", 0)
    return [
        f"{level} The papers' claims, re-tested\n",
        "Each claim compares two losses on one task's headline in its main protocol "
        "(differences a − b, positive = a better, with their 95% t-interval over seeds). "
        f"A verdict comes from the paired t-tests Holm-corrected over the family of all "
        f'{family} tests of this table, at {ALPHA}: "better" holds when the corrected p '
        'is below it in the claimed direction and does not hold in the other; "as good '
        'as" holds when the difference is not significant and its interval lies within '
        f"±{EQUIVALENCE_MARGIN}; anything else is inconclusive. Kornblith et al.'s claims "
        "use `hem-bench analyze` results (Spearman correlations across losses; CKA between "
        "losses at the first and last layers).\n",
        markdown_table(board.claims),
    ]


#: the markers between which ``--format md`` writes the claims table into a README.md
#: that already holds them in the output folder
CLAIMS_START = "<!-- claims: made by hem-bench leaderboard -->"
CLAIMS_END = "<!-- end of claims -->"


def update_readme(path: Path, board) -> bool:
    """Replace the text between :data:`CLAIMS_START` and :data:`CLAIMS_END` in ``path``
    with the claims table; False (nothing written) when the file or a marker is absent."""
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    start, end = text.find(CLAIMS_START), text.find(CLAIMS_END)
    if start < 0 or end < start:
        return False
    body = "\n".join(claims_section(board, level="##"))
    new = text[: start + len(CLAIMS_START)] + "\n\n" + body + "\n" + text[end:]
    if new != text:
        write_atomic(path, new)
    return True


def run(args: argparse.Namespace) -> int:
    """Read the records, build the tables and write the chosen outputs."""
    formats = parse_formats(args.format)
    from datetime import datetime, timezone

    from hem_bench.plugins import load_plugin_files
    from hem_bench.results.leaderboard import build, summary, text_table
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
    from hem_bench.results.report import header_text

    header = header_text(results, when)
    written: list[Path] = []

    plots = []
    if "png" in formats or "html" in formats:
        from hem_bench.results.plots import all_plots

        plots = all_plots(results.frame, board.tables)  # drawn by loss variant
    if "md" in formats:
        written.append(write_atomic(out / "leaderboard.md", markdown_document(board, header)))
        if update_readme(out / "README.md", board):
            written.append(out / "README.md")
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
        written.append(write_atomic(out / "protocols.csv", _protocols_csv(board)))
        written.append(write_atomic(out / "ranks.csv", board.ranks.to_csv(index=False)))
        written.append(write_atomic(out / "claims.csv", board.claims.to_csv(index=False)))
        for item in board.sensitivity:
            name = _file_name(f"lr-sensitivity-{item.task}-{item.dataset}")
            written.append(write_atomic(out / f"{name}.csv", item.table.to_csv(index=False)))
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
    if len(board.ranks):
        print("mean rank with its 95% bootstrap interval over seeds:")
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
    print(f"wrote {len(written)} files into {out}:")
    for path in written:
        print(f"  {path}")
    return 0


def _protocols_csv(board) -> str:
    """The protocols table for CSV: the settings as JSON text."""
    import json

    out = board.protocols.copy()
    if len(out):
        out["settings"] = [json.dumps(v, sort_keys=True, default=str) for v in out["settings"]]
    return out.to_csv(index=False)


def _file_name(text: str) -> str:
    """``text`` made safe as part of a file name (the baseline in ``paired-<baseline>.csv``)."""
    from hem_bench.results.leaderboard import slug

    return slug(text)
