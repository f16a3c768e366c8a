"""The layout of a run folder, in one place: where each file of a run lives.

A run folder, ``<out>/<task>-<dataset>-<loss>-seed<seed>-<run id>/``, holds:

- ``record.json``: the run record (:mod:`hem_bench.results.record` writes and reads it);
- ``config.yaml``: the resolved configuration (``hem-bench run --config`` reads it back);
- ``model.pt``: the trained weights, a plain state dict;
- ``logs/``: Lightning's logs (``logs/metrics.csv`` for the CSV logger);
- ``checkpoints/``: ``last.ckpt`` (for ``--resume``) and what a task saves to resume at its
  own granularity (the continual task's ``experience-<t>.pt``);
- ``scores/``: arrays a task saves beside its metrics (``scores/<name>.npz``; the ood task's
  detector scores, ``scores/ood_scores.npz``);
- ``error.log``: the traceback of a failed run;
- ``.lock``: the lock of the process that is running it.

Every other module asks :class:`RunFolder` for a path instead of spelling it out.
"""

from __future__ import annotations

from pathlib import Path

RECORD_NAME = "record.json"
CONFIG_NAME = "config.yaml"
WEIGHTS_NAME = "model.pt"
LOGS_NAME = "logs"
CHECKPOINTS_NAME = "checkpoints"
LAST_CHECKPOINT_NAME = "last.ckpt"
SCORES_NAME = "scores"
ERROR_LOG_NAME = "error.log"
LOCK_NAME = ".lock"


class RunFolder:
    """The paths of one run folder (nothing is created or read here)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def record(self) -> Path:
        return self.path / RECORD_NAME

    @property
    def config(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS_NAME

    @property
    def logs(self) -> Path:
        return self.path / LOGS_NAME

    @property
    def metrics_csv(self) -> Path:
        """The CSV logger's file (``logs/metrics.csv``)."""
        return self.logs / "metrics.csv"

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS_NAME

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / LAST_CHECKPOINT_NAME

    def checkpoint(self, name: str) -> Path:
        """A file a task saves under ``checkpoints/`` to resume from."""
        return self.checkpoints / name

    def artifact(self, name: str) -> Path:
        """The arrays a task saved under ``name`` (``scores/<name>.npz``)."""
        return self.path / SCORES_NAME / f"{name}.npz"

    @property
    def error_log(self) -> Path:
        return self.path / ERROR_LOG_NAME

    @property
    def lock(self) -> Path:
        return self.path / LOCK_NAME
