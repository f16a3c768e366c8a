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

import torch

from hem_bench.tasks.base import ClassificationTask, classification_datamodule

#: default imbalance ratio per data set (Cao et al. 2019 use 100 for CIFAR-LT)
DEFAULT_RATIO = {"digits": 10.0}
FALLBACK_RATIO = 100.0
#: Liu et al. (2019) thresholds on training images per class
MANY, FEW = 100, 20
#: the largest class must exceed this for Liu et al.'s thresholds to be used
LARGE = 200


def make_datamodule(config):
    ratio = float(
        config.task_options.get("ratio") or DEFAULT_RATIO.get(config.dataset, FALLBACK_RATIO)
    )
    kind = str(config.task_options.get("kind", "exp"))
    return classification_datamodule(config, long_tail={"ratio": ratio, "kind": kind})


def shot_groups(counts: list[int]) -> tuple[dict[str, list[int]], str]:
    """Classes of the many-, medium- and few-shot groups, and the rule used."""
    classes = list(range(len(counts)))
    if max(counts) > LARGE:
        groups = {
            "many": [c for c in classes if counts[c] > MANY],
            "medium": [c for c in classes if FEW <= counts[c] <= MANY],
            "few": [c for c in classes if counts[c] < FEW],
        }
        return groups, "Liu et al. 2019: >100, 20-100, <20 training images"
    order = sorted(classes, key=lambda c: (-counts[c], c))
    third = round(len(classes) / 3)
    groups = {
        "many": sorted(order[:third]),
        "medium": sorted(order[third : len(classes) - third]),
        "few": sorted(order[len(classes) - third :]),
    }
    return groups, "thirds of the classes by training frequency"


class ImbalancedTask(ClassificationTask):
    def summarize(self) -> dict[str, float]:
        from torchmetrics.functional.classification import multiclass_f1_score

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
