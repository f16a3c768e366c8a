"""``classify``: closed-set accuracy, calibration, and robustness to distribution shift.

Metrics (Guo et al. 2017; Kornblith et al. 2021): test ``acc``, ``nll``, ``ece`` (15
bins) and ``brier``; for every corruption and severity (CIFAR-10-C / MNIST-C style, see
:mod:`hem_bench.datamodules.corruptions`) ``corruption/<name>/<severity>/acc`` and
``.../ece``; ``corruption/<name>/acc`` (mean over severities) and ``corruption/mean_acc``
(mean over all corruptions and severities, Hendrycks & Dietterich 2019); the reliability
diagram of the clean test set as ``calibration/<bin>/conf``, ``acc`` and ``frac`` (15 bins).
Headline: ``acc``.

Memory. Corrupted test sets are never materialised: each batch is corrupted when the
loader cuts it. Their accuracy and ECE are accumulated as they stream, in torchmetrics'
``MulticlassAccuracy`` (counts) and ``MulticlassCalibrationError`` (one confidence and one
hit per image), which also gather across processes under DDP; no logits are kept, so
memory stays flat however many (corruption, severity) sets are evaluated.

``corruption_subset=N`` evaluates the corruptions on N test images drawn once with the
fixed seed :data:`SUBSET_SEED` (the same images for every run, whatever its seed or loss);
the clean metrics always use the whole test set. The record's ``corruption_subset`` says
which (``size``, ``of``, ``seed``); 0 (the default) means the whole test set.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hem_bench.datamodules.base import ImageSet
from hem_bench.errors import ConfigError
from hem_bench.seeding import derive_seed
from hem_bench.tasks.base import ClassificationTask, classification_datamodule, parse_classes
from hem_bench.tasks.builtin import parse_corruption_names, parse_severities

#: seed of the draw of ``corruption_subset`` (fixed: every run sees the same images)
SUBSET_SEED = derive_seed(0, "corruption-subset")


def make_datamodule(config):
    """All classes, or those of ``--task-option classes=...`` (the rest kept aside). The
    corruption options are checked here, before any training."""
    options = config.task_options
    parse_corruptions(options.get("corruptions", "all"), options.get("severities", "1,2,3,4,5"))
    subset = options.get("corruption_subset", 0)
    if int(subset) < 0:
        raise ConfigError(
            f"task option corruption_subset must be a number of test images >= 0 "
            f"(0: the whole test set); got {subset}"
        )
    return classification_datamodule(
        config, classes=parse_classes(config.task_options.get("classes", ""))
    )


def corruption_subset(test: ImageSet, size: int) -> tuple[ImageSet, dict]:
    """``size`` images of ``test`` drawn with :data:`SUBSET_SEED` (in test-set order), or the
    whole set when ``size`` is 0 or not smaller; and the record's description of it."""
    if size <= 0 or size >= len(test):
        return test, {"size": len(test), "of": len(test), "seed": None}
    generator = torch.Generator().manual_seed(SUBSET_SEED)
    index = torch.randperm(len(test), generator=generator)[:size].sort().values
    return test.subset(index), {"size": size, "of": len(test), "seed": SUBSET_SEED}


class CorruptedBatches:
    """Batches of an image set corrupted on the fly, deterministically per batch."""

    def __init__(self, data: ImageSet, name: str, severity: int, seed: int) -> None:
        self.data, self.name, self.severity, self.seed = data, name, severity, seed

    def __len__(self) -> int:
        return len(self.data)

    def batch(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        from hem_bench.datamodules.corruptions import corrupt

        images, labels = self.data.batch(indices)
        seed = derive_seed(self.seed, "corruption", self.severity, int(indices[0]))
        return corrupt(images, self.name, self.severity, seed=seed), labels

    @property
    def shape(self):
        return self.data.shape


def parse_corruptions(corruptions: str, severities: str) -> list[tuple[str, int]]:
    """``(corruption, severity)`` pairs from the task options' text (``all``/``none``/lists)."""
    return [
        (name, level)
        for name in parse_corruption_names(corruptions)
        for level in parse_severities(severities)
    ]


class ClassifyTask(ClassificationTask):
    def evaluation_sets(self) -> dict:
        # on a GPU the test set is held there, and corrupted batches are made there (the
        # trainer's device: Lightning moves the module back to the CPU after fitting)
        test = self.data.resident(self.data.test_set)
        sets = {"test": test}
        pairs = self.options.corruption_pairs
        if pairs:
            source, described = corruption_subset(test, self.options.corruption_subset)
            self.record_extra["corruption_subset"] = described
        for name, severity in pairs:
            sets[f"corruption/{name}/{severity}"] = CorruptedBatches(
                source, name, severity, self.seed
            )
        return sets

    def _streamed(self, index: int) -> bool:
        return self.set_names[index].startswith("corruption/")

    def on_test_start(self) -> None:
        from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError

        from hem_bench.metrics.classification import ECE_BINS

        super().on_test_start()
        classes = self.model.num_classes
        for index in range(len(self.set_names)):
            if not self._streamed(index):
                continue
            for key in ("logits", "labels", "features"):
                if f"{index}_{key}" in self.outputs:
                    del self.outputs[f"{index}_{key}"]
            self.outputs[f"{index}_acc"] = MulticlassAccuracy(
                classes, average="micro", validate_args=False
            )
            self.outputs[f"{index}_ece"] = MulticlassCalibrationError(
                classes, n_bins=ECE_BINS, norm="l1", validate_args=False
            )
        self.outputs.to(self.device)

    def test_step(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not self._streamed(dataloader_idx):
            return super().test_step(batch, batch_idx, dataloader_idx)
        images, target = batch
        probs = self.model(images).float().softmax(1)
        self.outputs[f"{dataloader_idx}_acc"].update(probs, target)
        self.outputs[f"{dataloader_idx}_ece"].update(probs, target)

    def on_test_epoch_end(self) -> None:
        evaluated = {}
        for index, name in enumerate(self.set_names):
            if self._streamed(index):
                # MulticlassAccuracy (micro) keeps tp + fn = one per image
                acc = self.outputs[f"{index}_acc"]
                evaluated[name] = int((acc.tp + acc.fn).sum())
            else:
                evaluated[name] = len(self.gathered(name)["labels"])
        self.record_extra["evaluated"] = evaluated
        super().on_test_epoch_end()
        for index in range(len(self.set_names)):  # free what the streamed sets kept
            if self._streamed(index):
                self.outputs[f"{index}_acc"].reset()
                self.outputs[f"{index}_ece"].reset()

    def summarize(self) -> dict[str, float]:
        from hem_bench.metrics.classification import reliability_bins

        results = super().summarize()
        test = self.gathered("test")
        results.update(reliability_bins(test["logits"].softmax(1), test["labels"]))
        per_corruption: dict[str, list[float]] = {}
        for set_name in self.set_names:
            if not set_name.startswith("corruption/"):
                continue
            _, name, severity = set_name.split("/")
            index = self.set_names.index(set_name)
            acc = float(self.outputs[f"{index}_acc"].compute())
            results[f"corruption/{name}/{severity}/acc"] = acc
            results[f"corruption/{name}/{severity}/ece"] = float(
                self.outputs[f"{index}_ece"].compute()
            )
            per_corruption.setdefault(name, []).append(acc)
        for name, accs in per_corruption.items():
            results[f"corruption/{name}/acc"] = sum(accs) / len(accs)
        if per_corruption:
            every = [a for accs in per_corruption.values() for a in accs]
            results["corruption/mean_acc"] = sum(every) / len(every)
        return results
