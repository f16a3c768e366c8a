"""Losses for long-tailed (imbalanced) training sets: LDAM and balanced softmax.

Both need the class counts of the training set actually used; the imbalanced task injects
them. (Logit-adjusted loss and HEM+ live in ``softmax.py`` and ``hem.py``.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hem_bench.losses._base import ClassCountsMixin, ClassificationLoss, check_positive
from hem_bench.losses._registry import register_loss
from hem_bench.losses.info import LossInfo, Paper


def _class_shape(logits: Tensor) -> list[int]:
    return [1, -1] + [1] * (logits.dim() - 2)


@register_loss(
    "balanced-softmax",
    info=LossInfo(
        summary="cross-entropy on logits + log(class count)",
        paper=Paper(
            title="Balanced Meta-Softmax for Long-Tailed Visual Recognition",
            authors="Ren et al.",
            venue="NeurIPS",
            year=2020,
            url="https://arxiv.org/abs/2007.10740",
        ),
        needs_class_counts=True,
    ),
)
class BalancedSoftmaxLoss(ClassCountsMixin, ClassificationLoss):
    r"""Balanced softmax (Ren et al. 2020): :math:`\mathrm{CE}(y + \log n, t)`.

    The softmax is reweighted by the training class counts :math:`n_j`, which corrects the
    label shift between the long-tailed training set and a balanced test set. Equal to
    logit-adjusted loss (Menon et al. 2021) with :math:`\tau = 1` (the softmax ignores the
    constant :math:`\log \sum_k n_k`). Predictions use the raw logits.

    Args:
        class_counts: training examples per class (positive), length C.
    """

    def __init__(
        self, class_counts: Sequence[float], reduction: str = "mean", ignore_index: int = -100
    ):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        counts = self._set_class_counts(class_counts, "balanced-softmax")
        self.register_buffer("log_counts", torch.log(counts).float(), persistent=False)

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        adjusted = logits + self.log_counts.to(logits.dtype).view(_class_shape(logits))
        return F.cross_entropy(adjusted, target, reduction="none")


@register_loss(
    "ldam",
    info=LossInfo(
        summary="cross-entropy with a class-dependent margin C / n_t^(1/4) on the target logit",
        paper=Paper(
            title="Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
            authors="Cao et al.",
            venue="NeurIPS",
            year=2019,
            url="https://arxiv.org/abs/1906.07413",
        ),
        needs_class_counts=True,
    ),
)
class LDAMLoss(ClassCountsMixin, ClassificationLoss):
    r"""Label-distribution-aware margin loss (Cao et al. 2019).

    .. math::
        \ell(y, t) = -\log \frac{e^{s (y_t - \Delta_t)}}{e^{s (y_t - \Delta_t)} + \sum_{j \ne t} e^{s y_j}},
        \qquad \Delta_j \propto n_j^{-1/4}, \quad \max_j \Delta_j = m ,

    as in the authors' code (``output = where(target, x - m_t, x); CE(s * output)``).
    Rarer classes must win by a larger margin. The paper applies it to a normalised
    linear layer (cosine similarities in [-1, 1]) with :math:`s = 30`; with this suite's
    default linear head the logits are unnormalised, so :math:`s` also scales the margin
    in logit units. The deferred re-weighting schedule (DRW) of the paper is not part of
    the loss.

    Args:
        class_counts: training examples per class (positive), length C.
        max_margin: :math:`m`, the margin of the rarest class [0.5].
        s: logit scale [30.0].
    """

    def __init__(
        self,
        class_counts: Sequence[float],
        max_margin: float = 0.5,
        s: float = 30.0,
        reduction: str = "mean",
        ignore_index: int = -100,
    ):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.max_margin = check_positive("max_margin", max_margin, allow_zero=True)
        self.s = check_positive("s", s)
        counts = self._set_class_counts(class_counts, "ldam")
        margins = counts.pow(-0.25)
        margins = margins * (self.max_margin / margins.max())
        self.register_buffer("margins", margins.float(), persistent=False)

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        shift = self.margins.to(logits.dtype)[target].unsqueeze(1)
        onehot = torch.zeros_like(logits).scatter_(1, target.unsqueeze(1), 1.0)
        return F.cross_entropy(self.s * (logits - shift * onehot), target, reduction="none")
