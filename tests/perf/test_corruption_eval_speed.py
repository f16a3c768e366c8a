"""Cost of the corruption evaluation of ``classify`` against a hand-written inference loop.

Both evaluate the clean test set and corrupt the same batches of the same test images (``corrupt`` with the task's per-batch
seeds) and push them through the same model: hem-bench through Lightning's test loop
(``trainer.test`` over the task's evaluation loaders, with its streamed accuracy and ECE),
the hand-written loop with ``torch.no_grad``, ``argmax`` and torchmetrics' functional ECE.
The difference is the framework's overhead. Requirement: at most 1.1x. MNIST-size random
images (28x28; 2,000 clean test images), ``corruption_subset=1000`` at severity 3 (13
sets, 13,000 corrupted images); each side measured 3 times, alternating, medians reported.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from .test_memory import write_mnist_fixture
from .timing import report

OPTIONS = {"corruptions": "all", "severities": "3", "corruption_subset": "1000"}


def _setup(data_dir: Path, out: Path):
    from hem_bench.config import RunConfig
    from hem_bench.runner import build_datamodule, build_task
    from hem_bench.trainer import build_trainer, quiet_lightning

    quiet_lightning()
    config = RunConfig(
        task="classify",
        dataset="mnist",
        data_dir=str(data_dir),
        progress=False,
        out=str(out),
        task_options=OPTIONS,
    ).resolve()
    dm = build_datamodule(config)
    dm.setup()
    task = build_task(config, dm)
    task.eval()
    return config, dm, task, lambda: build_trainer(config, out)


def hem_bench_evaluation(task, make_trainer) -> float:
    loaders = task.evaluation_loaders()
    trainer = make_trainer()
    start = time.perf_counter()
    trainer.test(task, dataloaders=loaders, verbose=False)
    return time.perf_counter() - start


def hand_written_evaluation(config, task) -> float:
    from hem_bench.datamodules.corrupted import corruption_subset
    from hem_bench.datamodules.corruptions import corrupt
    from hem_bench.metrics.classification import classification_metrics, reliability_bins

    source, _ = corruption_subset(task.data.test_set, config.options.corruption_subset)
    pairs = config.options.corruption_pairs
    model, batch, seed = task.model.eval(), config.eval_batch_size, config.seed
    start = time.perf_counter()
    with torch.no_grad():
        logits = torch.cat(
            [
                model(task.data.test_set.float_images(index))
                for index in torch.arange(len(task.data.test_set)).split(batch)
            ]
        )
        classification_metrics(logits, task.data.test_set.labels)
        reliability_bins(logits.softmax(1), task.data.test_set.labels)
        for name, severity in pairs:
            probs, labels = [], []
            for first in range(0, len(source), batch):
                index = torch.arange(first, min(first + batch, len(source)))
                images, target = source.batch(index)
                images = corrupt(
                    images, name, severity, (seed * 1_000_003 + severity) * 1_000_003 + first
                )
                probs.append(model(images).softmax(1))
                labels.append(target)
            p, y = torch.cat(probs), torch.cat(labels)
            float((p.argmax(1) == y).float().mean())
            float(multiclass_calibration_error(p, y, num_classes=p.shape[1], n_bins=15, norm="l1"))
    return time.perf_counter() - start


def test_corruption_evaluation_overhead():
    with tempfile.TemporaryDirectory() as tmp:
        data = write_mnist_fixture(Path(tmp) / "data", train=2000, test=2000)
        config, dm, task, make_trainer = _setup(data, Path(tmp) / "out")
        ours, hand = [], []
        for _ in range(3):
            hand.append(hand_written_evaluation(config, task))
            ours.append(hem_bench_evaluation(task, make_trainer))
    images = 13 * 1000 + 2000
    row = {
        "images": images,
        "hand_written_s": round(statistics.median(hand), 2),
        "hem_bench_s": round(statistics.median(ours), 2),
    }
    row["ratio"] = round(row["hem_bench_s"] / row["hand_written_s"], 3)
    row["hem_bench_images_per_s"] = round(images / row["hem_bench_s"])
    report("corruption_eval", [row])
    print(row)
