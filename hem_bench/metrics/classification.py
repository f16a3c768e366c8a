"""Accuracy, negative log-likelihood, expected calibration error and Brier score.

NLL and the Brier score are one line each. ECE and the reliability diagram share one binning,
Guo et al.'s (2017): bin k (k = 1..M) holds the confidences in ((k-1)/M, k/M], so a
confidence of 1.0 falls in the top bin. It is written here (a bincount) because
torchmetrics' calibration error bins as [k/M, (k+1)/M) with 1.0 in a bin of its own, which
differs from Guo et al. and from the reliability diagram (e.g. 3 examples at confidence 1.0
and 7 at 0.961, 9 of 10 correct: Guo's ECE is 0.0726, torchmetrics' 0.1274).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

ECE_BINS = 15


def brier_score(probs: Tensor, target: Tensor) -> Tensor:
    r"""Brier score (Brier 1950): :math:`\frac1N \sum_i \sum_j (p_{ij} - y_{ij})^2` with
    one-hot targets :math:`y`. 0 is perfect, 2 the worst."""
    onehot = F.one_hot(target, probs.shape[1]).to(probs.dtype)
    return (probs - onehot).square().sum(1).mean()


def calibration_bins(confidence: Tensor, n_bins: int = ECE_BINS) -> Tensor:
    """Bin index 0..n_bins-1 of each confidence: bin k holds (k/n, (k+1)/n] (Guo et al. 2017)."""
    return torch.clamp((confidence * n_bins).ceil().long() - 1, 0, n_bins - 1)


def _bin_statistics(probs: Tensor, target: Tensor, n_bins: int):
    """Per-bin count, summed confidence and summed correctness (float64)."""
    confidence, prediction = probs.double().max(1)
    correct = (prediction == target).double()
    index = calibration_bins(confidence, n_bins)
    count = torch.bincount(index, minlength=n_bins).double()
    conf_sum = torch.bincount(index, weights=confidence, minlength=n_bins)
    acc_sum = torch.bincount(index, weights=correct, minlength=n_bins)
    return count, conf_sum, acc_sum


def expected_calibration_error(probs: Tensor, target: Tensor, n_bins: int = ECE_BINS) -> Tensor:
    r"""ECE (Guo et al. 2017): :math:`\sum_b \frac{|B_b|}{n} |\mathrm{acc}(B_b) - \mathrm{conf}(B_b)|`
    over ``n_bins`` equal-width bins ((k-1)/M, k/M] of the top-class confidence."""
    count, conf_sum, acc_sum = _bin_statistics(probs, target, n_bins)
    n = count.sum().clamp_min(1.0)
    return ((acc_sum - conf_sum).abs().sum() / n).to(probs.dtype)


def reliability_bins(probs: Tensor, target: Tensor, n_bins: int = ECE_BINS) -> dict[str, float]:
    """Per-bin mean confidence, accuracy and fraction of examples (the reliability diagram
    of Guo et al. 2017), the bins of :func:`expected_calibration_error`, as keys
    ``calibration/<k>/conf``, ``.../acc``, ``.../frac``; empty bins are left out."""
    count, conf_sum, acc_sum = _bin_statistics(probs, target, n_bins)
    total = float(count.sum())
    out = {}
    for k in range(n_bins):
        if count[k] > 0:
            out[f"calibration/{k}/conf"] = float(conf_sum[k] / count[k])
            out[f"calibration/{k}/acc"] = float(acc_sum[k] / count[k])
            out[f"calibration/{k}/frac"] = float(count[k]) / total
    return out


def classification_metrics(logits: Tensor, target: Tensor) -> dict[str, float]:
    """``acc``, ``nll`` (mean -log p_t), ``ece`` (15 bins) and ``brier`` from logits."""
    logits = logits.float()
    probs = logits.softmax(1)
    return {
        "acc": (logits.argmax(1) == target).float().mean().item(),
        "nll": F.cross_entropy(logits, target).item(),
        "ece": expected_calibration_error(probs, target).item(),
        "brier": brier_score(probs, target).item(),
    }


def accuracy(logits: Tensor, target: Tensor) -> float:
    return (logits.argmax(1) == target).float().mean().item() if len(target) else float("nan")


#: Liu et al. (2019) thresholds on training images per class
MANY, FEW = 100, 20
#: the largest class must exceed this for Liu et al.'s thresholds to be used
LARGE = 200


def shot_groups(counts: list[int]) -> tuple[dict[str, list[int]], str]:
    """Classes of the many-, medium- and few-shot groups of a long-tailed training set with
    class counts ``counts``, and the rule used: Liu et al. (2019, OLTR) where the largest
    class has more than :data:`LARGE` images (more than 100, 20 to 100, fewer than 20
    training images), else thirds of the classes by training frequency."""
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
