"""The Lightning side of a run: the Trainer a run trains and tests with, what it ran with
(for the record), its last-epoch checkpoint, its CSV log that a resumed run continues, and
the default procedure (one fit, one test). The runner (:mod:`hem_bench.runner`) and the
tasks that fit several times (continual learning) build their trainers here; this module
depends on the configuration and the checkpoint IO, never on the runner or the tasks.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hem_bench.checkpoints import atomic_checkpoint_io, check_checkpoint
from hem_bench.loggers import make_loggers
from hem_bench.progress import compact_progress_bar

if TYPE_CHECKING:
    from hem_bench.config import ResolvedConfig


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


def appending_csv_logger(run_dir: Path):
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
        loggers = make_loggers(config, run_dir, csv_logger=appending_csv_logger)
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
        plugins=[atomic_checkpoint_io()],
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


def is_global_zero() -> bool:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0
