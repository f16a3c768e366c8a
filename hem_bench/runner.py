"""One run, from a resolved configuration to a run record (the path of docs/design.md).

config -> task object (``config.task_def``, bound once when the configuration was
resolved) -> DataModule (the task's, with its split) -> loss (class counts injected) ->
model (the task's builder) -> LightningModule (the task's) -> lightning.Trainer (the
task's procedure, returning a :class:`~hem_bench.tasks.TaskResult`) -> run record, written
atomically into the
run folder ``<out>/<task>-<dataset>-<loss>-seed<seed>-<run id>/``, which also holds the
resolved configuration (``config.yaml``), Lightning's logs (CSV by default; TensorBoard,
W&B or MLflow with ``--logger``, see :mod:`hem_bench.loggers`), the last checkpoint
(``checkpoints/last.ckpt``, for ``--resume``) and the trained weights (``model.pt``, a plain
state dict).

Reliability: a run folder is claimed by a lock file (``.lock``, created atomically, holding
the owner's PID and host); a second process finds it held and stops, and a lock left by a
dead process is taken over. Records are evidence (:func:`prepare_start`): a ``record.json``
this version cannot read is kept (``--force`` moves it aside), a completed record is only
replaced by ``--force``, a failed record never replaces another record, an interrupted run
(a checkpoint, no record) is continued only by ``--resume`` or started again only by
``--force``, and a run that starts afresh moves the earlier logs aside; a record that cannot
be written where it belongs is saved beside it. Resumed runs append to the CSV log (rows
after the checkpoint are dropped first). Checkpoints are read with
``torch.load(weights_only=True)`` (a planted file cannot run code), carry the id of the run
that saved them, and are checked before training. A run stopped by bad input before
training removes the folder it created. Ctrl-C raises :class:`RunInterrupted`, which says at
which epoch and how to resume.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from hem_bench.checkpoints import check_checkpoint, check_state_dict
from hem_bench.config import ResolvedConfig, to_yaml
from hem_bench.errors import ConfigError, HemBenchError
from hem_bench.loggers import log_results, make_loggers
from hem_bench.results.record import (
    RECORD_NAME,
    make_record,
    now,
    write_record,
)
from hem_bench.run_folder import RunFolder
from hem_bench.run_state import claim, prepare_out, prepare_start, record_state, stamp
from hem_bench.trainer import (
    _interrupted,
    appending_csv_logger,
    build_trainer,
    describe_trainer,
    is_global_zero,
    quiet_lightning,
)


class RunFailed(RuntimeError):
    """The run started but failed; a failed record was written."""

    def __init__(self, message: str, record_path: Path) -> None:
        super().__init__(message)
        self.record_path = record_path


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says where and how to resume."""


class RecordNotWritten(RunFailed):
    """The run completed but ``record.json`` could not be written; the record was saved
    beside it (``record_path``)."""


def build_datamodule(config: ResolvedConfig):
    """The task's DataModule (with its split)."""
    return config.task_def.build_datamodule(config)


def build_loss(config: ResolvedConfig, datamodule):
    """The loss under test; losses that need class counts get those of the training set
    actually used (``datamodule.class_counts``: examples, or pixels for segmentation)."""
    from hem_bench.datamodules.base import IGNORE_INDEX
    from hem_bench.losses import get_loss, loss_info

    params = dict(config.loss_params)
    if loss_info(config.loss).needs_class_counts:
        params["class_counts"] = datamodule.class_counts
    if config.task_def.kind == "segmentation":
        params["ignore_index"] = IGNORE_INDEX
    return get_loss(config.loss, **params)


def apply_execution_settings(model, config: ResolvedConfig) -> None:
    """``--channels-last``: the weights, and so every convolution's output, in channels-last
    memory format. ``--compile``: ``torch.compile`` in place (``nn.Module.compile``, so the
    state dict, checkpoints and ``model.pt`` keep their keys) of the backbone, which both
    ``forward`` and ``features`` run through (the whole model where it has none). Lightning
    trains and tests the compiled module as any other."""
    import torch

    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    if config.compile:
        getattr(model, "backbone", model).compile()


def log_class_prior(counts):
    """``log(n_c / n)`` per class from the training set's class counts (images, or pixels in
    segmentation): the output bias at which the model starts by predicting the class
    frequencies (Lin et al. 2017, focal loss's prior initialisation, for every class). A
    class absent from the training set counts as half an example."""
    import torch

    counts = torch.as_tensor(counts, dtype=torch.float64).clamp(min=0.5)
    return (counts / counts.sum()).log().float()


def build_task(config: ResolvedConfig, datamodule):
    """Loss (class counts of the training set injected), model (the task's builder) and
    the task's LightningModule."""
    task = config.task_def
    loss = build_loss(config, datamodule)
    model = task.build_model(config, datamodule)
    bias = (
        loss.output_bias_init(datamodule.num_classes) if hasattr(loss, "output_bias_init") else None
    )
    if bias is None and config.output_bias == "prior":
        bias = log_class_prior(datamodule.class_counts)
    if bias is not None:  # a loss's own start (sigmoid cross-entropy's) comes first
        model.set_output_bias(bias)
    apply_execution_settings(model, config)
    module = task.build_module(config, model, loss)
    module.data = datamodule
    return module


def run(
    config: ResolvedConfig, resume: bool = False, force: bool = False, notice=None
) -> tuple[dict[str, Any], Path]:
    """Train and evaluate; returns the record and its path.

    The run folder is claimed first (:func:`claim`; :class:`RunInProgress` if another live
    process holds it); then :func:`prepare_start` decides how the run starts: a record that
    cannot be read is kept (:class:`RecordInTheWay`) unless ``force`` moves it aside, a
    completed record raises :class:`AlreadyCompleted` unless ``force`` (``--resume``
    included: a completed run is not run again), an interrupted run needs ``resume`` or
    ``force`` (:class:`UnfinishedRun`). ``notice(message)`` hears what ``force`` replaced
    (default: a warning). Raises :class:`~hem_bench.errors.HemBenchError` for bad input
    found while building (no record is written, and a folder this call created is
    removed), :class:`RunFailed` when training or evaluation fails (a failed record is
    written first, unless a completed one exists) and :class:`RunInterrupted` on Ctrl-C.
    """
    run_dir = config.run_dir()
    prepare_out(config.out)
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the run folder {run_dir} ({exc.strerror})") from None
    with claim(run_dir) if is_global_zero() else contextlib.nullcontext():
        if is_global_zero():
            checkpoint = prepare_start(config, resume, force, notice)
        else:  # other DDP processes follow what rank 0 decided (and changes nothing)
            last = run_dir / "checkpoints" / "last.ckpt"
            checkpoint = last if resume and last.is_file() else None
        try:
            return _run_claimed(config, checkpoint)
        except HemBenchError:
            if created and is_global_zero():  # bad input: leave no half-made folder
                shutil.rmtree(run_dir, ignore_errors=True)
            raise


def record_failure(
    config: ResolvedConfig,
    message: str,
    trace: str,
    timings: dict[str, float] | None = None,
    started_at: str | None = None,
) -> str:
    """Leave the failed record of ``config`` (and ``error.log``, the traceback) in its run
    folder: the one way a failure is recorded, by ``run`` and by ``sweep`` alike. A
    completed record is never replaced by a failed one (the message then says so).
    Returns the message to report."""
    run_dir = config.run_dir()
    record_path = run_dir / RECORD_NAME
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "error.log").write_text(trace)
    state, _, _ = record_state(config)
    if state == "completed":
        return message + f" (the completed record {record_path} is kept)"
    if state == "unreadable":  # evidence: never replaced by a failed record
        return message + f" ({record_path}, which cannot be read, is kept)"
    task = config._task  # unbound only where the task itself could not be found
    headline = task.headline if task is not None else ("", True)
    record = make_record(
        config, "failed", {}, headline, timings or {}, started_at or now(), error=message
    )
    write_record(record_path, record)
    return message


def _run_claimed(config: ResolvedConfig, checkpoint: Path | None) -> tuple[dict[str, Any], Path]:
    import lightning as L
    import torch

    started_at, start = now(), time.perf_counter()
    run_dir = config.run_dir()
    record_path = run_dir / RECORD_NAME
    task = config.task_def
    threads = getattr(config, "threads", None)
    if threads:  # part of the run id: CPU results depend on the thread count
        torch.set_num_threads(threads)
    quiet_lightning()
    L.seed_everything(config.seed, workers=True, verbose=False)

    timings: dict[str, float] = {}
    engine: dict[str, Any] = {}
    _interrupted.clear()

    def make_trainer():
        trainer = build_trainer(config, run_dir, loggers)
        engine.update(describe_trainer(trainer))  # what Lightning runs with, for the record
        return trainer

    try:
        datamodule = build_datamodule(config)
        if config.download and is_global_zero():
            datamodule.prepare_data()  # --download: fetch what is missing (one process only)
        datamodule.setup("fit")
        module = build_task(config, datamodule)
        if checkpoint is not None and checkpoint.is_file():  # before anything is written
            check_state_dict(checkpoint, check_checkpoint(checkpoint, config), module)
        timings["setup"] = time.perf_counter() - start
        if is_global_zero():
            (run_dir / "config.yaml").write_text(to_yaml(config))
        loggers = make_loggers(config, run_dir, csv_logger=appending_csv_logger)
        result = task.evaluate(config, module, datamodule, make_trainer, checkpoint)
    except HemBenchError:
        raise
    except (KeyboardInterrupt, SystemExit) as exc:
        if isinstance(exc, SystemExit) and not _interrupted:
            raise
        where = (
            f"during epoch {_interrupted['epoch'] + 1} of {_interrupted['of']}"
            if _interrupted
            else "before training"
        )
        raise RunInterrupted(
            f"interrupted {where}; run the same command with --resume to continue "
            "from the last completed epoch"
        ) from None
    except Exception as exc:
        timings["total"] = time.perf_counter() - start
        message = f"{type(exc).__name__}: {exc}"
        if is_global_zero():
            message = record_failure(config, message, traceback.format_exc(), timings, started_at)
        raise RunFailed(message, record_path) from exc

    timings.update(result.timings)
    timings["total"] = time.perf_counter() - start
    record = make_record(
        config,
        "completed",
        result.metrics,
        task.headline,
        timings,
        started_at,
        extra=result.extra,
        trainer=engine,
    )
    if is_global_zero():
        (run_dir / "error.log").unlink(missing_ok=True)  # left by an earlier failed attempt
        torch.save(module.model.state_dict(), run_dir / "model.pt")
        task.save_artifacts(result.artifacts, RunFolder(run_dir))
        _write_completed(record_path, record)
        # after the record is written: the record never hinges on a logger
        log_results(loggers, config, record.metrics)
    return record.data(), record_path


def _write_completed(path: Path, record) -> None:
    """Write the completed record; where ``record.json`` cannot be written (a folder of
    that name appeared, the disk is full), the record is saved beside it under another name
    and :class:`RecordNotWritten` says where: a finished run's result is never lost."""
    try:
        write_record(path, record)
    except OSError as exc:
        why = "it is a folder" if path.is_dir() else (exc.strerror or type(exc).__name__)
        try:
            saved = write_record(path.with_name(f"{RECORD_NAME}.saved-{stamp()}"), record)
        except OSError:
            saved = None
        where = (
            f"the completed record was saved as {saved}; rename it to {RECORD_NAME} once the "
            "way is clear"
            if saved
            else "the record could not be saved anywhere in the run folder"
        )
        raise RecordNotWritten(f"cannot write {path} ({why}); {where}", saved or path) from None
