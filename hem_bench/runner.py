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
import os
import shutil
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from hem_bench.atomic import atomic_path
from hem_bench.config import ResolvedConfig, to_yaml
from hem_bench.errors import ConfigError, HemBenchError
from hem_bench.loggers import log_results, make_loggers
from hem_bench.progress import compact_progress_bar
from hem_bench.results.record import (
    RECORD_NAME,
    InvalidRecord,
    make_record,
    now,
    read_record,
    write_record,
)
from hem_bench.run_folder import RunFolder


class RunFailed(RuntimeError):
    """The run started but failed; a failed record was written."""

    def __init__(self, message: str, record_path: Path) -> None:
        super().__init__(message)
        self.record_path = record_path


class RunInProgress(HemBenchError):
    """The run folder is claimed by another live process."""


class AlreadyCompleted(Exception):
    """A completed record of the configuration exists (found once the folder was claimed)."""

    def __init__(self, record: dict, record_path: Path) -> None:
        super().__init__(f"already completed: {record_path}")
        self.record, self.record_path = record, record_path


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says where and how to resume."""


class RecordInTheWay(HemBenchError):
    """The run folder holds a ``record.json`` this version cannot read (another schema
    version, not JSON, not a record, another run's id, a folder): it is evidence and is
    kept; ``--force`` moves it aside."""


class UnfinishedRun(HemBenchError):
    """The run folder holds an interrupted run (a checkpoint, no record) and neither
    ``--resume`` nor ``--force`` says what to do with it."""


class RecordNotWritten(RunFailed):
    """The run completed but ``record.json`` could not be written; the record was saved
    beside it (``record_path``)."""


LOCK_NAME = ".lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _lock_owner(lock: Path) -> tuple[int, str] | None:
    """(pid, host) written in a lock file; None when unreadable or half written."""
    try:
        pid, host = lock.read_text().split()[:2]
        return int(pid), host
    except (OSError, ValueError):
        return None


def _lock_is_stale(lock: Path) -> bool:
    owner = _lock_owner(lock)
    if owner is None:  # being written right now, or garbage: stale only when old
        try:
            return time.time() - lock.stat().st_mtime > 10
        except FileNotFoundError:
            return True
    pid, host = owner
    return host == socket.gethostname() and not _pid_alive(pid)


@contextlib.contextmanager
def claim(run_dir: Path):
    """Hold ``run_dir/.lock`` for the block: created with O_EXCL (atomic), holding this
    process's PID and host. A lock of a dead process on this host is taken over (under an
    ``flock`` so that two processes never both take it over); a live one raises
    :class:`RunInProgress`."""
    lock = run_dir / LOCK_NAME
    for _ in range(3):
        if lock.is_dir() and not lock.is_symlink():
            raise RunInProgress(
                f"the lock file {lock} of run folder {run_dir} is a folder; remove it (no run "
                "makes it) and run again"
            )
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _lock_is_stale(lock):
                _break_stale_lock(lock)
                continue
            owner = _lock_owner(lock)
            who = f"process {owner[0]} on {owner[1]}" if owner else "another process"
            raise RunInProgress(
                f"run folder {run_dir} is in use by {who} (lock file {lock}); wait for it "
                "to finish, or delete the lock file if no such process is running"
            ) from None
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()} {socket.gethostname()}\n")
        break
    else:
        raise RunInProgress(f"run folder {run_dir}: could not take its lock file {lock}")
    try:
        yield
    finally:
        owner = _lock_owner(lock)
        if owner is not None and owner[0] == os.getpid():
            lock.unlink(missing_ok=True)


def _break_stale_lock(lock: Path) -> None:
    import fcntl

    with open(lock.with_name(LOCK_NAME + ".break"), "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:  # checked again under the guard: another process may have taken it over
            if lock.is_file() and _lock_is_stale(lock):
                lock.unlink()
        finally:
            fcntl.flock(guard, fcntl.LOCK_UN)


def prepare_out(out: str | Path) -> Path:
    """The results folder, created if needed; a clear error when it cannot be."""
    path = Path(out)
    if str(out).strip() == "":
        raise ConfigError("--out '': give a results folder")
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; give a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--out {str(out)!r}: cannot create the folder ({exc.strerror})"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {str(out)!r}: the folder is not writable")
    return path


def record_state(config: ResolvedConfig) -> tuple[str, Any, str]:
    """What the run folder of ``config`` holds where its record goes: ``("none", None,
    "")``, ``("completed" | "failed", record, "")``, or ``("unreadable", None, why)`` for a
    file this version cannot read as this run's record (another schema version, not JSON,
    not a record, another run id) or a folder of that name."""
    path = RunFolder(config.run_dir()).record
    if not os.path.lexists(path):
        return "none", None, ""
    if path.is_dir():
        return "unreadable", None, "it is a folder, not a record file"
    try:
        record = read_record(path)
    except InvalidRecord as exc:
        return "unreadable", None, exc.reason
    if record.run_id != config.run_id:
        return (
            "unreadable",
            None,
            f"it holds run id {record.run_id!r}, not this run's {config.run_id!r}: edited, or "
            "moved from another run folder",
        )
    return record.status, record, ""


def existing_record(config: ResolvedConfig) -> dict | None:
    """The completed record of this configuration, if one exists."""
    state, record, _ = record_state(config)
    return record.data() if state == "completed" else None


def record_in_the_way(
    config: ResolvedConfig,
    remedy: str = "move it away, or run with --force to move it aside and run again",
) -> str:
    """The message of a ``record.json`` that blocks the run of ``config`` ('' if none)."""
    state, _, why = record_state(config)
    if state != "unreadable":
        return ""
    path = RunFolder(config.run_dir()).record
    return f"{path} cannot be read as this run's record ({why}); it is kept: {remedy}"


def _stamp() -> str:
    """A time stamp for names of files moved aside (UTC, to the second)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def move_aside(path: Path) -> Path:
    """Rename ``path`` to ``<name>.replaced-<time>`` beside it (a number added if taken);
    returns the new path. Used by ``--force`` for what it replaces: nothing is deleted."""
    stamp = _stamp()
    target = path.with_name(f"{path.name}.replaced-{stamp}")
    n = 1
    while os.path.lexists(target):
        n += 1
        target = path.with_name(f"{path.name}.replaced-{stamp}-{n}")
    os.replace(path, target)
    return target


def checkpoint_files(run_dir: Path) -> list[Path]:
    """The checkpoints of an unfinished run in ``run_dir`` (``last.ckpt``, a continual
    run's ``experience-*.pt``)."""
    folder = RunFolder(run_dir)
    if not folder.checkpoints.is_dir():
        return []
    return sorted(
        p
        for p in folder.checkpoints.iterdir()
        if p == folder.last_checkpoint or (p.name.startswith("experience-") and p.suffix == ".pt")
    )


def _checkpoint_epoch(path: Path) -> int | None:
    try:
        epoch = load_checkpoint_safely(path, "cpu").get("epoch")
    except (HemBenchError, AttributeError):
        return None
    return epoch if isinstance(epoch, int) else None


def _fresh_start(run_dir: Path) -> list[str]:
    """Make ``run_dir`` ready for a run from epoch 0: the checkpoints of an earlier attempt
    are removed (they would be resumed by mistake later) and its logs moved aside (so that
    no log holds an epoch twice). Returns what was done, for the message."""
    done = []
    for path in checkpoint_files(run_dir):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        done.append(f"removed {path}")
    logs = RunFolder(run_dir).logs
    if logs.is_dir() and any(logs.iterdir()):
        done.append(f"moved the earlier logs to {move_aside(logs)}")
    return done


def prepare_start(config: ResolvedConfig, resume: bool, force: bool, notice=None) -> Path | None:
    """Decide how the run of ``config`` starts, in its claimed folder, before any data is
    loaded; returns the checkpoint to resume from (``None``: from epoch 0).

    - a ``record.json`` this version cannot read is evidence: :class:`RecordInTheWay`,
      unless ``force``, which moves it aside (``record.json.replaced-<time>``) and says so;
    - a completed record: :class:`AlreadyCompleted`, unless ``force``;
    - ``resume`` with a checkpoint: the checkpoint, checked (:func:`check_checkpoint`);
    - an interrupted run (a checkpoint, no record) without ``resume`` or ``force``:
      :class:`UnfinishedRun`, saying how to continue it or start it again;
    - otherwise a fresh start: checkpoints of an earlier attempt removed, its logs moved
      aside (a rerun of a failed run, or ``force``).
    """
    import warnings

    def say(message: str) -> None:
        if notice is not None:
            notice(message)
        else:
            warnings.warn(f"hem-bench: {message}", stacklevel=3)

    run_dir = config.run_dir()
    folder = RunFolder(run_dir)
    path = folder.record
    state, record, why = record_state(config)
    if state == "unreadable":
        if not force:
            raise RecordInTheWay(record_in_the_way(config))
        moved = move_aside(path)
        say(f"--force: {path} could not be read as this run's record ({why}); moved it to {moved}")
        state = "none"
    if state == "completed":
        if not force:
            raise AlreadyCompleted(record.data(), path)
        say(f"--force: the completed record {path} will be replaced by this run's")
    checkpoints = checkpoint_files(run_dir)
    last = folder.last_checkpoint
    if resume and checkpoints and state != "completed":
        if os.path.lexists(last):
            check_checkpoint(last, config)
        return last  # (a continual run resumes from its experience files: its procedure's)
    if checkpoints and state == "none" and not force:
        epoch = _checkpoint_epoch(last) if last.is_file() else None
        where = (
            f"its last checkpoint is from epoch {epoch + 1}"
            if epoch is not None
            else (f"it has checkpoints in {run_dir / 'checkpoints'}")
        )
        raise UnfinishedRun(
            f"run folder {run_dir} holds an interrupted run ({where}, and no record): add "
            "--resume to continue it, or --force to start it again from epoch 0"
        )
    done = _fresh_start(run_dir)
    if force and done:
        say("--force: " + "; ".join(done))
    return None


def check_checkpoint(path: Path, config: ResolvedConfig) -> dict:
    """The checkpoint at ``path`` if it can be this run's: a file (not a folder) that loads
    as plain weights, a Lightning checkpoint, saved by this run (its run id) where it says;
    else a :class:`ConfigError` naming it. Whether its weights fit the model is checked once
    the model is built (:func:`check_state_dict`), still before training."""
    if path.is_dir():
        raise ConfigError(
            f"checkpoint {path} is a folder, not a checkpoint file; remove it, or run with "
            "--force to start afresh"
        )
    checkpoint = load_checkpoint_safely(path, "cpu")
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("epoch", 0), int):
        raise ConfigError(
            f"checkpoint {path} is not a Lightning checkpoint of a run; remove it, or run with "
            "--force to start afresh"
        )
    owner = (
        (checkpoint.get("hem_bench") or {}).get("run_id")
        if isinstance(checkpoint.get("hem_bench"), dict)
        else None
    )
    if owner is not None and owner != config.run_id:
        raise ConfigError(
            f"checkpoint {path} was saved by run {owner}, not by this run ({config.run_id}); "
            "remove it, or run with --force to start afresh"
        )
    return checkpoint


def check_state_dict(path: Path, checkpoint: dict, module) -> None:
    """A :class:`ConfigError` unless the checkpoint's weights (where it holds any: a task
    that resumes at its own granularity may keep them elsewhere) have the names and shapes
    of ``module``'s: a checkpoint of another task or model would fail, or silently load
    part of itself, once training started."""
    saved = checkpoint.get("state_dict")
    if saved is None:
        return
    own = module.state_dict()
    if not isinstance(saved, dict):
        raise ConfigError(
            f"checkpoint {path} holds no weights (its state_dict is not a mapping); remove it, "
            "or run with --force to start afresh"
        )
    missing = [k for k in own if k not in saved]
    extra = [k for k in saved if k not in own]
    shapes = [
        k
        for k in own
        if k in saved
        and getattr(saved[k], "shape", None) is not None
        and tuple(saved[k].shape) != tuple(own[k].shape)
    ]
    if missing or extra or shapes:
        example = (missing or extra or shapes)[0]
        raise ConfigError(
            f"checkpoint {path} holds the weights of another model ({len(missing)} missing, "
            f"{len(extra)} unexpected, {len(shapes)} of another shape, e.g. {example!r}); it "
            "is not this run's: remove it, or run with --force to start afresh"
        )


def _atomic_checkpoint_io():
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        """Checkpoints written to a temporary file and renamed into place, so that a run
        killed while saving keeps its previous checkpoint intact."""

        def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
            import torch

            with atomic_path(path) as tmp:
                torch.save(checkpoint, tmp)

        def load_checkpoint(self, path, map_location=None, weights_only=None):
            return load_checkpoint_safely(path, map_location)

    return AtomicCheckpointIO()


def load_checkpoint_safely(path, map_location=None):
    """``torch.load(path, weights_only=True)``: tensors and plain data only, so a planted
    file cannot run code; a file that is not such a checkpoint is a :class:`ConfigError`
    naming it."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any file that is not plain weights
        raise ConfigError(
            f"checkpoint {path} cannot be loaded as plain weights ({_load_problem(exc)}); "
            "delete it to start the run afresh"
        ) from None


def _load_problem(exc: BaseException) -> str:
    """Why ``torch.load`` refused a file, in a few words. Torch's own message goes on to
    advise loading with ``weights_only=False``, which would run any code the file holds:
    that advice is never repeated."""
    import re

    if isinstance(exc, IsADirectoryError):
        return "it is a folder"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, EOFError):
        return "it is empty or cut short"
    text = str(exc)
    if "Weights only load failed" in text or "WeightsUnpickler" in text:
        found = re.search(
            r"WeightsUnpickler error:\s*(.*?)\s*(?:Check the documentation|$)", text, re.S
        )
        detail = " ".join(found.group(1).split())[:150] if found else ""
        return "it holds something other than tensors and plain data" + (
            f": {detail}" if detail else ""
        )
    lines = [line for line in text.strip().splitlines() if "weights_only" not in line]
    return (lines[0][:200] if lines else type(exc).__name__) or type(exc).__name__


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


def quiet_lightning() -> None:
    """Keep the terminal for the progress bar and the summary: no banners or tips."""
    import logging
    import warnings

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*treespec.*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LitLogger.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    # tasks that fit several times (continual learning) write one log folder
    warnings.filterwarnings(
        "ignore", message=".*Experiment logs directory .* exists and is not empty.*"
    )


#: (epoch, max_epochs) at which Ctrl-C stopped the current fit, set by the callback below
_interrupted: dict[str, int] = {}


def _last_checkpoint_callback(path: Path, run_id: str = ""):
    from lightning.pytorch.callbacks import Callback

    class LastCheckpoint(Callback):
        """Saves ``last.ckpt`` at the end of every training epoch (after its validation),
        through the atomic checkpoint IO: ``--resume`` continues from there. The checkpoint
        names the run that saved it (``hem_bench.run_id``), so that a checkpoint copied
        from another run folder is refused. Notes the epoch when Ctrl-C stops training
        (Lightning then exits with code 1)."""

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            trainer.save_checkpoint(str(path), weights_only=False)

        def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
            checkpoint["hem_bench"] = {"run_id": run_id}

        def on_exception(self, trainer, pl_module, exception) -> None:
            if isinstance(exception, KeyboardInterrupt):
                _interrupted.update(epoch=trainer.current_epoch, of=trainer.max_epochs or 0)

    return LastCheckpoint()


def _appending_csv_logger(run_dir: Path):
    """Lightning's CSVLogger, except that an existing ``metrics.csv`` is continued (its
    header merged with new columns) instead of deleted: a resumed run, or a task that fits
    several times, keeps every epoch's row."""
    import csv

    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter

    class AppendingWriter(ExperimentWriter):
        def _check_log_dir_exists(self) -> None:
            if os.path.isfile(self.metrics_file_path):
                with open(self.metrics_file_path, newline="") as handle:
                    self.metrics_keys = list(csv.DictReader(handle).fieldnames or [])

    class AppendingCSVLogger(CSVLogger):
        @property
        def experiment(self):
            if self._experiment is None:
                os.makedirs(self.root_dir, exist_ok=True)
                self._experiment = AppendingWriter(log_dir=self.log_dir)
            return self._experiment

    return AppendingCSVLogger(save_dir=str(run_dir), name="logs", version="")


def trim_csv_log(run_dir: Path, last_epoch: int) -> None:
    """Drop the rows of ``logs/metrics.csv`` after ``last_epoch`` (trained after the
    checkpoint a run resumes from, so trained again)."""
    import csv

    from hem_bench.atomic import write_atomic

    path = run_dir / "logs" / "metrics.csv"
    if not path.is_file():
        return
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames or [], list(reader)

    def keep(row: dict) -> bool:
        try:
            return float(row.get("epoch") or 0) <= last_epoch
        except ValueError:
            return True

    import io

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(r for r in rows if keep(r))
    write_atomic(path, text.getvalue())


def build_trainer(config: ResolvedConfig, run_dir: Path, loggers: list | None = None):
    import lightning as L

    if loggers is None:
        loggers = make_loggers(config, run_dir, csv_logger=_appending_csv_logger)
    checkpoint = _last_checkpoint_callback(run_dir / "checkpoints" / "last.ckpt", config.run_id)
    accelerator = "gpu" if config.accelerator == "cuda" else config.accelerator
    return L.Trainer(
        accelerator=accelerator,
        devices=config.devices,
        strategy=config.strategy,
        precision=config.precision,
        max_epochs=config.max_epochs,
        # CPU kernels are deterministic for a fixed seed as they are; torch's deterministic mode
        # would switch convolutions to slow reference kernels (30x here)
        deterministic=False,
        logger=loggers or False,
        callbacks=[checkpoint, *([compact_progress_bar()] if config.progress else [])],
        enable_checkpointing=False,
        plugins=[_atomic_checkpoint_io()],
        enable_progress_bar=config.progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        # evaluation may need input gradients (attacks): the test loop runs under no_grad,
        # not inference mode, and a task enables gradients where it needs them
        inference_mode=False,
        default_root_dir=str(run_dir),
        log_every_n_steps=10,
    )


def describe_trainer(trainer) -> dict[str, Any]:
    """What Lightning actually runs with (it may differ from what was asked: ``auto``
    resolved, or a setting swapped), for the record's ``env.trainer``: accelerator,
    devices, nodes, strategy, precision and torch's CPU threads."""
    import torch

    accelerator = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower()
    strategy = trainer.strategy
    name = getattr(strategy, "strategy_name", None) or type(strategy).__name__
    start = getattr(strategy, "_start_method", None)
    if type(strategy).__name__ == "DDPStrategy":  # Lightning's names: ddp, ddp_spawn, ...
        name = "ddp" if start in (None, "popen") else f"ddp_{start}"
    return {
        "accelerator": accelerator,
        "devices": trainer.num_devices,
        "device_ids": list(trainer.device_ids),
        "num_nodes": trainer.num_nodes,
        "strategy": str(name),
        "precision": str(trainer.precision),
        "threads": torch.get_num_threads(),
    }


def fit_and_test(config: ResolvedConfig, task, datamodule, make_trainer, checkpoint):
    """The default procedure: one fit (resumed from ``checkpoint`` if given), then one test
    over the task's evaluation sets. Returns the timings."""
    if checkpoint:  # rows logged after the checkpoint are trained (and logged) again
        saved = check_checkpoint(Path(checkpoint), config)  # and its weights: by the runner
        epoch = saved.get("epoch")
        if isinstance(epoch, int):
            trim_csv_log(Path(config.run_dir()), epoch)
        del saved
    trainer = make_trainer()
    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule, ckpt_path=str(checkpoint) if checkpoint else None)
    fit = time.perf_counter() - start
    trainer.test(task, dataloaders=task.evaluation_loaders(), verbose=False)
    return {"fit": fit, "test": time.perf_counter() - start - fit}


def _is_global_zero() -> bool:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


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
    with claim(run_dir) if _is_global_zero() else contextlib.nullcontext():
        if _is_global_zero():
            checkpoint = prepare_start(config, resume, force, notice)
        else:  # other DDP processes follow what rank 0 decided (and changes nothing)
            last = run_dir / "checkpoints" / "last.ckpt"
            checkpoint = last if resume and last.is_file() else None
        try:
            return _run_claimed(config, checkpoint)
        except HemBenchError:
            if created and _is_global_zero():  # bad input: leave no half-made folder
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
        if config.download and _is_global_zero():
            datamodule.prepare_data()  # --download: fetch what is missing (one process only)
        datamodule.setup("fit")
        module = build_task(config, datamodule)
        if checkpoint is not None and checkpoint.is_file():  # before anything is written
            check_state_dict(checkpoint, check_checkpoint(checkpoint, config), module)
        timings["setup"] = time.perf_counter() - start
        if _is_global_zero():
            (run_dir / "config.yaml").write_text(to_yaml(config))
        loggers = make_loggers(config, run_dir, csv_logger=_appending_csv_logger)
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
        if _is_global_zero():
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
    if _is_global_zero():
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
            saved = write_record(path.with_name(f"{RECORD_NAME}.saved-{_stamp()}"), record)
        except OSError:
            saved = None
        where = (
            f"the completed record was saved as {saved}; rename it to {RECORD_NAME} once the "
            "way is clear"
            if saved
            else "the record could not be saved anywhere in the run folder"
        )
        raise RecordNotWritten(f"cannot write {path} ({why}); {where}", saved or path) from None
