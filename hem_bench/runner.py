"""One run, from a resolved configuration to a run record (the path of docs/design.md).

config -> task spec -> DataModule (+ the task's split) -> loss (class counts injected) ->
model -> LightningModule -> lightning.Trainer -> run record, written atomically into the
run folder ``<out>/<task>-<dataset>-<loss>-seed<seed>-<run id>/``, which also holds the
resolved configuration (``config.yaml``), Lightning's logs (CSV by default; TensorBoard,
W&B or MLflow with ``--logger``, see :mod:`hem_bench.loggers`), the last checkpoint
(``checkpoints/last.ckpt``, for ``--resume``) and the trained weights (``model.pt``, a plain
state dict).
"""

from __future__ import annotations

import importlib
import time
import traceback
from pathlib import Path
from typing import Any

from hem_bench.atomic import atomic_path
from hem_bench.config import ResolvedConfig, to_yaml
from hem_bench.errors import HemBenchError
from hem_bench.loggers import log_results, make_loggers
from hem_bench.progress import compact_progress_bar
from hem_bench.recipes import task_spec
from hem_bench.results.record import RECORD_NAME, make_record, now, read_record, write_json_atomic


class RunFailed(RuntimeError):
    """The run started but failed; a failed record was written."""

    def __init__(self, message: str, record_path: Path) -> None:
        super().__init__(message)
        self.record_path = record_path


def existing_record(config: ResolvedConfig) -> dict | None:
    """The completed record of this configuration, if one exists."""
    path = config.run_dir() / RECORD_NAME
    if path.is_file():
        try:
            record = read_record(path)
        except (OSError, ValueError):
            return None
        if record.get("status") == "completed" and record.get("run_id") == config.run_id:
            return record
    return None


def _atomic_checkpoint_io():
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        """Checkpoints written to a temporary file and renamed into place, so that a run
        killed while saving keeps its previous checkpoint intact."""

        def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
            import torch

            with atomic_path(path) as tmp:
                torch.save(checkpoint, tmp)

    return AtomicCheckpointIO()


def load_object(path: str):
    """The object named ``"package.module:attribute"``."""
    module_name, attribute = path.split(":")
    return getattr(importlib.import_module(module_name), attribute)


def build_datamodule(config: ResolvedConfig):
    """The task's DataModule (with its split), from the task spec's factory."""
    return load_object(task_spec(config.task).datamodule)(config)


#: label of ignored pixels in segmentation masks (Cityscapes, VOC, digit scenes)
SEGMENTATION_IGNORE = 255


def build_loss(config: ResolvedConfig, datamodule):
    """The loss under test; losses that need class counts get those of the training set
    actually used (``datamodule.class_counts``: examples, or pixels for segmentation)."""
    from hem_bench.losses import get_loss, loss_info

    params = dict(config.loss_params)
    if loss_info(config.loss).needs_class_counts:
        params["class_counts"] = datamodule.class_counts
    if task_spec(config.task).kind == "segmentation":
        params["ignore_index"] = SEGMENTATION_IGNORE
    return get_loss(config.loss, **params)


def build_task(config: ResolvedConfig, datamodule):
    """Loss (class counts of the training set injected), model (the task spec's builder)
    and LightningModule."""
    spec = task_spec(config.task)
    loss = build_loss(config, datamodule)
    model = load_object(spec.model_builder)(
        config.model,
        datamodule.num_classes,
        datamodule.input_shape,
        datamodule.mean,
        datamodule.std,
        head=config.head,
        dropout=config.dropout,
    )
    bias = (
        loss.output_bias_init(datamodule.num_classes) if hasattr(loss, "output_bias_init") else None
    )
    if bias is not None:
        model.set_output_bias(bias)
    task = load_object(spec.module)(
        model,
        loss,
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        final_l2=config.final_l2,
        seed=config.seed,
        options=config.task_options,
    )
    task.data = datamodule
    return task


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


def _last_checkpoint_callback(path: Path):
    from lightning.pytorch.callbacks import Callback

    class LastCheckpoint(Callback):
        """Saves ``last.ckpt`` at the end of every training epoch (after its validation),
        through the atomic checkpoint IO: ``--resume`` continues from there."""

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            trainer.save_checkpoint(str(path), weights_only=False)

    return LastCheckpoint()


def build_trainer(config: ResolvedConfig, run_dir: Path, loggers: list | None = None):
    import lightning as L

    loggers = make_loggers(config, run_dir) if loggers is None else loggers
    checkpoint = _last_checkpoint_callback(run_dir / "checkpoints" / "last.ckpt")
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


def fit_and_test(config: ResolvedConfig, task, datamodule, make_trainer, checkpoint):
    """The default procedure: one fit (resumed from ``checkpoint`` if given), then one test
    over the task's evaluation sets. Returns the timings."""
    trainer = make_trainer()
    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule, ckpt_path=str(checkpoint) if checkpoint else None)
    fit = time.perf_counter() - start
    trainer.test(task, dataloaders=task.evaluation_loaders(), verbose=False)
    return {"fit": fit, "test": time.perf_counter() - start - fit}


def _is_global_zero() -> bool:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def run(config: ResolvedConfig, resume: bool = False) -> tuple[dict[str, Any], Path]:
    """Train and evaluate; returns the record and its path.

    Raises :class:`~hem_bench.errors.HemBenchError` for bad input found while building
    (no record is written), and :class:`RunFailed` when training or evaluation fails (a
    failed record is written first).
    """
    import lightning as L
    import torch

    started_at, start = now(), time.perf_counter()
    run_dir = config.run_dir()
    record_path = run_dir / RECORD_NAME
    spec = task_spec(config.task)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(to_yaml(config))
    quiet_lightning()
    L.seed_everything(config.seed, workers=True, verbose=False)

    datamodule = build_datamodule(config)
    if config.download and _is_global_zero():
        datamodule.prepare_data()  # --download: fetch what is missing (one process only)
    datamodule.setup("fit")
    task = build_task(config, datamodule)
    timings: dict[str, float] = {"setup": time.perf_counter() - start}

    last = run_dir / "checkpoints" / "last.ckpt"
    procedure = load_object(spec.procedure)
    loggers = make_loggers(config, run_dir)  # one set for every Trainer of the run
    try:
        timings.update(
            procedure(
                config,
                task,
                datamodule,
                lambda: build_trainer(config, run_dir, loggers),
                last if resume and last.is_file() else None,
            )
        )
    except HemBenchError:
        raise
    except Exception as exc:
        timings["total"] = time.perf_counter() - start
        message = f"{type(exc).__name__}: {exc}"
        if _is_global_zero():
            (run_dir / "error.log").write_text(traceback.format_exc())
            record = make_record(
                config, "failed", {}, spec.headline, timings, started_at, error=message
            )
            write_json_atomic(record_path, record)
        raise RunFailed(message, record_path) from exc

    timings["total"] = time.perf_counter() - start
    record = make_record(
        config,
        "completed",
        task.results,
        spec.headline,
        timings,
        started_at,
        extra=getattr(task, "record_extra", None),
    )
    if _is_global_zero():
        (run_dir / "error.log").unlink(missing_ok=True)  # left by an earlier failed attempt
        torch.save(task.model.state_dict(), run_dir / "model.pt")
        _save_artifacts(task.artifacts, run_dir)
        write_json_atomic(record_path, record)
        log_results(
            loggers, config, record["metrics"]
        )  # after the record: it never hinges on a logger
    return record, record_path


def _save_artifacts(artifacts: dict[str, Any], run_dir: Path) -> None:
    import numpy as np

    if "ood_scores" in artifacts:
        arrays = {k.replace("/", "__"): v for k, v in artifacts["ood_scores"].items()}
        with atomic_path(run_dir / "scores" / "ood_scores.npz", suffix=".npz") as tmp:
            np.savez_compressed(tmp, **arrays)
