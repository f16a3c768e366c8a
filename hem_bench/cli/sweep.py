"""``hem-bench sweep``: a grid of runs (tasks x losses x seeds x data sets x models).

The whole grid is validated before anything runs (a bad cell exits with code 2). Runs whose
completed record exists are skipped; a failed run is recorded as failed and the sweep goes
on; the exit code is 1 when any run failed. ``--launcher local --workers N`` runs on N
local processes; ``--launcher slurm`` submits a job array through submitit.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hem_bench.cli._options import add_task_option_flags, task_options_from
from hem_bench.cli._settings import add_setting_flags, settings_from
from hem_bench.errors import ConfigError, quote


def _csv(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(",") if part.strip()]


#: settings a sweep sets itself, or takes apart for the tasks and losses that have them
OWN = ("progress", "task_options", "loss_params")
#: help texts of a sweep's flags that say more than ``hem-bench run``'s
HELPS = {
    "threads": "CPU threads of each run (default: torch's default divided among the local "
    "workers, or --slurm-cpus); part of each run id, as for hem-bench run",
    "task_options": "a task setting, applied to the tasks that have it (repeatable)",
    "loss_params": "a loss parameter, applied to the losses that have it (repeatable), "
    "e.g. margin=2",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("the grid")
    what.add_argument("--tasks", help="tasks, comma-separated (hem-bench tasks)")
    what.add_argument("--losses", help="losses, comma-separated (hem-bench losses)")
    what.add_argument("--seeds", help="seeds, comma-separated, e.g. 0,1,2")
    what.add_argument("--datasets", help="data sets, comma-separated (default: each task's)")
    what.add_argument("--models", help="models, comma-separated (default: each recipe's)")
    what.add_argument(
        "--preset",
        choices=("embedded", "mnist"),
        help="embedded: every task x the core losses x 5 seeds, offline; mnist: the same on "
        "real MNIST digits read from --data-dir (--datasets fashion-mnist or kmnist for the "
        "classification tasks)",
    )
    what.add_argument(
        "--config",
        metavar="FILE.yaml",
        help="sweep file: tasks, losses, seeds, datasets, models, settings",
    )
    what.add_argument("--dry-run", action="store_true", help="list the runs and exit")
    settings = parser.add_argument_group("settings of every run (as for hem-bench run)")
    # every run setting that is not an axis of the grid: the flags of hem-bench run
    add_setting_flags({"settings": settings}, axes=False, skip=("progress",), helps=HELPS)
    add_task_option_flags(settings)
    launch = parser.add_argument_group("where the runs go")
    launch.add_argument("--launcher", choices=("local", "slurm"), default="local")
    launch.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    launch.add_argument("--slurm-partition")
    launch.add_argument(
        "--slurm-time", type=int, default=60, metavar="MINUTES", help="time limit per run"
    )
    launch.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per run")
    launch.add_argument("--slurm-cpus", type=int, default=2, help="CPUs per run")
    launch.add_argument("--slurm-array-parallelism", type=int, default=16)
    launch.add_argument("--slurm-folder", help="submitit log folder (default <out>/slurm)")
    launch.add_argument(
        "--slurm-cluster",
        choices=("slurm", "local"),
        default="slurm",
        help="submitit executor: slurm, or local (the same code path without a cluster)",
    )
    launch.add_argument(
        "--then-leaderboard", action="store_true", help="write the leaderboard when the sweep ends"
    )
    launch.add_argument(
        "--no-progress",
        action="store_true",
        help="one line per finished run instead of a live display",
    )


def sweep_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The grid and its settings from the preset, the sweep file and the flags (in order)."""
    from hem_bench.config import read_yaml
    from hem_bench.presets import PRESETS
    from hem_bench.sweep import check_settings

    spec: dict[str, Any] = {
        "tasks": [],
        "losses": [],
        "seeds": [],
        "datasets": [None],
        "models": [None],
        "settings": {},
        "per_task": {},
        "loss_params": dict(args.loss_params or []),
    }
    if args.preset:
        preset = PRESETS[args.preset]
        spec.update({k: list(preset[k]) for k in ("tasks", "losses", "seeds")})
        spec["per_task"] = {k: dict(v) for k, v in preset["per_task"].items()}
    if args.config:
        data = read_yaml(args.config)
        unknown = set(data) - {"tasks", "losses", "seeds", "datasets", "models", "settings"}
        if unknown:
            raise ConfigError(
                f"unknown key {sorted(unknown)[0]!r} in sweep file {args.config!r}; accepted: "
                "tasks, losses, seeds, datasets, models, settings"
            )
        for key in ("tasks", "losses", "seeds", "datasets", "models"):
            if key in data:
                spec[key] = _axis(data[key], key, args.config)
        check_settings(data.get("settings"), f"settings in sweep file {quote(args.config)}")
        spec["settings"].update(data.get("settings") or {})
    for key in ("tasks", "losses", "datasets", "models"):
        if getattr(args, key):
            spec[key] = _csv(getattr(args, key))
    if args.seeds:
        spec["seeds"] = _csv(args.seeds)
    spec["seeds"] = _seeds(spec["seeds"], "--seeds" if args.seeds else "seeds")
    given = settings_from(args, axes=False)
    spec["settings"].update({k: v for k, v in given.items() if k not in OWN})
    spec["settings"]["progress"] = False
    options = task_options_from(args)
    if options:
        _apply_task_options(spec, options)
    missing = [k for k in ("tasks", "losses", "seeds") if not spec[k]]
    if missing:
        raise ConfigError(
            f"the sweep has no {missing[0]}: give --{missing[0]} (comma-separated), a --config "
            "file or --preset embedded|mnist"
        )
    return spec


def _axis(value: Any, key: str, file: str) -> list:
    """An axis of a sweep file: a list, or a comma-separated text; one line otherwise."""
    if isinstance(value, list):
        if any(isinstance(v, (list, dict)) for v in value):
            raise ConfigError(
                f"{key} in sweep file {quote(file)} must be a list of names or numbers; got "
                f"{quote(value, 80)}"
            )
        return value
    if isinstance(value, (dict, bool)) or value is None:
        raise ConfigError(
            f"{key} in sweep file {quote(file)} must be a list, e.g. [a, b], or 'a,b'; got "
            f"{quote(value, 80)}"
        )
    return _csv(str(value))


def _seeds(values: list, where: str) -> list[int]:
    """Seeds as integers (``true`` is not a seed); one clear error otherwise."""
    seeds = []
    for value in values:
        text = str(value).strip()
        if isinstance(value, bool) or not text.lstrip("-").isdigit():
            raise ConfigError(f"{where} must be integers, e.g. 0,1,2; got {value!r}")
        seeds.append(int(text))
    return seeds


def _apply_task_options(spec: dict[str, Any], options: dict[str, str]) -> None:
    from hem_bench.tasks import get_task

    tasks = {name: get_task(name) for name in spec["tasks"]}  # each task looked up once
    for key, value in options.items():
        takers = [t for t, task in tasks.items() if key in task.options.model_fields]
        if not takers:
            raise ConfigError(f"no task of the sweep has option {key!r}")
        for task in takers:
            spec["per_task"].setdefault(task, {}).setdefault("task_options", {})[key] = value


def run(args: argparse.Namespace) -> int:
    from hem_bench.plugins import load_plugin_files
    from hem_bench.presets import PRESETS, preset_grid
    from hem_bench.sweep import grid, run_local, run_slurm

    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1; got {args.workers}")
    for flag, value, least in (
        ("--slurm-time", args.slurm_time, 1),
        ("--slurm-gpus", args.slurm_gpus, 0),
        ("--slurm-cpus", args.slurm_cpus, 1),
        ("--slurm-array-parallelism", args.slurm_array_parallelism, 1),
    ):
        if value < least:
            raise ConfigError(f"{flag} must be at least {least}; got {value}")
    load_plugin_files(args.plugins or [])
    spec = sweep_spec(args)
    if spec["settings"].get("threads") is None:  # part of the run ids: fixed per run
        from hem_bench.sweep import threads_per_worker

        preset_threads = PRESETS[args.preset].get("threads") if args.preset else None
        spec["settings"]["threads"] = preset_threads or (
            threads_per_worker(args.workers) if args.launcher == "local" else args.slurm_cpus
        )
    common = {
        "datasets": spec["datasets"],
        "models": spec["models"],
        "settings": spec["settings"],
        "per_task": spec["per_task"],
        "loss_params": spec["loss_params"],
    }
    if args.preset:  # the preset's grid and its arms (seeds given replace the arms' too)
        seeds = None if spec["seeds"] == list(PRESETS[args.preset]["seeds"]) else spec["seeds"]
        configs = preset_grid(args.preset, spec["tasks"], spec["losses"], seeds, **common)
    else:
        configs = grid(spec["tasks"], spec["losses"], spec["seeds"], **common)
    out = configs[0].out
    if args.dry_run:
        for config in configs:
            print(
                f"{config.run_name}  {config.task} {config.dataset} {config.model} {config.loss} seed {config.seed}"
            )
        print(f"{len(configs)} runs", file=sys.stderr)
        return 0
    from hem_bench.run_state import prepare_out
    from hem_bench.sweep import check_records

    prepare_out(out)
    check_records(configs)  # before the first line of progress: a record in the way is exit 2
    print(f"hem-bench sweep: {len(configs)} runs into {out}/", file=sys.stderr)
    with _progress(len(configs), args.no_progress) as progress:
        if args.launcher == "local":
            result = run_local(configs, workers=args.workers, progress=progress)
        else:
            result = run_slurm(
                configs,
                folder=args.slurm_folder or f"{out}/slurm",
                cluster=args.slurm_cluster,
                partition=args.slurm_partition,
                timeout_min=args.slurm_time,
                gpus_per_run=args.slurm_gpus,
                cpus_per_run=args.slurm_cpus,
                array_parallelism=args.slurm_array_parallelism,
                progress=progress,
            )
    _summary(result)
    for failed in result.failed:
        print(f"hem-bench sweep: failed: {failed.label}: {failed.error}", file=sys.stderr)
    if args.then_leaderboard and result.count("done") + result.count("skipped") > 0:
        from hem_bench.cli import main as cli_main

        board = cli_main(["leaderboard", "--results", out])
        if board:
            return board
    return 1 if result.failed else 0


class _progress:
    """A live display over the whole sweep on a terminal, one line per change elsewhere."""

    def __init__(self, total: int, plain: bool) -> None:
        self.total, self.plain = total, plain or not sys.stderr.isatty()
        self.bar = None

    def __enter__(self):
        if self.plain:
            from hem_bench.sweep import print_line

            return print_line
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.bar.start()
        self.task = self.bar.add_task("sweep", total=self.total)

        def update(run, counts):
            finished = counts["done"] + counts["failed"] + counts["skipped"]
            self.bar.update(
                self.task,
                completed=finished,
                description=(
                    f"done {counts['done']} | running {counts['running']} | "
                    f"failed {counts['failed']} | skipped {counts['skipped']}"
                ),
            )

        return update

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


def _summary(result) -> None:
    from hem_bench.cli._output import print_rows

    rows = []
    tasks = sorted({run.config.task for run in result.runs})
    for task in tasks:
        runs = [r for r in result.runs if r.config.task == task]
        rows.append(
            {
                "task": task,
                "runs": len(runs),
                "done": sum(r.state == "done" for r in runs),
                "skipped": sum(r.state == "skipped" for r in runs),
                "failed": sum(r.state == "failed" for r in runs),
                "run time s": f"{result.per_task.get(task, 0.0):.0f}",
            }
        )
    rows.append(
        {
            "task": "total",
            "runs": len(result.runs),
            "done": result.count("done"),
            "skipped": result.count("skipped"),
            "failed": result.count("failed"),
            "run time s": f"wall {result.seconds:.0f}",
        }
    )
    print_rows(rows, list(rows[0]), "table", title="hem-bench sweep")
