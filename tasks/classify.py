"""``classify``: closed-set accuracy, calibration, and robustness to distribution shift.

Metrics (Guo et al. 2017; Kornblith et al. 2021): test ``acc``, ``nll``, ``ece`` (15
bins) and ``brier``; for every corruption and severity (CIFAR-10-C / MNIST-C style, see
:mod:`hem_bench.datamodules.corruptions`) ``corruption/<name>/<severity>/acc`` and
``.../ece``; ``corruption/<name>/acc`` (mean over severities) and ``corruption/mean_acc``
(mean over all corruptions and severities, Hendrycks & Dietterich 2019); the reliability
diagram of the clean test set as ``calibration/<bin>/conf``, ``acc`` and ``frac`` (15 bins).
Headline: ``acc``.

Memory. Corrupted test sets are never materialised: each batch is corrupted when the
loader cuts it (:mod:`hem_bench.datamodules.corrupted`). Their accuracy and ECE are
accumulated as they stream, in torchmetrics' ``MulticlassAccuracy`` (counts) and
``MulticlassCalibrationError`` (one confidence and one hit per image), which also gather
across processes under DDP; no logits are kept, so memory stays flat however many
(corruption, severity) sets are evaluated.

``corruption_subset=N`` evaluates the corruptions on N test images drawn once with a fixed
seed (the same images for every run, whatever its seed or loss); the clean metrics always
use the whole test set. The record's ``corruption_subset`` says which (``size``, ``of``,
``seed``); 0 (the default) means the whole test set.

The leaderboard's report shows a reliability diagram per loss (:func:`plots`): seeds are
pooled, ``acc_k = sum_s frac_sk acc_sk / sum_s frac_sk`` (likewise the confidence), which is
the accuracy of the bin over all seeds' test sets of equal size.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

from pydantic import field_validator

from hem_bench.errors import ConfigError
from hem_bench.recipes import MNIST_RECIPE, RECIPES, mnist_family
from hem_bench.tasks.options import parse_classes, parse_corruption_names, parse_severities
from hem_bench.tasks.registry import (
    ERROR_MARGIN,
    Metric,
    Task,
    TaskModule,
    TaskOptions,
    option,
    register_task,
)


class ClassifyOptions(TaskOptions):
    corruptions: tuple[str, ...] = option(
        "all",
        "corruptions for the shift evaluation: all, none, or a comma-separated list",
        "all, none, or names from hem_bench.datamodules.corruptions",
    )
    severities: tuple[int, ...] = option(
        "1,2,3,4,5", "corruption severities, comma-separated", "integers 1-5, comma-separated"
    )
    corruption_subset: int = option(
        0,
        "evaluate the corruptions on this many test images, drawn once with a fixed seed "
        "(0: the whole test set)",
        "integer >= 0 (0: the whole test set)",
    )
    classes: tuple[int, ...] | None = option(
        "",
        "train on these classes only (comma-separated indices; default all); the others are "
        "kept aside, e.g. for linear-probe transfer",
        "class indices and ranges, e.g. 0-5 or 0,2,4",
    )

    @field_validator("corruptions", mode="before")
    @classmethod
    def _corruptions(cls, value: Any) -> tuple[str, ...]:
        return parse_corruption_names(value)

    @field_validator("severities", mode="before")
    @classmethod
    def _severities(cls, value: Any) -> tuple[int, ...]:
        return parse_severities(value)

    @field_validator("corruption_subset")
    @classmethod
    def _subset(cls, value: int) -> int:
        if value < 0:
            raise ConfigError(
                "task option corruption_subset must be a number of test images >= 0 "
                f"(0: the whole test set); got {value}"
            )
        return value

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, value: Any) -> tuple[int, ...] | None:
        parsed = parse_classes(value)
        return None if parsed is None else tuple(parsed)

    @property
    def corruption_pairs(self) -> list[tuple[str, int]]:
        """``(corruption, severity)`` pairs to evaluate."""
        return [(name, level) for name in self.corruptions for level in self.severities]


def make_datamodule(config):
    """All classes, or those of ``--task-option classes=...`` (the rest kept aside)."""
    from hem_bench.tasks.base import classification_datamodule

    classes = config.options.classes
    return classification_datamodule(config, classes=None if classes is None else list(classes))


class ClassifyTask(TaskModule):
    """Clean metrics from the gathered logits; corrupted sets streamed into torchmetrics."""

    def evaluation_sets(self) -> dict:
        from hem_bench.datamodules.corrupted import CorruptedBatches, corruption_subset

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

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
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


# -- the report: reliability diagrams --------------------------------------------------------

CALIBRATION_BINS = 15
CALIBRATION_KEY = re.compile(r"^calibration/(\d+)/(conf|acc|frac)$")


def pooled_calibration(runs):
    """Bins 0..14 of the reliability diagram pooled over seeds: columns ``conf``, ``acc``
    (frac-weighted means) and ``frac`` (mean over seeds); NaN for an empty bin."""
    import numpy as np
    import pandas as pd

    rows = []
    for k in range(CALIBRATION_BINS):
        keys = [f"calibration/{k}/{part}" for part in ("conf", "acc", "frac")]
        if not all(key in runs.columns for key in keys):
            rows.append({"conf": math.nan, "acc": math.nan, "frac": math.nan})
            continue
        part = runs[keys].dropna()
        weights = part[keys[2]].to_numpy(float)
        if not len(part) or weights.sum() <= 0:
            rows.append({"conf": math.nan, "acc": math.nan, "frac": math.nan})
            continue
        rows.append(
            {
                "conf": float(np.average(part[keys[0]], weights=weights)),
                "acc": float(np.average(part[keys[1]], weights=weights)),
                "frac": float(weights.sum() / len(runs)),
            }
        )
    return pd.DataFrame(rows)


def plots(view) -> list:
    """A reliability diagram per loss (bars: accuracy of each confidence bin; outline: its
    mean confidence; the diagonal is perfect calibration), where the runs have the bins."""
    import numpy as np

    from hem_bench.results.plotkit import Plot, grid, new_figure, png, text

    rows = view.runs
    if not any(CALIBRATION_KEY.match(c) and rows[c].notna().any() for c in rows.columns):
        return []
    width = 1.0 / CALIBRATION_BINS
    edges = np.arange(CALIBRATION_BINS) * width
    groups = list(view.by_loss())
    n_rows, n_columns = grid(len(groups))
    figure = new_figure(3.2 * n_columns, 3.2 * n_rows + 0.4)
    for index, (loss, runs) in enumerate(groups, start=1):
        axes = figure.add_subplot(n_rows, n_columns, index)
        bins = pooled_calibration(runs)
        present = bins["acc"].notna().to_numpy()
        axes.bar(
            edges[present],
            bins["acc"].to_numpy(float)[present],
            width=width,
            align="edge",
            color=view.colours.get(loss),
            edgecolor="black",
            linewidth=0.5,
            label="accuracy",
        )
        axes.bar(
            edges[present],
            bins["conf"].to_numpy(float)[present],
            width=width,
            align="edge",
            fill=False,
            edgecolor="red",
            linewidth=0.8,
            linestyle="--",
            label="confidence",
        )
        axes.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1)
        axes.set_xlabel("confidence")
        axes.set_ylabel("accuracy")
        title = text(loss)
        if "ece" in runs.columns and runs["ece"].notna().any():
            title += f" (ECE {runs['ece'].mean():.3f})"
        axes.set_title(title, fontsize="medium")
        if index == 1:
            axes.legend(fontsize="x-small", loc="upper left")
    figure.suptitle(f"{text(view.label)}: reliability diagrams")
    title = f"{view.label}: reliability diagrams"
    return [Plot(f"reliability-{view.name}", title, view.label, "reliability", png(figure))]


#: the MNIST family's recipe for this task (:data:`hem_bench.recipes.MNIST_RECIPE`)
MNIST = replace(
    MNIST_RECIPE,
    source=f"{MNIST_RECIPE.source}; 3 epochs: test accuracy >= 0.99 on every seed 0-4 (with "
    "global average pooling instead of the dense layer, 0.987 after 4 epochs)",
)


CLASSIFY = register_task(
    Task(
        name="classify",
        summary="closed-set accuracy, calibration and robustness to corruptions",
        kind="classification",
        default_dataset="digits",
        options=ClassifyOptions,
        recipes={**RECIPES, **mnist_family(MNIST)},
        headline=Metric("acc", margin=ERROR_MARGIN),
        key_metrics=(
            Metric("acc", margin=ERROR_MARGIN),
            Metric("nll", False),
            Metric("ece", False),
            Metric("brier", False),
            Metric("corruption/mean_acc"),
        ),
        metric_directions=(
            Metric("corruption/*/acc"),
            Metric("corruption/*/ece", False),
            Metric("calibration/*", None),
        ),
        metrics="acc, nll, ece (15 bins), brier; acc and ece per corruption and severity; "
        "corruption/mean_acc",
        datamodule=make_datamodule,
        module=ClassifyTask,
        plots=plots,
    )
)
