"""Softmax cross-entropy and its variants: label smoothing, focal, LogitNorm, logit adjustment.

Cross-entropy and label smoothing are torch's own kernels. Focal, LogitNorm and
logit-adjusted loss are one line on top of ``log_softmax`` / ``cross_entropy``; LogitNorm
matches pytorch-ood's ``LogitNorm`` (checked by the tests) without importing pytorch-ood,
whose import pulls in torchvision and costs a second at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hem_bench.errors import ConfigError
from hem_bench.losses._base import ClassCountsMixin, ClassificationLoss, check_positive
from hem_bench.losses._registry import register_loss
from hem_bench.losses.info import LossInfo, Paper


def _target_log_prob(logits: Tensor, target: Tensor) -> Tensor:
    """log p_t of each example, from a numerically stable log-softmax over dim 1."""
    return F.log_softmax(logits, dim=1).gather(1, target.unsqueeze(1)).squeeze(1)


@register_loss(
    "ce",
    info=LossInfo(
        summary="softmax cross-entropy",
        paper=Paper(
            title="Probabilistic interpretation of feedforward classification network "
            "outputs, with relationships to statistical pattern recognition",
            authors="Bridle",
            venue="Neurocomputing (NATO ASI)",
            year=1990,
            url="https://doi.org/10.1007/978-3-642-76153-9_28",
        ),
    ),
)
class CrossEntropyLoss(ClassificationLoss):
    r"""Softmax cross-entropy (Bridle 1990): :math:`-\log p_t`, :math:`p = \mathrm{softmax}(y)`.

    Equal to ``torch.nn.functional.cross_entropy`` (it is that kernel).
    """

    def __init__(self, reduction: str = "mean", ignore_index: int = -100):
        super().__init__(reduction=reduction, ignore_index=ignore_index)

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits, target, reduction="none")


@register_loss(
    "label-smoothing",
    info=LossInfo(
        summary="cross-entropy against (1 - alpha) one-hot + alpha / C",
        paper=Paper(
            title="Rethinking the Inception Architecture for Computer Vision",
            authors="Szegedy et al.",
            venue="CVPR",
            year=2016,
            url="https://arxiv.org/abs/1512.00567",
        ),
    ),
)
class LabelSmoothingLoss(ClassificationLoss):
    r"""Label smoothing (Szegedy et al. 2016).

    .. math::
        \ell = -\sum_j q_j \log p_j, \qquad q = (1 - \alpha)\, \mathrm{onehot}(t) + \alpha / C
             = (1-\alpha)(-\log p_t) + \alpha \cdot \tfrac{1}{C}\sum_j (-\log p_j).

    Kornblith et al.'s released code (google-research ``loss_functions_transfer``) also
    divides this loss by :math:`1 - \alpha`, a constant factor (equivalent to a larger
    learning rate under SGD without weight decay); it is not applied here.

    Args:
        alpha: smoothing :math:`\alpha \in [0, 1]` [0.1].
    """

    def __init__(self, alpha: float = 0.1, reduction: str = "mean", ignore_index: int = -100):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.alpha = check_positive("alpha", alpha, allow_zero=True)
        if self.alpha > 1:
            raise ConfigError(f"alpha must lie in [0, 1]; got {self.alpha}")

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits, target, reduction="none", label_smoothing=self.alpha)


@register_loss(
    "focal",
    info=LossInfo(
        summary="softmax focal loss -(1 - p_t)^gamma log p_t",
        paper=Paper(
            title="Focal Loss for Dense Object Detection",
            authors="Lin et al.",
            venue="ICCV",
            year=2017,
            url="https://arxiv.org/abs/1708.02002",
        ),
    ),
)
class FocalLoss(ClassificationLoss):
    r"""Softmax focal loss (Lin et al. 2017): :math:`-(1 - p_t)^\gamma \log p_t`.

    The multi-class (softmax) form without the class weight :math:`\alpha_t`;
    :math:`\gamma = 0` is cross-entropy.

    Args:
        gamma: focusing parameter :math:`\gamma \ge 0` [2.0].
    """

    def __init__(self, gamma: float = 2.0, reduction: str = "mean", ignore_index: int = -100):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.gamma = check_positive("gamma", gamma, allow_zero=True)

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        log_pt = _target_log_prob(logits, target)
        # (1 - p_t) computed as -expm1(log p_t): exact when p_t is close to 1
        return -torch.pow(-torch.expm1(log_pt), self.gamma) * log_pt


@register_loss(
    "logitnorm",
    info=LossInfo(
        summary="cross-entropy of logits scaled to norm 1/tau",
        paper=Paper(
            title="Mitigating Neural Network Overconfidence with Logit Normalization",
            authors="Wei et al.",
            venue="ICML",
            year=2022,
            url="https://arxiv.org/abs/2205.09310",
        ),
    ),
)
class LogitNormLoss(ClassificationLoss):
    r"""LogitNorm (Wei et al. 2022): :math:`\mathrm{CE}\big(y / (\tau \lVert y \rVert_2), t\big)`.

    Matches ``pytorch_ood.loss.LogitNorm(t=tau)``, including its :math:`10^{-7}` added to
    the norm. :math:`\tau = 0.04` is the paper's value for CIFAR-10.

    Args:
        tau: temperature :math:`\tau > 0` [0.04].
    """

    def __init__(self, tau: float = 0.04, reduction: str = "mean", ignore_index: int = -100):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.tau = check_positive("tau", tau)

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        norm = torch.linalg.vector_norm(logits, dim=1, keepdim=True) + 1e-7
        return F.cross_entropy(logits / (norm * self.tau), target, reduction="none")


@register_loss(
    "logit-adjusted",
    info=LossInfo(
        summary="cross-entropy on logits + tau * log(class prior)",
        paper=Paper(
            title="Long-tail learning via logit adjustment",
            authors="Menon et al.",
            venue="ICLR",
            year=2021,
            url="https://arxiv.org/abs/2007.07314",
        ),
        needs_class_counts=True,
    ),
)
class LogitAdjustedLoss(ClassCountsMixin, ClassificationLoss):
    r"""Logit-adjusted loss (Menon et al. 2021): :math:`\mathrm{CE}(y + \tau \log \pi, t)`.

    :math:`\pi_j = n_j / \sum_k n_k` are the class priors of the training set; frequent
    classes must win by a larger margin. Predictions use the raw logits.

    Args:
        class_counts: training examples per class (positive), length C.
        tau: scaling :math:`\tau \ge 0` [1.0].
    """

    def __init__(
        self,
        class_counts: Sequence[float],
        tau: float = 1.0,
        reduction: str = "mean",
        ignore_index: int = -100,
    ):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.tau = check_positive("tau", tau, allow_zero=True)
        counts = self._set_class_counts(class_counts, "logit-adjusted")
        log_prior = torch.log(counts / counts.sum())
        self.register_buffer("adjustment", (self.tau * log_prior).float(), persistent=False)

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        shape = [1, -1] + [1] * (logits.dim() - 2)
        adjusted = logits + self.adjustment.to(logits.dtype).view(shape)
        return F.cross_entropy(adjusted, target, reduction="none")
