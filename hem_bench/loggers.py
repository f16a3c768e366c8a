"""Experiment loggers of a run (``--logger csv|tensorboard|wandb|mlflow``), through Lightning.

Each name maps to one of Lightning's loggers (:mod:`lightning.pytorch.loggers`); nothing here
talks to a tracking service itself. Where they write:

- ``csv``: ``<run>/logs/metrics.csv`` and ``hparams.yaml`` (always installed);
- ``tensorboard``: ``<run>/logs/tensorboard/`` (``pip install 'hem-bench[tensorboard]'``);
  ``tensorboard --logdir results/`` then compares every run, losses side by side in the
  HParams view, since each run logs its settings with its test metrics;
- ``wandb``: Weights & Biases, offline unless ``WANDB_MODE`` says otherwise (files under
  ``<run>/wandb/``; ``wandb sync`` uploads them);
- ``mlflow``: the tracking server of ``MLFLOW_TRACKING_URI``, or else a file store
  ``<out>/mlruns`` shared by every run of the results folder (``mlflow ui --backend-store-uri
  results/mlruns``).

After the test, :func:`log_results` gives every logger the run's settings (flattened) with its
test metrics, so each tool shows a run as settings -> results.
"""

from __future__ import annotations

import importlib.util
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hem_bench.errors import ConfigError

#: logger name -> the package it needs (None: Lightning alone)
PACKAGES: dict[str, str | None] = {
    "csv": None,
    "tensorboard": "tensorboard",
    "wandb": "wandb",
    "mlflow": "mlflow",
}

#: what to install for each package
INSTALL = {
    "tensorboard": "pip install 'hem-bench[tensorboard]'",
    "wandb": "pip install 'hem-bench[wandb]'",
    "mlflow": "pip install 'hem-bench[mlflow]'",
}


def check_loggers(names: Sequence[str]) -> None:
    """Raise :class:`ConfigError` naming the package to install for any logger whose package
    is missing (before anything is trained)."""
    for name in names:
        if name not in PACKAGES:
            raise ConfigError(f"unknown logger {name!r}; accepted: {', '.join(PACKAGES)}")
        package = PACKAGES[name]
        if package and importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"--logger {name} needs the package {package!r}, which is not installed: "
                f"{INSTALL[package]}"
            )


def make_loggers(config, run_dir: Path, csv_logger=None) -> list:
    """Lightning loggers for ``config.loggers``, writing into ``run_dir``. One set per run,
    shared by every Trainer of the run (tasks that fit several times log into one place).
    ``csv_logger(run_dir)``, when given, makes the CSV logger (the runner's appends to the
    log of a resumed run)."""
    from lightning.pytorch import loggers as pl_loggers

    check_loggers(config.loggers)
    made = []
    for name in config.loggers:
        if name == "csv":
            made.append(
                csv_logger(run_dir)
                if csv_logger is not None
                else pl_loggers.CSVLogger(save_dir=str(run_dir), name="logs", version="")
            )
        elif name == "tensorboard":
            made.append(
                pl_loggers.TensorBoardLogger(
                    save_dir=str(run_dir),
                    name="logs",
                    version="tensorboard",
                    default_hp_metric=False,
                )
            )
        elif name == "wandb":
            os.environ.setdefault("WANDB_SILENT", "true")
            made.append(
                pl_loggers.WandbLogger(
                    name=run_dir.name,
                    save_dir=str(run_dir),
                    project=os.environ.get("WANDB_PROJECT", "hem-bench"),
                    offline=os.environ.get("WANDB_MODE", "offline") == "offline",
                    group=f"{config.task}-{config.dataset}",
                )
            )
        elif name == "mlflow":
            uri = os.environ.get("MLFLOW_TRACKING_URI")
            if not uri:  # a file store next to the runs; MLflow 3 asks for this opt-in
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
                uri = (Path(config.out).resolve() / "mlruns").as_uri()
            made.append(
                pl_loggers.MLFlowLogger(
                    experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME", "hem-bench"),
                    run_name=run_dir.name,
                    tracking_uri=uri,
                    tags={"task": config.task, "loss": config.loss, "run_id": config.run_id},
                )
            )
    return made


def flat_settings(config) -> dict[str, Any]:
    """The run's settings as one flat mapping (``loss_params/margin``), values that every
    logger accepts (numbers, booleans, strings)."""
    flat: dict[str, Any] = {}
    for key, value in config.model_dump().items():
        if isinstance(value, dict):
            for sub, item in value.items():
                flat[f"{key}/{sub}"] = _plain(item)
        else:
            flat[key] = _plain(value)
    flat["run_id"] = config.run_id
    return flat


def _plain(value: Any) -> Any:
    if value is None:
        return "none"
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def log_results(loggers: Sequence, config, metrics: dict[str, float]) -> None:
    """Give every logger the settings with the test metrics (``test/<metric>``), then close
    it. TensorBoard receives them together (its HParams view); the others as settings and a
    final metrics step."""
    if not loggers:
        return
    from lightning.pytorch.loggers import TensorBoardLogger

    params = flat_settings(config)
    tested = {f"test/{k}": float(v) for k, v in metrics.items() if not math.isnan(float(v))}
    for logger in loggers:
        try:
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(params, metrics=tested)
            else:
                logger.log_hyperparams(params)
                logger.log_metrics(tested)
            logger.save()
            logger.finalize("success")
            if type(logger).__name__ == "WandbLogger":  # Lightning leaves the W&B run open
                logger.experiment.finish()
        except Exception as exc:  # the record is written; a logger's failure is reported
            warnings.warn(
                f"hem-bench: the {type(logger).__name__} could not log the results: {exc}",
                stacklevel=2,
            )
