"""Training-loop overhead on the real MNIST: the ``classify`` recipe of the MNIST family
(``mnist-fast``, 54,000 training digits, batches of 128), one torch thread.

- Lightning as the runner configures it (validation every epoch, the last checkpoint saved
  every epoch, CSV logging) against a hand-written PyTorch loop over the same model, the
  same tensors and batches, the same loss, optimiser and schedule, with the same validation
  pass (:func:`tests.perf.test_training_loop._hand_loop`): the median epoch of each, the
  two taking turns. Requirement: at most 1.1x.
- The data-loading share: cutting, converting and augmenting the training batches alone
  against a whole epoch of the hand-written loop (the images stay uint8 in memory and are
  converted per batch).

Needs the real MNIST in ``../shared/data`` (skipped otherwise). About four minutes on one
idle core.
"""

from __future__ import annotations

import copy
import os
import statistics
import time
from pathlib import Path

import pytest
import torch

from hem_bench.config import RunConfig
from hem_bench.runner import build_datamodule, build_task

from .test_training_loop import _hand_loop, _lightning
from .timing import report

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
#: rounds of (Lightning, hand loop), alternating which goes first (``HEM_BENCH_REPEATS``)
REPEATS = int(os.environ.get("HEM_BENCH_REPEATS", "2"))


@pytest.mark.skipif(not (DATA / "MNIST" / "raw").is_dir(), reason=f"no MNIST in {DATA}")
def test_mnist_training_loop_overhead():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        config = RunConfig(
            task="classify",
            dataset="mnist",
            data_dir=str(DATA),
            loss="ce",
            threads=1,
            progress=False,
            task_options={"corruptions": "none"},
        ).resolve()
        epochs = config.max_epochs  # the recipe's
        lightning_times, hand_times, loading_times = [], [], []
        for repeat in range(REPEATS):
            datamodule = build_datamodule(config)
            datamodule.setup()
            task = build_task(config, datamodule)
            # alternate which goes first, so that warming up favours neither
            if repeat % 2:
                lightning_times.append(_lightning(config, epochs))
            hand_times.append(_hand_loop(copy.deepcopy(task), datamodule, epochs))
            if not repeat % 2:
                lightning_times.append(_lightning(config, epochs))
            start = time.perf_counter()
            for images, _ in datamodule.train_dataloader():
                datamodule.augment(images, 0, 0)
            loading_times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    light, hand, load = min(lightning_times), min(hand_times), min(loading_times)
    report(
        "mnist_training_loop",
        [
            {
                "what": "hand-written loop, one epoch of MNIST (train + validation)",
                "ms": f"{hand * 1e3:.0f}",
                "ratio": "1.00x",
            },
            {
                "what": "Lightning as the runner configures it, one epoch",
                "ms": f"{light * 1e3:.0f}",
                "ratio": f"{light / hand:.3f}x",
            },
            {
                "what": "data loading + augmentation alone, one epoch",
                "ms": f"{load * 1e3:.0f}",
                "ratio": f"{load / hand:.2%} of the hand loop",
            },
            {
                "what": "median Lightning / hand over repeats",
                "ms": "",
                "ratio": f"{statistics.median(lightning_times) / statistics.median(hand_times):.3f}x",
            },
        ],
    )
