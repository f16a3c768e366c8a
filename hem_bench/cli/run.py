"""``hem-bench run``: train and evaluate one model, and write its run record.

Settings come from the task's recipe, then ``--config FILE.yaml``, then the flags. They
are validated before training starts: bad input exits with code 2 and one line naming the
value and what is accepted. A run that fails while training writes a failed record and
exits with code 1. A configuration whose completed record exists is not run again (its
record is shown) unless ``--force`` is given. A ``record.json`` that cannot be read, or an
interrupted run (a checkpoint without a record), stops the command with one line saying
what to do (``--force`` moves the record aside; ``--resume`` continues the run); see
:func:`hem_bench.run_state.prepare_start`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hem_bench.cli._options import add_task_option_flags, task_options_from
from hem_bench.cli._settings import add_setting_flags, settings_from


def add_arguments(parser: argparse.ArgumentParser, config_class: type | None = None) -> None:
    """The run's flags: one per setting of the configuration model (``config_class``, by
    default :class:`~hem_bench.config.RunConfig`; see :mod:`hem_bench.cli._settings`), the
    task options' shorthands, and what the command does with the run."""
    from hem_bench.settings import GROUPS

    groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    add_setting_flags(groups, config_class)
    add_task_option_flags(groups["what"])
    output = groups["output"]
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
    parser.set_defaults(_config_class=config_class)


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the flags gave, the task options' shorthands merged in."""
    values = settings_from(args, getattr(args, "_config_class", None))
    options = task_options_from(args)
    if options:
        values["task_options"] = options
    return values


def resolve(args: argparse.Namespace):
    """The resolved configuration of ``args`` (:func:`hem_bench.checks.resolve_settings`,
    the one validation); raises :class:`~hem_bench.errors.ConfigError` on bad input."""
    from hem_bench.checks import resolve_settings
    from hem_bench.config import RunConfig

    config_class = getattr(args, "_config_class", None) or RunConfig
    return resolve_settings(args.config, overrides_from(args), config_class)


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

    from hem_bench.run_state import AlreadyCompleted, existing_record
    from hem_bench.runner import RecordNotWritten, RunFailed, RunInterrupted
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
    from hem_bench.trainer import is_global_zero

    if not is_global_zero():  # other DDP processes: rank 0 reports
        return 0
    print(summary_title(record))
    print_rows(summary_rows(record, resolved.task_def), ["metric", "value"], "table")
    for note in resolved.task_def.summary_notes(record["metrics"]):
        print(textwrap.fill(note, min(100, width()), subsequent_indent="  "))
    print(f"record: {path}")
    return 0
