"""``hem-bench datasets``: the data set registry as a table."""

from __future__ import annotations

import argparse

from hem_bench.cli._output import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )


def run(args: argparse.Namespace) -> int:
    from hem_bench.cli._output import print_rows
    from hem_bench.datamodules.base import available_datasets, dataset_info

    rows = []
    for name in available_datasets():
        info = dataset_info(name)
        rows.append(
            {
                "name": name,
                "kind": info.kind,
                "classes": info.num_classes or "from data",
                "input": "x".join(map(str, info.input_shape)),
                "shipped": "yes" if info.embedded else "",
                "where": "(installed)" if info.embedded else f"DATA_DIR/{info.folder}",
                "download": "yes" if info.downloadable and not info.embedded else "",
                "license": info.license,
                "source": info.paper,
                "homepage": info.homepage,
                "description": info.description,
            }
        )
    columns = [
        "name",
        "kind",
        "classes",
        "input",
        "shipped",
        "where",
        "download",
        "license",
        "source",
    ]
    if args.format == "json":
        columns = list(rows[0]) if rows else columns
    print_rows(rows, columns, args.format, title="hem-bench datasets")
    return 0
