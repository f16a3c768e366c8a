"""``hem-bench losses``: the loss registry as a table (name, paper, tasks, parameters)."""

from __future__ import annotations

import argparse

from hem_bench.cli._output import FORMATS


def add_plugin_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE.py",
        help="a Python file that registers losses with hem_bench.losses.register_loss (repeatable)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    from hem_bench.cli._output import print_rows
    from hem_bench.losses import available_losses, loss_info
    from hem_bench.plugins import load_plugin_files

    load_plugin_files(args.plugin)
    rows = []
    for name in available_losses():
        info = loss_info(name)
        rows.append(
            {
                "name": name,
                "summary": info.summary,
                "paper": info.paper.authors,
                "year": info.paper.year or "",
                "title": info.paper.title,
                "url": info.paper.url,
                "tasks": sorted(info.tasks),
                "class_counts": info.needs_class_counts,
                "counts": "needed" if info.needs_class_counts else "",
                "parameters": dict(info.params),
                "mean_over": info.mean_over,
            }
        )
    columns = ["name", "paper", "year", "tasks", "counts", "parameters", "summary"]
    if args.format == "json":
        for row in rows:
            del row["counts"]
    print_rows(rows, columns, args.format, title="hem-bench losses")
    positive = [row["name"] for row in rows if row["mean_over"] == "positive"]
    if positive and args.format == "table":
        print(
            f"'mean' of {', '.join(positive)}: the summed loss divided by the number of "
            "examples (pixels) whose loss is positive, not by all of them (every other loss: "
            "by all non-ignored examples)"
        )
    return 0
