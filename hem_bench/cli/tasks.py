"""``hem-bench tasks``: the tasks, with their default data set, model, recipe and headline."""

from __future__ import annotations

import argparse

from hem_bench.cli._output import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )


def run(args: argparse.Namespace) -> int:
    from hem_bench.cli._output import print_rows
    from hem_bench.recipes import available_tasks, task_spec

    rows = []
    for name in available_tasks():
        spec = task_spec(name)
        recipe = spec.recipe(spec.default_dataset)
        augment = [f"crop {recipe.crop_padding}"] if recipe.crop_padding else []
        augment += ["flip"] if recipe.flip else []
        rows.append(
            {
                "task": name,
                "summary": spec.summary,
                "dataset": spec.default_dataset,
                "model": recipe.model,
                "recipe": (
                    f"{recipe.max_epochs} epochs, batch {recipe.batch_size}, SGD lr {recipe.lr} "
                    f"momentum {recipe.momentum}, wd {recipe.weight_decay}, cosine"
                    + (f", {' + '.join(augment)}" if augment else "")
                ),
                "headline": f"{spec.headline[0]} ({'higher' if spec.headline[1] else 'lower'} is better)",
                "metrics": spec.metrics,
                "options": {k: o.default for k, o in spec.options.items()},
                "kind": spec.kind,
            }
        )
    columns = ["task", "dataset", "model", "recipe", "headline", "options"]
    if args.format != "table":
        columns = list(rows[0])
    print_rows(rows, columns, args.format, title="hem-bench tasks")
    return 0
