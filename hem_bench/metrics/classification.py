"""Accuracy, negative log-likelihood, expected calibration error and Brier score.

ECE comes from torchmetrics; NLL and the Brier score are one line each.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.functional.classification import multiclass_calibration_error

ECE_BINS = 15


def brier_score(probs: Tensor, target: Tensor) -> Tensor:
    r"""Brier score (Brier 1950): :math:`\frac1N \sum_i \sum_j (p_{ij} - y_{ij})^2` with
    one-hot targets :math:`y`. 0 is perfect, 2 the worst."""
    onehot = F.one_hot(target, probs.shape[1]).to(probs.dtype)
    return (probs - onehot).square().sum(1).mean()


def expected_calibration_error(probs: Tensor, target: Tensor, n_bins: int = ECE_BINS) -> Tensor:
    r"""ECE (Guo et al. 2017): :math:`\sum_b \frac{|B_b|}{n} |\mathrm{acc}(B_b) - \mathrm{conf}(B_b)|`
    over ``n_bins`` equal-width bins of the top-class confidence (torchmetrics, L1 norm)."""
    return multiclass_calibration_error(
        probs, target, num_classes=probs.shape[1], n_bins=n_bins, norm="l1"
    )


def reliability_bins(probs: Tensor, target: Tensor, n_bins: int = ECE_BINS) -> dict[str, float]:
    """Per-bin mean confidence, accuracy and fraction of examples (the reliability diagram
    of Guo et al. 2017), bins ``(k/n, (k+1)/n]`` of the top-class confidence, as keys
    ``calibration/<k>/conf``, ``.../acc``, ``.../frac``; empty bins are left out."""
    confidence, prediction = probs.max(1)
    correct = (prediction == target).float()
    index = torch.clamp((confidence * n_bins).ceil().long() - 1, 0, n_bins - 1)
    out = {}
    for k in range(n_bins):
        inside = index == k
        if inside.any():
            out[f"calibration/{k}/conf"] = confidence[inside].mean().item()
            out[f"calibration/{k}/acc"] = correct[inside].mean().item()
            out[f"calibration/{k}/frac"] = inside.float().mean().item()
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
