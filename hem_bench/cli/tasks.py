"""``hem-bench tasks``: the tasks, one per line (default data and model, headline, what it
measures); ``hem-bench tasks NAME`` shows one task in full: recipe, metrics, and every option
with its help text, type, default and accepted range."""

from __future__ import annotations

import argparse

from hem_bench.cli._listing import add_name_argument
from hem_bench.cli._output import FORMATS
from hem_bench.cli.losses import add_plugin_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_name_argument(parser, "task", "c*")
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    add_plugin_argument(parser)


def _recipe_text(recipe) -> str:
    augment = [f"crop {recipe.crop_padding}"] if recipe.crop_padding else []
    augment += ["flip"] if recipe.flip else []
    return (
        f"{recipe.max_epochs} epochs, batch {recipe.batch_size}, "
        + (
            f"AdamW lr {recipe.lr}"
            if recipe.optimizer == "adamw"
            else f"SGD lr {recipe.lr} momentum {recipe.momentum}"
        )
        + f", wd {recipe.weight_decay}, cosine"
        + (", output bias at the log class prior" if recipe.output_bias == "prior" else "")
        + (f", {' + '.join(augment)}" if augment else "")
    )


def _row(task) -> dict:
    recipe = task.recipe(task.default_dataset)
    direction = "higher" if task.headline.higher_is_better else "lower"
    return {
        "task": task.name,
        "summary": task.summary,
        "dataset": task.default_dataset,
        "model": recipe.model,
        "recipe": _recipe_text(recipe),
        "headline": f"{task.headline.name} ({direction} is better)",
        "metrics": task.metrics,
        "options": {k: o.default for k, o in task.option_infos().items()},
        "kind": task.kind,
    }


def run(args: argparse.Namespace) -> int:
    from hem_bench.cli._listing import is_pattern, print_entries, select
    from hem_bench.cli._output import print_rows
    from hem_bench.plugins import load_plugin_files
    from hem_bench.tasks import available_tasks, get_task

    load_plugin_files(args.plugin)
    names = select(available_tasks(), args.name, "task")
    if args.name and not is_pattern(args.name) and args.format == "table":
        return details(get_task(args.name))
    tasks = [get_task(name) for name in names]
    rows = [_row(task) for task in tasks]
    if args.format != "table":
        print_rows(rows, list(rows[0]) if rows else ["task"], args.format, title="hem-bench tasks")
        return 0
    lines = [
        (t.name, t.default_dataset, f"{t.headline.name} {t.headline.arrow}", t.summary)
        for t in tasks
    ]
    print_entries(
        lines,
        ("task", "data", "headline", "what it measures"),
        title=f"hem-bench tasks: {len(rows)} of {len(available_tasks())}",
        footer="'hem-bench tasks NAME': recipe, metrics, and every option "
        "(--task-option KEY=VALUE) with its type, default and range.",
    )
    return 0


def details(task) -> int:
    import textwrap

    from hem_bench.cli._listing import print_details, width

    recipe = task.recipe(task.default_dataset)
    options = [
        (key, o.kind.__name__, _shown(o.default), o.accepts, o.help)
        for key, o in task.option_infos().items()
    ]
    recipes = "\n".join(f"{ds}: {r.model}, {_recipe_text(r)}" for ds, r in task.recipes.items())
    arrow = "higher" if task.headline.higher_is_better else "lower"
    key_metrics = ", ".join(f"{m.name} {m.arrow}" for m in task.key_metrics)
    print_details(
        f"{task.name}: {task.summary}",
        [
            ("kind", task.kind),
            (
                "data",
                f"{task.default_dataset} (default); any of: {', '.join(task.recipes)}",
            ),
            (
                "model",
                f"{recipe.model} (default for {task.default_dataset}); --model to change",
            ),
            ("headline", f"{task.headline.name} ({arrow} is better); key metrics: {key_metrics}"),
            ("metrics", task.metrics),
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


def _shown(default) -> str:
    """An option's default as a configuration file writes it: ``false``, ``3``, ``'all'``."""
    if isinstance(default, bool):
        return "true" if default else "false"
    return repr(default)
