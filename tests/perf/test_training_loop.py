"""Training-loop overhead and the data-loading share of an epoch (classify, digits).

- Lightning (as the runner configures it: validation every epoch, the last checkpoint
  saved every epoch, CSV logging) against a minimal hand-written PyTorch loop over the
  same model, the same batches, the same loss, optimiser and schedule, with the same
  validation pass: the median epoch of each (the fixed start-up of ``fit`` excluded).
  Requirement: at most 1.2x.
- The data-loading share: iterating the training batches alone against a whole epoch of
  the hand-written loop.
"""

from __future__ import annotations

import copy
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from hem_bench.config import RunConfig
from hem_bench.runner import build_datamodule, build_task
from hem_bench.trainer import build_trainer, quiet_lightning

from .timing import report

EPOCHS = 10


def _hand_loop(task, datamodule, epochs: int) -> float:
    """Median seconds per epoch of a plain PyTorch loop (train + validation)."""
    model, loss_fn = task.model, task.loss
    optimizer = torch.optim.SGD(
        model.parameters(), lr=task.lr, momentum=task.momentum, weight_decay=task.weight_decay
    )
    total = epochs * len(datamodule.train_dataloader())
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    step = 0
    times = []
    for epoch in range(epochs):
        start = time.perf_counter()
        loader = datamodule.train_dataloader()
        loader.sampler.set_epoch(epoch)
        model.train()
        for images, target in loader:
            images = datamodule.augment(images, epoch, step)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(images), target)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
        model.eval()
        with torch.no_grad():
            for images, target in datamodule.val_dataloader():
                logits = model(images)
                (logits.argmax(1) == target).float().mean()
                loss_fn(logits, target)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class _EpochTimer(Callback):
    """Wall time from the start of one training epoch to the start of the next (training,
    validation, checkpoint and logging included)."""

    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.starts.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        self.starts.append(time.perf_counter())


def _lightning(config, epochs: int) -> float:
    """Median seconds per epoch of Lightning as the runner configures it."""
    quiet_lightning()
    datamodule = build_datamodule(config)
    datamodule.setup()
    task = build_task(config, datamodule)
    timer = _EpochTimer()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(config, Path(tmp))
        trainer.callbacks.append(timer)
        trainer.fit(task, datamodule=datamodule)
    return statistics.median(b - a for a, b in zip(timer.starts, timer.starts[1:]))


def test_training_loop_overhead():
    torch.manual_seed(0)
    config = RunConfig(task="classify", loss="ce", max_epochs=EPOCHS, progress=False).resolve()
    lightning_times, hand_times, loading_times = [], [], []
    for repeat in range(4):
        datamodule = build_datamodule(config)
        datamodule.setup()
        task = build_task(config, datamodule)
        # alternate which goes first, so that warming up favours neither
        if repeat % 2:
            lightning_times.append(_lightning(config, EPOCHS))
        hand_times.append(_hand_loop(copy.deepcopy(task), datamodule, EPOCHS))
        if not repeat % 2:
            lightning_times.append(_lightning(config, EPOCHS))
        start = time.perf_counter()
        for epoch in range(EPOCHS):
            for images, _ in datamodule.train_dataloader():
                datamodule.augment(images, epoch, 0)
        loading_times.append((time.perf_counter() - start) / EPOCHS)
    light, hand, load = min(lightning_times), min(hand_times), min(loading_times)
    report(
        "training_loop",
        [
            {
                "what": "hand-written loop, one epoch (train + validation)",
                "ms": f"{hand * 1e3:.1f}",
                "ratio": "1.00x",
            },
            {
                "what": "Lightning as the runner configures it, one epoch",
                "ms": f"{light * 1e3:.1f}",
                "ratio": f"{light / hand:.2f}x",
            },
            {
                "what": "data loading + augmentation alone, one epoch",
                "ms": f"{load * 1e3:.1f}",
                "ratio": f"{load / hand:.2%} of the hand loop",
            },
            {
                "what": "median Lightning / hand over repeats",
                "ms": "",
                "ratio": f"{statistics.median(lightning_times) / statistics.median(hand_times):.2f}x",
            },
        ],
    )
