"""``classify``: closed-set accuracy, calibration, and robustness to distribution shift.

Metrics (Guo et al. 2017; Kornblith et al. 2021): test ``acc``, ``nll``, ``ece`` (15
bins) and ``brier``; for every corruption and severity (CIFAR-10-C / MNIST-C style, see
:mod:`hem_bench.datamodules.corruptions`) ``corruption/<name>/<severity>/acc`` and
``.../ece``; ``corruption/<name>/acc`` (mean over severities) and ``corruption/mean_acc``
(mean over all corruptions and severities, Hendrycks & Dietterich 2019); the reliability
diagram of the clean test set as ``calibration/<bin>/conf``, ``acc`` and ``frac`` (15 bins).
Headline: ``acc``.
"""

from __future__ import annotations

from torch import Tensor

from hem_bench.datamodules.base import ImageSet
from hem_bench.errors import ConfigError
from hem_bench.tasks.base import ClassificationTask, classification_datamodule, parse_classes


def make_datamodule(config):
    """All classes, or those of ``--task-option classes=...`` (the rest kept aside)."""
    return classification_datamodule(
        config, classes=parse_classes(config.task_options.get("classes", ""))
    )


class CorruptedBatches:
    """Batches of an image set corrupted on the fly, deterministically per batch."""

    def __init__(self, data: ImageSet, name: str, severity: int, seed: int) -> None:
        self.data, self.name, self.severity, self.seed = data, name, severity, seed

    def __len__(self) -> int:
        return len(self.data)

    def batch(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        from hem_bench.datamodules.corruptions import corrupt

        images, labels = self.data.batch(indices)
        seed = (self.seed * 1_000_003 + self.severity) * 1_000_003 + int(indices[0])
        return corrupt(images, self.name, self.severity, seed=seed), labels

    @property
    def shape(self):
        return self.data.shape


def parse_corruptions(corruptions: str, severities: str) -> list[tuple[str, int]]:
    """``(corruption, severity)`` pairs from the task options (``all``/``none``/lists)."""
    from hem_bench.datamodules.corruptions import available_corruptions, check_severity

    names = available_corruptions()
    text = corruptions.strip()
    if text in ("", "none"):
        return []
    chosen = names if text == "all" else [c.strip() for c in text.split(",") if c.strip()]
    for name in chosen:
        if name not in names:
            raise ConfigError(f"unknown corruption {name!r}; available: {', '.join(names)}")
    levels = []
    for part in str(severities).split(","):
        try:
            levels.append(check_severity(int(part)))
        except ValueError:
            raise ConfigError(f"severities must be integers 1..5; got {severities!r}") from None
    return [(name, level) for name in chosen for level in levels]


class ClassifyTask(ClassificationTask):
    def evaluation_sets(self) -> dict:
        sets = {"test": self.data.test_set}
        pairs = parse_corruptions(
            self.options.get("corruptions", "all"), self.options.get("severities", "1,2,3,4,5")
        )
        for name, severity in pairs:
            sets[f"corruption/{name}/{severity}"] = CorruptedBatches(
                self.data.test_set, name, severity, self.seed
            )
        return sets

    def summarize(self) -> dict[str, float]:
        from hem_bench.metrics.classification import (
            accuracy,
            expected_calibration_error,
            reliability_bins,
        )

        results = super().summarize()
        test = self.gathered("test")
        results.update(reliability_bins(test["logits"].softmax(1), test["labels"]))
        per_corruption: dict[str, list[float]] = {}
        for set_name in self.set_names:
            if not set_name.startswith("corruption/"):
                continue
            _, name, severity = set_name.split("/")
            out = self.gathered(set_name)
            acc = accuracy(out["logits"], out["labels"])
            results[f"corruption/{name}/{severity}/acc"] = acc
            results[f"corruption/{name}/{severity}/ece"] = expected_calibration_error(
                out["logits"].softmax(1), out["labels"]
            ).item()
            per_corruption.setdefault(name, []).append(acc)
        for name, accs in per_corruption.items():
            results[f"corruption/{name}/acc"] = sum(accs) / len(accs)
        if per_corruption:
            every = [a for accs in per_corruption.values() for a in accs]
            results["corruption/mean_acc"] = sum(every) / len(every)
        return results
