"""``hem-bench losses``: the loss registry, one loss per line (name, paper, what it computes);
``hem-bench losses NAME`` shows one loss in full (paper, formula, parameters) and
``hem-bench losses 'hem*'`` filters the list."""

from __future__ import annotations

import argparse

from hem_bench.cli._listing import add_name_argument
from hem_bench.cli._output import FORMATS


def add_plugin_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE.py",
        help="a Python file that registers losses (hem_bench.losses.register_loss) or tasks "
        "(hem_bench.tasks.register_task) (repeatable)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_name_argument(parser, "loss", "hem*")
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    add_plugin_argument(parser)


def _row(name: str) -> dict:
    from hem_bench.losses import loss_info

    info = loss_info(name)
    return {
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


def run(args: argparse.Namespace) -> int:
    from hem_bench.cli._listing import is_pattern, print_entries, select
    from hem_bench.cli._output import print_rows
    from hem_bench.losses import available_losses
    from hem_bench.plugins import load_plugin_files

    load_plugin_files(args.plugin)
    names = select(available_losses(), args.name, "loss")
    if args.name and not is_pattern(args.name) and args.format == "table":
        return details(args.name)
    rows = [_row(name) for name in names]
    if args.format != "table":
        columns = ["name", "paper", "year", "tasks", "counts", "parameters", "summary"]
        if args.format == "json":
            for row in rows:
                del row["counts"]
        print_rows(rows, columns, args.format, title="hem-bench losses")
        return 0
    lines = [
        (
            r["name"],
            _short_cite(r["paper"], r["year"]),
            "yes" if r["class_counts"] else "",
            r["summary"],
        )
        for r in rows
    ]
    print_entries(
        lines,
        ("name", "paper", "counts", "what it computes"),
        title=f"hem-bench losses: {len(rows)} of {len(available_losses())}",
        footer="counts: needs the training set's class counts (a run injects them). "
        "Every loss serves classification and segmentation unless its details say otherwise. "
        "'hem-bench losses NAME': paper, formula, parameters.",
    )
    positive = [row["name"] for row in rows if row["mean_over"] == "positive"]
    if positive:
        import textwrap

        from hem_bench.cli._listing import width

        note = (
            f"'mean' of {', '.join(positive)}: the summed loss divided by the number of "
            "examples (pixels) whose loss is positive, not by all of them (every other loss: "
            "by all non-ignored examples)"
        )
        print(textwrap.fill(note, width(), break_long_words=False, break_on_hyphens=False))
    return 0


def _short_cite(authors: str, year) -> str:
    """``Spratling 2025`` for ``Spratling & Schütt``, ``Ren 2020`` for ``Ren et al.``."""
    first = authors.split(" & ")[0].split(" et al")[0].split(",")[0].strip()
    return f"{first} {year}".strip()


def details(name: str) -> int:
    import inspect

    from hem_bench.cli._listing import print_details, table
    from hem_bench.losses import _registry, loss_info

    info = loss_info(name)
    paper = info.paper
    params = [
        (key, getattr(info.param_types.get(key), "__name__", ""), repr(default))
        for key, default in info.params.items()
    ]
    param_lines = table([(k, t, d) for k, t, d in params], ("name", "type", "default"))
    print_details(
        f"{name}: {info.summary}",
        [
            ("paper", f"{paper.authors} ({paper.year}), {paper.title}. {paper.venue}".strip()),
            ("url", paper.url),
            ("tasks", ", ".join(sorted(info.tasks))),
            (
                "class counts",
                "needed (the training set's, injected by the run)"
                if info.needs_class_counts
                else "not used",
            ),
            ("parameters", "\n".join(param_lines) if params else "none"),
            ("always", "reduction (mean, sum, none), ignore_index (default -100)"),
            (
                "usage",
                f"hem-bench run --loss {name}"
                + "".join(f" --loss-param {k}={d}" for k, _, d in params[:1]),
            ),
        ],
        text=inspect.getdoc(_registry._LOSSES[name]) or "",
    )
    return 0
