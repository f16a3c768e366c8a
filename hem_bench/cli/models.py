"""``hem-bench models``: the models, one per line: the built-in ones, then the families named
by pattern (``timm/<name>``, ``smp/<arch>:<encoder>``). A pattern lists matching names, also
inside timm's and smp's registries (``hem-bench models 'timm/resnet1*'``, ``'smp/*'``);
``hem-bench models NAME`` shows one model (input size, features, parameters)."""

from __future__ import annotations

import argparse

from hem_bench.cli._listing import add_name_argument
from hem_bench.cli._output import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_name_argument(parser, "model", "timm/resnet1*")
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )


FAMILIES = (
    ("timm/<name>", "classify", "any", "any timm model, no pretrained weights; its head replaced"),
    (
        "smp/<arch>:<encoder>",
        "segment",
        "any",
        "segmentation-models-pytorch: an architecture (unet, fpn, deeplabv3plus, ...) and an "
        "encoder (resnet18, tu-<timm name>, ...)",
    ),
)


def _rows(pattern: str | None) -> list[dict]:
    import fnmatch

    from hem_bench.models import _builtin

    rows = [
        {"name": n, "task": "classify", "input": i.input_size, "summary": i.summary}
        for n, i in sorted(_builtin().items())
    ]
    rows += [dict(zip(("name", "task", "input", "summary"), family)) for family in FAMILIES]
    if not pattern:
        return rows
    matched = [r for r in rows if fnmatch.fnmatchcase(r["name"], pattern)]
    if pattern.startswith("timm/"):
        import timm

        matched += [
            {"name": f"timm/{n}", "task": "classify", "input": "any", "summary": "timm model"}
            for n in timm.list_models(pattern.removeprefix("timm/"))
        ]
    if pattern.startswith("smp/"):
        from hem_bench.models.segmentation import _accepted_archs

        for arch in _accepted_archs():
            name = f"smp/{arch}:<encoder>"
            if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(f"smp/{arch}", pattern):
                matched.append(
                    {"name": name, "task": "segment", "input": "any", "summary": "smp " + arch}
                )
    return matched


def run(args: argparse.Namespace) -> int:
    from hem_bench.cli._listing import is_pattern, print_entries
    from hem_bench.cli._output import print_rows

    if args.name and not is_pattern(args.name) and args.format == "table":
        return details(args.name)
    rows = _rows(args.name)
    if args.name and not is_pattern(args.name):  # json/markdown of one name
        rows = [r for r in rows if r["name"] == args.name] or _rows(None)[:0]
    if args.format != "table":
        print_rows(rows, ["name", "task", "input", "summary"], args.format, "hem-bench models")
        return 0
    print_entries(
        [(r["name"], r["task"], r["input"], r["summary"]) for r in rows],
        ("name", "task", "input", "what it is"),
        title=f"hem-bench models: {len(rows)}" + (f" matching {args.name!r}" if args.name else ""),
        footer="--model NAME selects one. A pattern searches timm and smp too: "
        "hem-bench models 'timm/convnext*', 'smp/*'. 'hem-bench models NAME': one model.",
    )
    return 0


def details(name: str) -> int:
    from hem_bench.cli._listing import print_details
    from hem_bench.models import _builtin, check_model_name

    kind = "segmentation" if name.startswith("smp/") else "classification"
    check_model_name(name, kind)  # unknown names: one line naming what is accepted
    builtin = _builtin().get(name)
    if builtin is not None:
        module, features = builtin.build(1)
        params = sum(p.numel() for p in module.parameters())
        print_details(
            f"{name}: {builtin.summary}",
            [
                ("task", "classification (built in)"),
                ("input", builtin.input_size),
                ("features", f"{features} (penultimate layer; the head maps them to classes)"),
                ("parameters", f"{params:,} without the head (1 input channel)"),
                ("usage", f"hem-bench run --model {name}"),
            ],
        )
        return 0
    source = "segmentation-models-pytorch" if kind == "segmentation" else "timm"
    print_details(
        f"{name}: a {source} model",
        [
            ("task", kind),
            ("weights", "random initialisation (no pretrained weights: the suite runs offline)"),
            ("usage", f"hem-bench run --model {name}"),
        ],
    )
    return 0
