"""``hem-bench analyze``: representation analysis of trained runs (Kornblith et al. 2021):
class separation R², layer-by-layer CKA within and between losses, and linear-probe
transfer to held-out classes. The work is done by :mod:`hem_bench.analysis.study`.

Run records are only read unless ``--write-records`` is given: an analysis does not change
what a run recorded behind the user's back.
"""

from __future__ import annotations

import argparse

from hem_bench.cli._output import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        required=True,
        metavar="DIR",
        help="folder holding the run folders (searched at any depth for record.json)",
    )
    parser.add_argument(
        "--losses",
        default=None,
        metavar="A,B,...",
        help="analyse only the runs of these losses (default: every loss with runs)",
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="output folder (default: DIR/analysis)"
    )
    parser.add_argument(
        "--task", default="classify", help="the task whose runs to analyse (default: classify)"
    )
    parser.add_argument(
        "--max-examples",
        type=int,
        default=1000,
        metavar="N",
        help="test images used for CKA, a fixed random subset (default: 1000; memory about "
        "8*N^2 bytes per layer and run). Class separation and transfer use all images",
    )
    parser.add_argument(
        "--unbiased-cka",
        action="store_true",
        help="use the unbiased HSIC estimator (Nguyen et al. 2021) instead of the biased one",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where to run the models (default: auto = cuda if available)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, metavar="N", help="images per forward pass"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG heatmaps")
    parser.add_argument(
        "--write-records",
        action="store_true",
        help="also write the results into the analysed runs' record.json (a top-level "
        "'analysis' and two metrics the leaderboard shows); by default records are only read",
    )
    parser.add_argument(  # the former opt-out, now the default; kept so old commands work
        "--no-records", action="store_true", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="summary output format (default: table)"
    )


def run(args: argparse.Namespace) -> int:
    import sys

    from hem_bench.analysis.study import analyse, parse_losses
    from hem_bench.cli._output import print_rows
    from hem_bench.errors import ConfigError

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be a positive integer; got {args.batch_size}")
    report = analyse(
        args.results,
        out=args.out,
        task=args.task,
        losses=parse_losses(args.losses),
        max_examples=args.max_examples,
        unbiased=args.unbiased_cka,
        device=args.device,
        batch_size=args.batch_size,
        plots=not args.no_plots,
        update_records=args.write_records and not args.no_records,
        log=lambda message: print(message, file=sys.stderr),
    )
    rows = [
        {
            **row,
            **{
                k: (f"{row[k]:.4f}" if isinstance(row[k], float) else row[k])
                for k in ("acc", "headline_value", "class_separation", "transfer_acc")
                if row.get(k) is not None
            },
        }
        for row in report["summary"]
    ]
    columns = ["group", "loss", "acc", "class_separation", "transfer_acc", "note"]
    if any(row.get("headline") != "acc" for row in report["summary"]):
        columns[3:3] = ["headline", "headline_value"]
    if args.format == "json":
        rows = report["summary"]
    print_rows(rows, columns, args.format, title="hem-bench analyze: separation and transfer")
    if args.format != "json":
        for name, group in report["groups"].items():
            layers = group["layers"]
            pairs = [
                {"pair": pair, **{k: f"{v:.3f}" for k, v in values.items()}}
                for pair, values in group["cka_between"].items()
                if len(set(pair.split(" vs "))) == 2
            ]
            if pairs:
                print_rows(
                    pairs,
                    ["pair", *layers],
                    args.format,
                    title=f"CKA between losses, same layer — {name}",
                )
        print(f"analysis written to {report['out']}")
    return 0
