"""Semantic segmentation metrics from one confusion matrix over the whole test set.

The matrix is accumulated batch by batch with torchmetrics'
``MulticlassConfusionMatrix(num_classes, ignore_index=255)`` (:func:`confusion_matrix_metric`),
which drops pixels whose target is the ignore index and sums the matrix over processes
under DDP. ``M[i, j]`` counts pixels of target class ``i`` predicted as class ``j``; per
class ``c``: ``TP = M[c, c]``, ``FN = sum_j M[c, j] - TP``, ``FP = sum_i M[i, c] - TP``.

From it, :func:`segmentation_metrics` computes (the formulas of the PASCAL VOC and
Cityscapes benchmarks: Everingham et al. 2010, Cordts et al. 2016; Long et al. 2015 for
pixel and mean class accuracy; Dice 1945 / Sørensen 1948 for the Dice score):

- ``iou/<c>`` = TP / (TP + FP + FN), for every class present in the prediction or the
  target (a class absent from both has no IoU and is left out);
- ``miou``: the mean of those IoUs — over classes present in prediction or target, so a
  class that neither occurs nor is predicted does not count (its IoU would be 0/0);
- ``pixel_acc`` = Σ_c TP / number of pixels counted;
- ``mean_class_acc``: the mean over classes present in the target of TP / (TP + FN);
- ``dice``: the mean over classes present in prediction or target of 2TP / (2TP + FP + FN).

Written by hand: these few lines of arithmetic on the matrix (torchmetrics' own IoU and
Dice metrics would each keep their own state, and average absent classes differently).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hem_bench.datamodules.base import IGNORE_INDEX


def confusion_matrix_metric(num_classes: int, ignore_index: int = IGNORE_INDEX):
    """A torchmetrics confusion matrix for ``(N, H, W)`` predicted and target class maps;
    pixels whose target is ``ignore_index`` are not counted."""
    from torchmetrics.classification import MulticlassConfusionMatrix

    return MulticlassConfusionMatrix(num_classes, ignore_index=ignore_index, validate_args=False)


def segmentation_metrics(confmat: Tensor) -> dict[str, float]:
    """``miou``, ``pixel_acc``, ``mean_class_acc``, ``dice`` and ``iou/<c>`` from the
    confusion matrix ``confmat`` (rows: target, columns: prediction)."""
    if confmat.dim() != 2 or confmat.shape[0] != confmat.shape[1]:
        raise ValueError(f"confusion matrix must be square; got shape {tuple(confmat.shape)}")
    m = confmat.double()
    total = m.sum()
    if total <= 0:
        raise ValueError("the confusion matrix counts no pixel (every target ignored?)")
    tp = m.diagonal()
    in_target = m.sum(1)
    in_prediction = m.sum(0)
    fn, fp = in_target - tp, in_prediction - tp
    union = tp + fp + fn
    present = union > 0
    iou = tp[present] / union[present]
    dice = 2 * tp[present] / (2 * tp[present] + fp[present] + fn[present])
    has_target = in_target > 0
    results = {
        "miou": iou.mean().item(),
        "pixel_acc": (tp.sum() / total).item(),
        "mean_class_acc": (tp[has_target] / in_target[has_target]).mean().item(),
        "dice": dice.mean().item(),
    }
    for c, value in zip(torch.nonzero(present).flatten().tolist(), iou.tolist()):
        results[f"iou/{c}"] = value
    return results
