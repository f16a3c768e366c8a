"""``hem-bench tasks``: the tasks, one per line (default data and model, headline, what it
measures); ``hem-bench tasks NAME`` shows one task in full: recipe, metrics, and every option
with its help text, type, default and accepted range."""

from __future__ import annotations

import argparse

from hem_bench.cli._listing import add_name_argument
from hem_bench.cli._output import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_name_argument(parser, "task", "c*")
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )


def _recipe_text(recipe) -> str:
    augment = [f"crop {recipe.crop_padding}"] if recipe.crop_padding else []
    augment += ["flip"] if recipe.flip else []
    return (
        f"{recipe.max_epochs} epochs, batch {recipe.batch_size}, SGD lr {recipe.lr} "
        f"momentum {recipe.momentum}, wd {recipe.weight_decay}, cosine"
        + (f", {' + '.join(augment)}" if augment else "")
    )


def _row(name: str) -> dict:
    from hem_bench.recipes import task_spec

    spec = task_spec(name)
    recipe = spec.recipe(spec.default_dataset)
    return {
        "task": name,
        "summary": spec.summary,
        "dataset": spec.default_dataset,
        "model": recipe.model,
        "recipe": _recipe_text(recipe),
        "headline": f"{spec.headline[0]} ({'higher' if spec.headline[1] else 'lower'} is better)",
        "metrics": spec.metrics,
        "options": {k: o.default for k, o in spec.options.items()},
        "kind": spec.kind,
    }


def run(args: argparse.Namespace) -> int:
    from hem_bench.cli._listing import is_pattern, print_entries, select
    from hem_bench.cli._output import print_rows
    from hem_bench.recipes import available_tasks, task_spec

    names = select(available_tasks(), args.name, "task")
    if args.name and not is_pattern(args.name) and args.format == "table":
        return details(args.name)
    rows = [_row(name) for name in names]
    if args.format != "table":
        print_rows(rows, list(rows[0]) if rows else ["task"], args.format, title="hem-bench tasks")
        return 0
    lines = []
    for r in rows:
        spec = task_spec(r["task"])
        arrow = "↑" if spec.headline[1] else "↓"
        lines.append((r["task"], r["dataset"], f"{spec.headline[0]} {arrow}", r["summary"]))
    print_entries(
        lines,
        ("task", "data", "headline", "what it measures"),
        title=f"hem-bench tasks: {len(rows)} of {len(available_tasks())}",
        footer="'hem-bench tasks NAME': recipe, metrics, and every option "
        "(--task-option KEY=VALUE) with its type, default and range.",
    )
    return 0


def details(name: str) -> int:
    import textwrap

    from hem_bench.cli._listing import print_details, width
    from hem_bench.recipes import OPTION_RANGES, task_spec

    spec = task_spec(name)
    recipe = spec.recipe(spec.default_dataset)
    ranges = OPTION_RANGES.get(name, {})
    options = [
        (
            key,
            option.type.__name__,
            repr(option.default),
            ranges.get(key, "any " + option.type.__name__),
            option.help,
        )
        for key, option in spec.options.items()
    ]
    recipes = "\n".join(f"{ds}: {r.model}, {_recipe_text(r)}" for ds, r in spec.recipes.items())
    arrow = "higher" if spec.headline[1] else "lower"
    print_details(
        f"{name}: {spec.summary}",
        [
            ("kind", spec.kind),
            ("data", f"{spec.default_dataset} (default); any of: {', '.join(spec.recipes)}"),
            ("model", f"{recipe.model} (default for {spec.default_dataset}); --model to change"),
            ("headline", f"{spec.headline[0]} ({arrow} is better)"),
            ("metrics", spec.metrics),
            ("recipes", recipes),
        ],
    )
    print()
    if not options:
        print("options: none")
        return 0
    print("options (--task-option KEY=VALUE):")
    total = width()
    pad = max(len(key) for key, *_ in options) + 4
    for key, kind, default, accepted, help_text in options:
        for text, lead in (
            (help_text, f"  {key}".ljust(pad)),
            (f"type {kind}, default {default}, accepts: {accepted}", " " * pad),
        ):
            print(
                textwrap.fill(
                    text,
                    width=total,
                    initial_indent=lead,
                    subsequent_indent=" " * pad,
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
    return 0
