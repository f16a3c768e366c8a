"""``hem-bench datasets``: the data sets, one per line; with ``--data-dir DIR``, whether each
is present there. ``hem-bench datasets NAME`` shows one in full (source, license, folder)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hem_bench.cli._listing import add_name_argument
from hem_bench.cli._output import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_name_argument(parser, "data set", "*mnist")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the data sets that are not shipped: says which are present",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )


def presence(info, data_dir: str | None) -> str:
    """Where the data set ``info`` stands: shipped, present under ``data_dir``, or missing
    (a quick look for its folder; the loader checks the files and checksums when a run
    starts)."""
    if info.embedded:
        return "shipped"
    if data_dir is None:
        return "not shipped"
    folder = Path(data_dir).expanduser() / info.folder
    if folder.is_dir() and any(folder.iterdir()):
        return "present"
    return "missing" + (" (--download)" if info.downloadable else "")


def _row(name: str, data_dir: str | None) -> dict:
    from hem_bench.datamodules.base import dataset_info

    info = dataset_info(name)
    return {
        "name": name,
        "kind": info.kind,
        "classes": info.num_classes or "from data",
        "input": "x".join(map(str, info.input_shape)),
        "shipped": "yes" if info.embedded else "",
        "where": "(installed)" if info.embedded else f"DATA_DIR/{info.folder}",
        "status": presence(info, data_dir),
        "download": "yes" if info.downloadable and not info.embedded else "",
        "license": info.license,
        "source": info.paper,
        "homepage": info.homepage,
        "description": info.description,
    }


def run(args: argparse.Namespace) -> int:
    from hem_bench.cli._listing import is_pattern, print_entries, select
    from hem_bench.cli._output import print_rows
    from hem_bench.datamodules.base import available_datasets
    from hem_bench.errors import ConfigError

    if args.data_dir is not None and not Path(args.data_dir).expanduser().is_dir():
        raise ConfigError(f"--data-dir {args.data_dir!r} is not a folder")
    names = select(available_datasets(), args.name, "dataset")
    if args.name and not is_pattern(args.name) and args.format == "table":
        return details(args.name, args.data_dir)
    rows = [_row(name, args.data_dir) for name in names]
    if args.format != "table":
        columns = list(rows[0]) if rows else ["name"]
        if args.format == "markdown":
            columns = ["name", "kind", "classes", "input", "status", "where", "download"]
            columns += ["license", "source"]
        print_rows(rows, columns, args.format, title="hem-bench datasets")
        return 0
    lines = [
        (
            r["name"],
            "segment" if r["kind"] == "segmentation" else "classify",
            str(r["classes"]) if r["classes"] != "from data" else "any",
            r["input"],
            r["status"],
            r["description"] or r["source"],
        )
        for r in rows
    ]
    where = f" in {args.data_dir}" if args.data_dir else ""
    print_entries(
        lines,
        ("name", "task", "classes", "input", f"status{where and '*'}", "what it is"),
        title=f"hem-bench datasets: {len(rows)} of {len(available_datasets())}",
        footer=(
            f"* status{where}. "
            if where
            else "Pass --data-dir DIR to see which are present there. "
        )
        + "'hem-bench datasets NAME': source, license, the folder it is read from.",
    )
    return 0


def details(name: str, data_dir: str | None) -> int:
    from hem_bench.cli._listing import print_details
    from hem_bench.datamodules.base import dataset_info

    info = dataset_info(name)
    row = _row(name, data_dir)
    folder = "(installed with hem-bench)" if info.embedded else f"DATA_DIR/{info.folder}"
    print_details(
        f"{name}: {info.description or info.paper}",
        [
            ("kind", info.kind),
            ("classes", str(row["classes"])),
            ("input", row["input"]),
            ("source", info.paper),
            ("homepage", info.homepage),
            ("license", info.license),
            ("folder", folder),
            ("download", "--download fetches it" if row["download"] else "no"),
            ("status", row["status"] + (f" in {data_dir}" if data_dir else "")),
        ],
    )
    return 0
