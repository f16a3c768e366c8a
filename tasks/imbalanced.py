"""``imbalanced``: learning from a long-tailed training set, tested on the balanced test set.

Protocol (Cao et al. 2019): the training set is made long-tailed with an exponential (or
step) profile of imbalance ratio rho = n_max / n_min (defaults: rho = 10 for the digits,
100 for CIFAR and the other data sets); validation and test sets stay balanced. Losses that
need class counts (hem-plus, logit-adjusted, ldam, balanced-softmax) receive the counts of
the training set actually used; the record stores them (``class_counts``).

Metrics: ``acc``, ``balanced_acc`` (headline: mean per-class recall), ``macro_f1``
(torchmetrics), per-class accuracy ``class_acc/<c>``, and the accuracy of the many-,
medium- and few-shot groups ``group/<many|medium|few>/acc``. On long-tailed sets whose
largest class has more than 200 training images (CIFAR-LT, MNIST-LT, ...) the groups follow
Liu et al. (2019, OLTR): more than 100, 20 to 100, and fewer than 20 training images (a
group can be empty, e.g. "few" in CIFAR-10-LT at rho = 100, whose smallest class holds 50;
an empty group has no metric). Small data sets — the embedded digits, whose largest class
holds about 100 images — split the classes into thirds by training frequency instead: the
round(C/3) most frequent classes are "many", the round(C/3) least frequent "few", the rest
"medium". The record says which rule was used (``groups``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import field_validator

from hem_bench.errors import ConfigError
from hem_bench.recipes import MNIST_RECIPE, RECIPES, mnist_family
from hem_bench.tasks.registry import (
    ERROR_MARGIN,
    Metric,
    Task,
    TaskModule,
    TaskOptions,
    option,
    register_task,
)

#: default imbalance ratio per data set (Cao et al. 2019 use 100 for CIFAR-LT)
DEFAULT_RATIO = {"digits": 10.0}
FALLBACK_RATIO = 100.0


class ImbalancedOptions(TaskOptions):
    ratio: float = option(
        0.0,
        "imbalance ratio n_max / n_min (0: digits 10, others 100)",
        "0, or 1 up to the examples of the largest class (checked when the data loads)",
    )
    kind: Literal["exp", "step"] = option("exp", "exp or step imbalance", "exp or step")

    @field_validator("ratio")
    @classmethod
    def _ratio(cls, value: float) -> float:
        if value != 0 and not value >= 1:
            raise ConfigError(
                f"imbalance ratio must be a finite number >= 1 (0: the data set's default); "
                f"got {value}"
            )
        return value


def make_datamodule(config):
    """The long-tailed training set of the options (or the data set's default ratio)."""
    from hem_bench.tasks.base import classification_datamodule

    options = config.options
    ratio = float(options.ratio or DEFAULT_RATIO.get(config.dataset, FALLBACK_RATIO))
    return classification_datamodule(config, long_tail={"ratio": ratio, "kind": options.kind})


class ImbalancedTask(TaskModule):
    """Balanced accuracy, macro F1, per-class and per-group accuracy on the balanced test set."""

    def summarize(self) -> dict[str, float]:
        import torch
        from torchmetrics.functional.classification import multiclass_f1_score

        from hem_bench.metrics.classification import shot_groups

        test = self.gathered("test")
        logits, labels = test["logits"], test["labels"]
        num_classes = logits.shape[1]
        predictions = logits.argmax(1)
        correct = (predictions == labels).float()
        per_class = [
            correct[labels == c].mean().item() if (labels == c).any() else float("nan")
            for c in range(num_classes)
        ]
        counts = self.data.class_counts
        groups, rule = shot_groups(counts)
        results = {
            "acc": correct.mean().item(),
            "balanced_acc": float(torch.tensor(per_class).nanmean()),
            "macro_f1": multiclass_f1_score(
                predictions, labels, num_classes, average="macro"
            ).item(),
        }
        for c, acc in enumerate(per_class):
            results[f"class_acc/{c}"] = acc
        for name, members in groups.items():
            if members:
                results[f"group/{name}/acc"] = float(
                    torch.tensor([per_class[c] for c in members]).nanmean()
                )
        self.record_extra = {
            "class_counts": counts,
            "imbalance": {
                "ratio": self.data.long_tail["ratio"],
                "kind": self.data.long_tail.get("kind", "exp"),
            },
            "groups": {"rule": rule, **groups},
        }
        return results


#: the MNIST family's recipe for this task (:data:`hem_bench.recipes.MNIST_RECIPE`)
MNIST = replace(
    MNIST_RECIPE,
    max_epochs=6,
    source=f"{MNIST_RECIPE.source}; 6 epochs of the long-tailed set (about 13,000 images at "
    "ratio 100: the cost of 1.4 epochs of all of MNIST), for balanced accuracy >= 0.90",
)


IMBALANCED = register_task(
    Task(
        name="imbalanced",
        summary="long-tailed training set (Cao et al. 2019), balanced test set",
        kind="classification",
        default_dataset="digits",
        options=ImbalancedOptions,
        recipes={**RECIPES, **mnist_family(MNIST)},
        headline=Metric("balanced_acc", margin=ERROR_MARGIN),
        key_metrics=(
            Metric("balanced_acc", margin=ERROR_MARGIN),
            Metric("acc"),
            Metric("macro_f1"),
            Metric("group/many/acc"),
            Metric("group/medium/acc"),
            Metric("group/few/acc"),
        ),
        metric_directions=(Metric("class_acc/*"),),
        metrics="balanced_acc, acc, macro_f1, class_acc/<c>, group/<many|medium|few>/acc",
        datamodule=make_datamodule,
        module=ImbalancedTask,
    )
)
