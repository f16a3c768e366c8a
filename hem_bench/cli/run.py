"""``hem-bench run``: train and evaluate one model, and write its run record.

Settings come from the task's recipe, then ``--config FILE.yaml``, then the flags. They
are validated before training starts: bad input exits with code 2 and one line naming the
value and what is accepted. A run that fails while training writes a failed record and
exits with code 1. A configuration whose completed record exists is not run again (its
record is shown) unless ``--force`` is given. A ``record.json`` that cannot be read, or an
interrupted run (a checkpoint without a record), stops the command with one line saying
what to do (``--force`` moves the record aside; ``--resume`` continues the run); see
:func:`hem_bench.runner.prepare_start`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hem_bench.cli._options import (
    add_key_value_flag,
    add_task_option_flags,
    task_options_from,
)

#: flags copied into the configuration when given (dest -> config field)
SETTINGS = (
    "task",
    "loss",
    "dataset",
    "data_dir",
    "model",
    "head",
    "dropout",
    "final_l2",
    "seed",
    "max_epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "optimizer",
    "output_bias",
    "precision",
    "accelerator",
    "devices",
    "strategy",
    "threads",
    "out",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("what to run")
    what.add_argument("--task", help="task (hem-bench tasks lists them; default ood)")
    what.add_argument("--loss", help="loss (hem-bench losses lists them; default ce)")
    add_key_value_flag(
        what,
        "--loss-param",
        "a parameter of the loss, typed by the loss (repeatable), e.g. margin=2",
    )
    what.add_argument(
        "--dataset", help="data set (hem-bench datasets lists them; default: the task's)"
    )
    what.add_argument("--data-dir", help="folder holding data sets that are not shipped")
    what.add_argument(
        "--download", action="store_true", default=None, help="fetch missing data sets"
    )
    what.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        default=None,
        help="load data files whose checksums do not match the official release",
    )
    add_key_value_flag(
        what, "--task-option", "a setting of the task (hem-bench tasks lists them; repeatable)"
    )
    add_task_option_flags(what)
    model = parser.add_argument_group(
        "model and recipe (defaults: the task's recipe for the data set)"
    )
    model.add_argument("--model", help="built-in model or timm/<name>")
    model.add_argument("--head", choices=("linear", "cosine"), help="output layer (default linear)")
    model.add_argument("--dropout", type=float, help="dropout on the penultimate layer (default 0)")
    model.add_argument(
        "--final-l2",
        type=float,
        help="extra L2 penalty lambda/2 ‖W‖² on the final layer (default 0)",
    )
    model.add_argument("--seed", type=int, help="random seed (default 0)")
    model.add_argument("--max-epochs", type=int, help="training epochs")
    model.add_argument("--batch-size", type=int, help="training batch size")
    model.add_argument("--lr", type=float, help="initial learning rate")
    model.add_argument("--weight-decay", type=float, help="weight decay")
    model.add_argument(
        "--optimizer", choices=("sgd", "adamw"), help="sgd (with momentum 0.9) or adamw"
    )
    model.add_argument(
        "--output-bias",
        choices=("default", "prior"),
        help="start of the output layer's bias: the layer's default, or the log frequency of "
        "each class in the training set",
    )
    engine = parser.add_argument_group("engineering (passed to Lightning's Trainer)")
    engine.add_argument("--precision", help="32-true (default), bf16-mixed, 16-mixed, 64-true, ...")
    engine.add_argument("--accelerator", help="auto (default), cpu, gpu, mps")
    engine.add_argument(
        "--devices", help="number of devices, 'auto', or a list like 0,1 (default 1)"
    )
    engine.add_argument("--strategy", help="auto (default), ddp, ddp_spawn, fsdp, ...")
    engine.add_argument(
        "--threads",
        type=int,
        help="CPU threads of torch (default: torch's default here); part of the run id",
    )
    engine.add_argument(
        "--compile", action="store_true", default=None, help="torch.compile the model"
    )
    engine.add_argument(
        "--channels-last",
        action="store_true",
        default=None,
        help="channels-last memory format for the model (faster convolutions on GPUs)",
    )
    output = parser.add_argument_group("output")
    output.add_argument("--out", help="results folder (default results/)")
    output.add_argument("--config", metavar="FILE.yaml", help="settings file; flags override it")
    output.add_argument(
        "--print-config", action="store_true", help="print the resolved settings and exit"
    )
    output.add_argument(
        "--resume", action="store_true", help="continue from the run's last checkpoint"
    )
    output.add_argument(
        "--force", action="store_true", help="run again even if a completed record exists"
    )
    output.add_argument("--no-progress", action="store_true", help="no progress bar")
    output.add_argument(
        "--logger",
        action="append",
        choices=("csv", "tensorboard", "wandb", "mlflow"),
        metavar="NAME",
        help="experiment logger: csv (default), tensorboard, wandb (offline unless WANDB_MODE "
        "says otherwise) or mlflow (MLFLOW_TRACKING_URI, else <out>/mlruns); repeatable",
    )
    output.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE.py",
        help="a Python file that registers losses (repeatable)",
    )


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: getattr(args, name) for name in SETTINGS if getattr(args, name, None) is not None
    }
    for name in ("download", "verify", "compile", "channels_last"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    if args.loss_param:
        values["loss_params"] = dict(args.loss_param)
    options = task_options_from(args)
    if options:
        values["task_options"] = options
    if args.plugin:
        values["plugins"] = list(args.plugin)
    if args.no_progress:
        values["progress"] = False
    if getattr(args, "logger", None):
        values["loggers"] = list(args.logger)
    return values


def resolve(args: argparse.Namespace):
    """The resolved configuration of ``args`` (:func:`hem_bench.checks.resolve_settings`,
    the one validation); raises :class:`~hem_bench.errors.ConfigError` on bad input."""
    from hem_bench.checks import resolve_settings

    return resolve_settings(args.config, overrides_from(args))


def summary_rows(record: dict, task=None) -> list[dict[str, str]]:
    """The headline, then the task's key metrics the record has and the task's further
    summary metrics (``task``: the run's :class:`~hem_bench.tasks.Task`; without it, the
    headline only)."""
    metrics = record["metrics"]
    headline = record["headline"]["name"]
    keys = task.summary_keys(metrics) if task is not None else [headline]
    return [
        {"metric": k + (" (headline)" if k == headline else ""), "value": f"{metrics[k]:.4f}"}
        for k in keys
        if k in metrics
    ]


def summary_title(record: dict, width: int | None = None) -> str:
    """One line naming the run (task, data, model, loss, seed), cut at a word boundary to
    the terminal's width (at most 100 columns) rather than wrapped inside the table."""
    from hem_bench.cli._listing import fit
    from hem_bench.cli._listing import width as terminal_width

    title = (
        f"{record['task']} / {record['dataset']} / {record['loss']} / seed {record['seed']}"
        f" / {record.get('model', '')}"
    )
    return fit(title, min(100, width or terminal_width()))


def _already_completed(resolved) -> None:
    print(
        f"hem-bench run: already completed (run {resolved.run_id}); use --force to run again",
        file=sys.stderr,
    )


def run(args: argparse.Namespace) -> int:
    import textwrap

    from hem_bench.cli._listing import width
    from hem_bench.cli._output import print_rows
    from hem_bench.config import to_yaml
    from hem_bench.errors import one_line

    resolved = resolve(args)
    if args.print_config:
        sys.stdout.write(to_yaml(resolved))
        return 0

    from hem_bench.runner import (
        AlreadyCompleted,
        RecordNotWritten,
        RunFailed,
        RunInterrupted,
        existing_record,
    )
    from hem_bench.runner import run as run_one

    def notice(message: str) -> None:
        print(f"hem-bench run: {message}", file=sys.stderr)

    # --resume continues an unfinished run; a completed one is only run again with --force
    record = None if args.force else existing_record(resolved)
    path = resolved.run_dir() / "record.json"
    if record is None:
        try:
            record, path = run_one(resolved, resume=args.resume, force=args.force, notice=notice)
        except AlreadyCompleted as done:  # completed meanwhile, or found under the claim
            record, path = done.record, done.record_path
            _already_completed(resolved)
        except RunInterrupted as exc:
            print(f"hem-bench run: {exc}", file=sys.stderr)
            return 130
        except RecordNotWritten as exc:
            print(f"hem-bench run: failed: {one_line(str(exc))}", file=sys.stderr)
            return 1
        except RunFailed as exc:
            message = one_line(f"{exc} (failed record: {exc.record_path})", limit=4000)
            print(f"hem-bench run: failed: {message}", file=sys.stderr)
            return 1
    else:
        _already_completed(resolved)
    from hem_bench.runner import _is_global_zero

    if not _is_global_zero():  # other DDP processes: rank 0 reports
        return 0
    print(summary_title(record))
    print_rows(summary_rows(record, resolved.task_def), ["metric", "value"], "table")
    for note in resolved.task_def.summary_notes(record["metrics"]):
        print(textwrap.fill(note, min(100, width()), subsequent_indent="  "))
    print(f"record: {path}")
    return 0
