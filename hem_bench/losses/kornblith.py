"""Three of the objectives compared by Kornblith et al. (2021), "Why do better loss functions
lead to less transferable features?" (NeurIPS; the ICLR 2021 submission was titled
"Demystifying loss functions for classification"): sigmoid cross-entropy, squared error and
the logit penalty. Its head-level objectives (cosine softmax, penultimate dropout, extra L2
on the final layer) belong to the model and live with the model heads.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from hem_bench.losses._base import ClassificationLoss, check_positive
from hem_bench.losses._registry import register_loss
from hem_bench.losses.info import LossInfo, Paper

KORNBLITH_PAPER = Paper(
    title="Why Do Better Loss Functions Lead to Less Transferable Features?",
    authors="Kornblith et al.",
    venue="NeurIPS",
    year=2021,
    url="https://arxiv.org/abs/2010.16402",
)


def _one_hot(target: Tensor, num_classes: int, like: Tensor) -> Tensor:
    """One-hot targets laid out like ``like`` (classes in dimension 1)."""
    return torch.zeros_like(like).scatter_(1, target.unsqueeze(1), 1.0)


@register_loss(
    "sigmoid-ce",
    info=LossInfo(
        summary="one-vs-all sigmoid cross-entropy summed over classes; output bias starts at -log C",
        paper=Paper(
            title="Are we done with ImageNet?",
            authors="Beyer et al.",
            venue="arXiv:2006.07159",
            year=2020,
            url="https://arxiv.org/abs/2006.07159",
        ),
    ),
)
class SigmoidCrossEntropyLoss(ClassificationLoss):
    r"""One-vs-all sigmoid cross-entropy (Beyer et al. 2020; Kornblith et al. 2021).

    .. math::
        \ell(y, t) = \sum_{j=1}^{C} \mathrm{BCE}\big(\sigma(y_j), [j = t]\big)
                   = -\log \sigma(y_t) - \sum_{j \ne t} \log\big(1 - \sigma(y_j)\big).

    Each class is an independent binary problem. As in both papers, the bias of the
    model's output layer starts at :math:`-\log C` (see :meth:`output_bias_init`), so the
    initial loss is not dominated by the :math:`C - 1` negatives. (Kornblith et al.'s
    released code subtracts :math:`\log C` from the logits inside the loss instead; the
    two agree at initialisation and differ only in how weight decay acts on the shift.)
    """

    def __init__(self, reduction: str = "mean", ignore_index: int = -100):
        super().__init__(reduction=reduction, ignore_index=ignore_index)

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        labels = _one_hot(target, logits.shape[1], logits)
        return F.binary_cross_entropy_with_logits(logits, labels, reduction="none").sum(1)

    def output_bias_init(self, num_classes: int) -> float:
        return -math.log(num_classes)


@register_loss(
    "squared-error",
    info=LossInfo(
        summary="square loss on logits with target rescaling: s (k (y_t - M)^2 + sum_{j!=t} y_j^2), s = 1/C",
        paper=Paper(
            title="Evaluation of Neural Architectures Trained with Square Loss vs "
            "Cross-Entropy in Classification Tasks",
            authors="Hui & Belkin",
            venue="ICLR",
            year=2021,
            url="https://arxiv.org/abs/2006.07322",
        ),
    ),
)
class SquaredErrorLoss(ClassificationLoss):
    r"""Squared error on the logits (Hui & Belkin 2021), as used by Kornblith et al. (2021).

    .. math::
        \ell(y, t) = s\Big[k\,(y_t - M)^2 + \sum_{j \ne t} y_j^2\Big],
        \qquad s = 1/C \text{ by default.}

    :math:`k = 1, M = 1, s = 1/C` is Hui & Belkin's plain square loss against one-hot
    targets (the mean over classes), their choice for data sets with few classes (the
    digits, MNIST, CIFAR-10). For many classes they rescale the target class's term and
    target (:math:`k > 1, M > 1`). Kornblith et al.'s ImageNet setting, from the authors'
    released implementation (google-research ``loss_functions_transfer``), is
    ``k=9, target_value=60, scale=10``.

    Args:
        k: weight of the target class's term, > 0 [1.0].
        target_value: :math:`M`, the regression target of the true class, > 0 [1.0].
        scale: :math:`s`, the loss's overall scale, > 0 [None: 1/C].
    """

    def __init__(
        self,
        k: float = 1.0,
        target_value: float = 1.0,
        scale: float | None = None,
        reduction: str = "mean",
        ignore_index: int = -100,
    ):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.k = check_positive("k", k)
        self.target_value = check_positive("target_value", target_value)
        self.scale = None if scale is None else check_positive("scale", scale)

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        index = target.unsqueeze(1)
        target_logit = logits.gather(1, index).squeeze(1)
        others = logits.square().sum(1) - target_logit.square()
        scale = 1.0 / logits.shape[1] if self.scale is None else self.scale
        return scale * (self.k * (target_logit - self.target_value).square() + others)


@register_loss(
    "logit-penalty",
    info=LossInfo(
        summary="cross-entropy + beta / 2 * squared L2 norm of the logits",
        paper=KORNBLITH_PAPER,
    ),
)
class LogitPenaltyLoss(ClassificationLoss):
    r"""Cross-entropy plus a penalty on the logits' squared norm (Kornblith et al. 2021).

    .. math::
        \ell(y, t) = -\log p_t + \frac{\beta}{2} \lVert y \rVert_2^2 ,

    so the batch mean is :math:`\mathrm{CE} + \frac{\beta}{2}\,\mathrm{mean}\lVert y\rVert_2^2`.
    The factor 1/2 and :math:`\beta = 6 \cdot 10^{-4}` (their ImageNet value) follow the
    authors' released implementation (google-research ``loss_functions_transfer``:
    ``losses.logit_penalty`` and ``load_model.LOSS_HYPERPARAMETERS``).

    Args:
        beta: penalty weight :math:`\beta \ge 0` [6e-4].
    """

    def __init__(self, beta: float = 6e-4, reduction: str = "mean", ignore_index: int = -100):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.beta = check_positive("beta", beta, allow_zero=True)

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        ce = F.cross_entropy(logits, target, reduction="none")
        return ce + 0.5 * self.beta * logits.square().sum(1)
