"""Grids of runs: tasks x losses x seeds (x data sets x models), on local worker processes or
a SLURM cluster through submitit.

Every run is identified by its configuration's run id. A run whose completed record exists
is skipped and its record left untouched, so an interrupted sweep, run again, repeats
nothing and loses nothing. A run that fails is recorded as failed and the sweep goes on.

Local workers are long-lived processes (the spawn start method), each importing the suite
once and running its share of the grid one run after another, with the machine's CPU
threads divided between them. On SLURM every run is one task of a job array
(``slurm_array_parallelism`` at a time); submitit's local executor runs the same code path
without a cluster, which is how it is tested.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hem_bench.config import ResolvedConfig
from hem_bench.errors import ConfigError, HemBenchError

STATES = ("pending", "running", "done", "failed", "skipped")


@dataclass
class SweepRun:
    config: ResolvedConfig
    state: str = "pending"
    error: str = ""
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.config.task}/{self.config.dataset}/{self.config.loss}/seed{self.config.seed}"


@dataclass
class SweepResult:
    runs: list[SweepRun]
    seconds: float
    per_task: dict[str, float] = field(default_factory=dict)

    def count(self, state: str) -> int:
        return sum(run.state == state for run in self.runs)

    @property
    def failed(self) -> list[SweepRun]:
        return [run for run in self.runs if run.state == "failed"]


def grid(
    tasks: Sequence[str],
    losses: Sequence[str],
    seeds: Sequence[int],
    datasets: Sequence[str | None] = (None,),
    models: Sequence[str | None] = (None,),
    settings: dict[str, Any] | None = None,
    per_task: dict[str, dict[str, Any]] | None = None,
    loss_params: dict[str, str] | None = None,
) -> list[ResolvedConfig]:
    """Resolved configurations of the full grid, validated before anything runs.

    ``loss_params`` (``KEY=VALUE`` strings from the command line) go to the losses that have
    the parameter, typed by each loss; a key no loss of the grid has is an error."""
    from hem_bench.checks import resolve_settings
    from hem_bench.losses import check_loss_params, loss_info, parse_loss_params

    if not tasks or not losses or not seeds:
        raise ConfigError("a sweep needs at least one task, one loss and one seed")
    check_settings(settings)
    typed: dict[str, dict[str, Any]] = {}
    for loss in losses:
        own = loss_info(loss).params
        typed[loss] = parse_loss_params(
            loss, {k: v for k, v in (loss_params or {}).items() if k in own}
        )
        check_loss_params(loss, typed[loss])
    for key in loss_params or {}:
        if not any(key in typed[loss] for loss in losses):
            raise ConfigError(
                f"no loss of the sweep has parameter {key!r} "
                f"(losses: {', '.join(losses)}; see hem-bench losses)"
            )
    configs, seen = [], set()
    for task, dataset, model, loss, seed in itertools.product(
        tasks, datasets, models, losses, seeds
    ):
        values = dict(settings or {})
        extra = dict((per_task or {}).get(task, {}))
        options = {**extra.pop("task_options", {}), **values.pop("task_options", {})}
        values.update({k: v for k, v in extra.items() if k not in values})
        values.update(task=task, loss=loss, seed=seed)
        if typed[loss]:
            values["loss_params"] = {**values.get("loss_params", {}), **typed[loss]}
        if options:
            values["task_options"] = options
        if dataset is not None:
            values["dataset"] = dataset
        if model is not None:
            values["model"] = model
        try:
            resolved = resolve_settings(None, values)  # hem-bench run's, for every cell
        except HemBenchError as exc:
            raise ConfigError(
                f"sweep cell {task}/{dataset or 'default'}/{loss}/seed{seed}: {exc}"
            ) from None
        if resolved.run_id not in seen:
            seen.add(resolved.run_id)
            configs.append(resolved)
    from hem_bench.datamodules.base import check_available

    for dataset, data_dir, download in sorted(
        {(c.dataset, c.data_dir, c.download) for c in configs}, key=str
    ):
        check_available(dataset, data_dir, download)
    return configs


#: run settings that are a sweep's axes: set by its grid (tasks, losses, seeds, datasets,
#: models), never by its ``settings``
AXES = {
    "task": "tasks",
    "loss": "losses",
    "seed": "seeds",
    "dataset": "datasets",
    "model": "models",
}


def check_settings(settings: Any, where: str = "the sweep's settings") -> None:
    """A sweep's ``settings`` (applied to every run) must be a mapping of run settings;
    a setting that a sweep cannot apply (one of its axes: ``seed``, ``task``, ...) is an
    error rather than silently ignored, and so are ``task_options`` or ``loss_params``
    that are not mappings. Each value is checked with the run's own checks per cell."""
    from hem_bench.errors import quote

    if settings is None:
        return
    if not isinstance(settings, dict):
        raise ConfigError(
            f"{where} must be a mapping of run settings, e.g. {{max_epochs: 5, lr: 0.1}}; got "
            f"a {type(settings).__name__}: {quote(settings, 80)}"
        )
    for key, axis in AXES.items():
        if key in settings:
            raise ConfigError(
                f"{where} set {key!r}, which a sweep takes from its grid: give it as "
                f"{axis}: [...] instead"
            )
    for key in ("task_options", "loss_params"):
        if key in settings and not isinstance(settings[key], dict):
            raise ConfigError(
                f"{where}: {key} must be a mapping such as {{buffer: 50}}; got "
                f"{quote(settings[key], 80)}"
            )


def threads_per_worker(workers: int) -> int:
    """CPU threads of each of ``workers`` local workers: torch's default here, divided.
    The count is part of each run's configuration (and run id): CPU results depend on it,
    and ``hem-bench run --threads N`` reproduces a cell."""
    import torch

    return max(1, torch.get_num_threads() // max(1, workers))


def _init_worker(threads: int, parent: int | None = None) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    if parent is not None:
        _exit_with_parent(parent)


def _exit_with_parent(parent: int) -> None:
    """End this worker when the sweep process that started it dies (killed, say): on Linux
    through ``PR_SET_PDEATHSIG``, elsewhere (and as a fallback) by a thread that checks the
    parent's PID every second."""
    import signal
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover
            pass
    if os.getppid() != parent:  # died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def execute(config_values: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration (in a worker process or a SLURM task); never raises.

    Returns ``{"state": "done" | "failed" | "skipped", "error": ..., "seconds": ...}``.
    A failure before training starts (bad data folder, say) also leaves a failed record.
    """
    from hem_bench.plugins import load_plugin_files
    from hem_bench.run_state import AlreadyCompleted, RunInProgress, record_state
    from hem_bench.runner import RunFailed, run

    start = time.perf_counter()
    config = None
    try:
        load_plugin_files(config_values.get("plugins") or [])
        config = ResolvedConfig(**config_values)
        config.bind_task()  # the task object, looked up once in this process
        state = record_state(config)[0]
        if state == "completed":
            return {"state": "skipped", "error": "", "seconds": 0.0}
        # an interrupted run (no record) continues from its last checkpoint: a sweep run
        # again repeats nothing; a failed one starts afresh (its logs moved aside)
        run(config, resume=state == "none")
        return {"state": "done", "error": "", "seconds": time.perf_counter() - start}
    except AlreadyCompleted:  # completed by another sweep meanwhile
        return {"state": "skipped", "error": "", "seconds": 0.0}
    except RunInProgress:  # another sweep is training it: not trained twice
        return {"state": "skipped", "error": "", "seconds": 0.0}
    except RunFailed as exc:
        return {"state": "failed", "error": str(exc), "seconds": time.perf_counter() - start}
    except Exception as exc:  # includes bad input found while building: record it
        message = f"{type(exc).__name__}: {exc}"
        if config is not None:
            _write_failed_record(config, message, traceback.format_exc())
        return {"state": "failed", "error": message, "seconds": time.perf_counter() - start}
    finally:
        _release_run_memory()


def _release_run_memory() -> None:
    """What a finished run leaves behind in a worker that goes on to the next: objects held
    only by reference cycles are collected, and the heap pages freed by the run's tensors go
    back to the system (:mod:`hem_bench.allocator`): the run's large temporary blocks
    (float copies of the data, evaluation sets) otherwise stay in glibc's heaps, and a
    worker of the mnist preset grew by about 50 MB a run (0.96 to 1.16 GB over five
    one-epoch classify runs; flat at 0.88 GB with this)."""
    import gc

    from hem_bench.allocator import release_free_memory

    gc.collect()
    release_free_memory()


def _write_failed_record(config: ResolvedConfig, message: str, trace: str) -> None:
    """A failure outside the run's training (bad input found while building, say) is
    recorded as ``run`` records its failures (:func:`hem_bench.runner.record_failure`)."""
    from hem_bench.runner import record_failure

    record_failure(config, message, trace)


Progress = Callable[[SweepRun, dict[str, int]], None]


def _counts(runs: Iterable[SweepRun]) -> dict[str, int]:
    runs = list(runs)
    return {state: sum(r.state == state for r in runs) for state in STATES}


def _pending(
    configs: list[ResolvedConfig], progress: Progress | None
) -> tuple[list[SweepRun], list[SweepRun]]:
    """All runs of the grid, and those still to do: a run whose completed record exists
    is skipped (and its record left untouched)."""
    from hem_bench.run_state import existing_record

    check_records(configs)
    runs = [SweepRun(c) for c in configs]
    todo = []
    for run in runs:
        if existing_record(run.config) is not None:
            run.state = "skipped"
            if progress:
                progress(run, _counts(runs))
        else:
            todo.append(run)
    return runs, todo


def check_records(configs: list[ResolvedConfig]) -> None:
    """A :class:`ConfigError` when a run of the grid has a ``record.json`` that cannot be
    read as its record (another schema version, not JSON, another run's id, a folder): a
    sweep replaces no record; the user moves it away, or ``hem-bench run ... --force``
    moves it aside. Checked before any run starts."""
    from hem_bench.run_state import record_in_the_way

    remedy = (
        "a sweep replaces no record; move it away (hem-bench run with this run's settings and "
        "--force moves it aside)"
    )
    blocked = [message for config in configs if (message := record_in_the_way(config, remedy))]
    if blocked:
        more = f" ({len(blocked) - 1} more runs of the sweep likewise)" if len(blocked) > 1 else ""
        raise ConfigError(blocked[0] + more)


def run_local(
    configs: list[ResolvedConfig], workers: int = 1, progress: Progress | None = None
) -> SweepResult:
    """Run the grid on ``workers`` local processes."""
    start = time.perf_counter()
    runs, todo = _pending(configs, progress)
    if todo:
        if workers <= 1:
            for run in todo:
                run.state = "running"
                if progress:
                    progress(run, _counts(runs))
                _finish(run, execute(run.config.model_dump()), runs, progress)
        else:
            _run_pool(todo, runs, workers, progress)
    return _result(runs, time.perf_counter() - start)


def _finish(
    run: SweepRun, outcome: dict[str, Any], runs: list[SweepRun], progress: Progress | None
) -> None:
    run.state, run.error, run.seconds = outcome["state"], outcome["error"], outcome["seconds"]
    if progress:
        progress(run, _counts(runs))


def _run_pool(
    todo: list[SweepRun], runs: list[SweepRun], workers: int, progress: Progress | None
) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")
    queue = list(todo)
    while queue:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(threads_per_worker(workers), os.getpid()),
        ) as pool:
            futures = {}
            broken = False
            while (queue or futures) and not broken:
                while queue and len(futures) < workers:
                    run = queue.pop(0)
                    run.state = "running"
                    futures[pool.submit(execute, run.config.model_dump())] = run
                    if progress:
                        progress(run, _counts(runs))
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    run = futures.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool as exc:  # a worker died (out of memory, a signal)
                        outcome = {
                            "state": "failed",
                            "error": f"worker process died: {exc}",
                            "seconds": 0.0,
                        }
                        broken = True
                    _finish(run, outcome, runs, progress)
            if broken:  # runs in flight when the pool broke are retried in a fresh pool
                for run in futures.values():
                    run.state = "pending"
                    queue.insert(0, run)


def run_slurm(
    configs: list[ResolvedConfig],
    folder: str | Path,
    cluster: str = "slurm",
    partition: str | None = None,
    timeout_min: int = 60,
    gpus_per_run: int = 0,
    cpus_per_run: int = 2,
    array_parallelism: int = 16,
    progress: Progress | None = None,
) -> SweepResult:
    """Submit the runs without a completed record as a SLURM job array (submitit)."""
    import submitit

    start = time.perf_counter()
    runs, todo = _pending(configs, progress)
    if todo:
        parameters: dict[str, Any] = {"timeout_min": timeout_min, "cpus_per_task": cpus_per_run}
        if cluster == "slurm":
            parameters["slurm_array_parallelism"] = array_parallelism
            if partition:
                parameters["slurm_partition"] = partition
            if gpus_per_run:
                parameters["gpus_per_node"] = gpus_per_run
        try:
            executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
            executor.update_parameters(**parameters)
            jobs = executor.map_array(execute, [run.config.model_dump() for run in todo])
        except Exception as exc:  # no SLURM here, sbatch refused the array, ...
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"--launcher slurm could not submit the {len(todo)} runs through submitit "
                f"(cluster {cluster!r}): {message.rstrip('.')}{'' if message[-1] in '?!' else '.'} "
                "Run the sweep on a SLURM login node, or use --launcher local"
            ) from None
        for run in todo:
            run.state = "running"
        pending = dict(zip(jobs, todo))
        while pending:
            for job in [j for j in pending if j.done()]:
                run = pending.pop(job)
                try:
                    outcome = job.result()
                except Exception as exc:  # the job itself failed (killed, timed out)
                    outcome = {
                        "state": "failed",
                        "error": f"job {job.job_id} failed: {exc}",
                        "seconds": 0.0,
                    }
                _finish(run, outcome, runs, progress)
            if pending:
                time.sleep(0.5)
    return _result(runs, time.perf_counter() - start)


def _result(runs: list[SweepRun], seconds: float) -> SweepResult:
    per_task: dict[str, float] = {}
    for run in runs:
        per_task[run.config.task] = per_task.get(run.config.task, 0.0) + run.seconds
    return SweepResult(runs, seconds, per_task)


def print_line(run: SweepRun, counts: dict[str, int]) -> None:
    """Plain progress (one line per change), for logs and non-terminals."""
    total = sum(counts.values())
    summary = ", ".join(f"{counts[s]} {s}" for s in ("done", "running", "failed", "skipped"))
    extra = f": {run.error}" if run.state == "failed" else ""
    print(
        f"[{total - counts['pending'] - counts['running']}/{total}] {run.state:>7} {run.label} ({summary}){extra}",
        file=sys.stderr,
        flush=True,
    )
