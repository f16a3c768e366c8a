"""Losses for long-tailed (imbalanced) training sets: LDAM and balanced softmax.

Both need the class counts of the training set actually used; the imbalanced task injects
them. (Logit-adjusted loss and HEM+ live in ``softmax.py`` and ``hem.py``.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hem_bench.errors import ConfigError
from hem_bench.losses._base import (
    ClassCountsMixin,
    ClassificationLoss,
    check_inputs,
    check_positive,
)
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
    in logit units.

    Deferred re-weighting (DRW, the paper's LDAM-DRW; ``drw=True``): from epoch
    ``floor(drw_start * max_epochs)`` on (the paper: 160 of 200), example i is weighted by
    :math:`w_{t_i}`, :math:`w_c \propto (1 - \beta) / (1 - \beta^{n_c})` (the inverse
    "effective number" of Cui et al. 2019, :math:`\beta` = ``drw_beta``) normalised to
    :math:`\sum_c w_c = C`, and the mean becomes :math:`\sum_i w_{t_i} \ell_i / \sum_i
    w_{t_i}`, as ``F.cross_entropy(..., weight=w)`` in the authors' code. The tasks call
    :meth:`set_epoch` at every epoch's start.

    Args:
        class_counts: training examples per class (positive), length C.
        max_margin: :math:`m`, the margin of the rarest class [0.5].
        s: logit scale [30.0].
        drw: deferred re-weighting [False].
        drw_start: fraction of the epochs after which re-weighting starts, in [0, 1] [0.8].
        drw_beta: :math:`\beta \in [0, 1)` of the effective number [0.9999].
    """

    def __init__(
        self,
        class_counts: Sequence[float],
        max_margin: float = 0.5,
        s: float = 30.0,
        drw: bool = False,
        drw_start: float = 0.8,
        drw_beta: float = 0.9999,
        reduction: str = "mean",
        ignore_index: int = -100,
    ):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.max_margin = check_positive("max_margin", max_margin, allow_zero=True)
        self.s = check_positive("s", s)
        self.drw = bool(drw)
        self.drw_start = check_positive("drw_start", drw_start, allow_zero=True)
        self.drw_beta = check_positive("drw_beta", drw_beta, allow_zero=True)
        if self.drw_start > 1 or self.drw_beta >= 1:
            raise ConfigError(
                f"drw_start must lie in [0, 1] and drw_beta in [0, 1); got {drw_start} and "
                f"{drw_beta}"
            )
        counts = self._set_class_counts(class_counts, "ldam")
        margins = counts.pow(-0.25)
        margins = margins * (self.max_margin / margins.max())
        self.register_buffer("margins", margins.float(), persistent=False)
        weights = (1.0 - self.drw_beta) / (1.0 - torch.pow(self.drw_beta, counts))
        weights = weights / weights.sum() * len(counts)
        self.register_buffer("drw_weights", weights.float(), persistent=False)
        #: whether the current epoch re-weights (set by :meth:`set_epoch`)
        self.reweighting = False

    def set_epoch(self, epoch: int, max_epochs: int) -> None:
        self.reweighting = self.drw and epoch >= int(self.drw_start * max_epochs)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if not self.reweighting:
            return super().forward(logits, target)
        logits, target, valid = check_inputs(logits, target, self.ignore_index)
        self.check_num_classes(logits.shape[1])
        weights = self.drw_weights.to(logits.dtype)[target]
        if valid is not None:
            weights = weights.masked_fill(~valid, 0.0)
        weighted = self.per_example(logits, target) * weights
        if self.reduction == "none":
            return weighted
        if self.reduction == "sum":
            return weighted.sum()
        return weighted.sum() / weights.sum().clamp_min(torch.finfo(weights.dtype).tiny)

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        shift = self.margins.to(logits.dtype)[target].unsqueeze(1)
        onehot = torch.zeros_like(logits).scatter_(1, target.unsqueeze(1), 1.0)
        return F.cross_entropy(self.s * (logits - shift * onehot), target, reduction="none")
