"""Multi-class soft Dice loss on softmax probabilities, for dense and ``(N, C)`` inputs.

segmentation-models-pytorch's ``DiceLoss`` has no reduction, and gives absent classes a
loss of zero (it never learns to predict them nowhere); this version keeps them, smoothed,
and follows the registry's call contract. It equals smp's ``DiceLoss(mode="multiclass",
smooth=smooth / 2)`` whenever every class is present in the target (smp writes the score as
``(I + s) / ((P + G) / 2 + s)``; checked by the tests).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hem_bench.losses._base import ClassificationLoss, check_inputs, check_positive
from hem_bench.losses._registry import register_loss
from hem_bench.losses.info import LossInfo, Paper


@register_loss(
    "dice",
    info=LossInfo(
        summary="1 - mean over classes of the soft Dice coefficient of softmax probabilities",
        elementwise=False,
        paper=Paper(
            title="Generalised Dice overlap as a deep learning loss function for highly "
            "unbalanced segmentations",
            authors="Sudre et al.",
            venue="DLMIA (MICCAI workshop)",
            year=2017,
            url="https://arxiv.org/abs/1707.03237",
        ),
    ),
)
class DiceLoss(ClassificationLoss):
    r"""Multi-class soft Dice loss in the form of Sudre et al. 2017 (their generalised Dice
    with every class weight 1): plain sums of probabilities and targets in the denominator.
    Milletari et al. 2016 (V-Net), where the soft Dice loss comes from, square them
    (:math:`\sum p^2 + \sum g^2`); that variant is not what is computed here.

    With :math:`p = \mathrm{softmax}(y)` over classes and one-hot targets :math:`g`:

    .. math::
        \ell = 1 - \frac{1}{C}\sum_{c=1}^{C}
               \frac{2\sum_i p_{ic}\, g_{ic} + \varepsilon}{\sum_i p_{ic} + \sum_i g_{ic} + \varepsilon}

    The sums run over a set :math:`i` of examples (pixels):

    - ``'mean'``: the whole batch (all examples and pixels) — the usual Dice loss;
    - ``'none'``: each example (image) on its own, giving one value per example, shape
      ``(N,)``; ``'sum'`` adds those. Dice is a set-level score, so unlike the other
      losses ``'mean'`` is not the mean of ``'none'`` and dense targets do not give one
      value per pixel.

    Absent classes (no pixel of class :math:`c` in the set) stay in the average: their
    term is :math:`\varepsilon / (\sum_i p_{ic} + \varepsilon)`, which rewards giving them
    no probability. Pixels whose target is ``ignore_index`` are removed from every sum;
    a set with nothing left scores 0.

    Args:
        smooth: :math:`\varepsilon > 0` [1.0].
    """

    def __init__(self, smooth: float = 1.0, reduction: str = "mean", ignore_index: int = -100):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.smooth = check_positive("smooth", smooth)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        logits, target, valid = check_inputs(logits, target, self.ignore_index)
        probs, onehot = self._probs_and_targets(logits, target, valid)
        if self.reduction == "mean":
            return 1.0 - self._dice(probs, onehot, (0, *range(2, logits.dim()))).mean()
        per_example = 1.0 - self._dice(probs, onehot, tuple(range(2, logits.dim()))).mean(1)
        return per_example if self.reduction == "none" else per_example.sum()

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        """Dice loss of each example (image) on its own, on validated inputs."""
        probs, onehot = self._probs_and_targets(logits, target, None)
        return 1.0 - self._dice(probs, onehot, tuple(range(2, logits.dim()))).mean(1)

    @staticmethod
    def _probs_and_targets(
        logits: Tensor, target: Tensor, valid: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        probs = torch.softmax(logits, dim=1)
        onehot = torch.zeros_like(probs).scatter_(1, target.unsqueeze(1), 1.0)
        if valid is not None:
            keep = valid.unsqueeze(1).to(probs.dtype)
            probs, onehot = probs * keep, onehot * keep
        return probs, onehot

    def _dice(self, probs: Tensor, onehot: Tensor, dims: tuple[int, ...]) -> Tensor:
        """Soft Dice of each class, summing over ``dims`` (none: each entry on its own)."""
        if dims:
            inter = (probs * onehot).sum(dims)
            denom = probs.sum(dims) + onehot.sum(dims)
        else:
            inter, denom = probs * onehot, probs + onehot
        return (2.0 * inter + self.smooth) / (denom + self.smooth)
