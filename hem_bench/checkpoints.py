"""Checkpoints, read safely and checked before training: a checkpoint is loaded with
``torch.load(weights_only=True)`` (tensors and plain data only, so a planted file cannot run
code), refused with one line when it is a folder, not a Lightning checkpoint, saved by
another run (checkpoints carry the run id of the run that saved them) or holding the weights
of another model; and written to a temporary file and renamed into place, so that a run
killed while saving keeps its previous checkpoint intact.

Imports torch and Lightning only when a checkpoint is read or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hem_bench.atomic import atomic_path
from hem_bench.errors import ConfigError, HemBenchError

if TYPE_CHECKING:
    from hem_bench.config import ResolvedConfig


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


def atomic_checkpoint_io():
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


def checkpoint_epoch(path: Path) -> int | None:
    try:
        epoch = load_checkpoint_safely(path, "cpu").get("epoch")
    except (HemBenchError, AttributeError):
        return None
    return epoch if isinstance(epoch, int) else None
