"""Multi-class hinge loss (Weston & Watkins 1999), for ``(N, C)`` and dense inputs.

torch's ``MultiMarginLoss`` computes it for ``(N, C)`` only and without ``ignore_index``;
this module extends the same normalisation to dense targets (tested equal on ``(N, C)``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hem_bench.errors import ConfigError
from hem_bench.losses._base import ClassificationLoss, check_positive
from hem_bench.losses._registry import register_loss
from hem_bench.losses.info import LossInfo, Paper


@register_loss(
    "multi-margin",
    info=LossInfo(
        summary="multi-class hinge: sum of margin violations over the other classes, / C",
        paper=Paper(
            title="Support Vector Machines for Multi-Class Pattern Recognition",
            authors="Weston & Watkins",
            venue="ESANN",
            year=1999,
            url="https://www.esann.org/sites/default/files/proceedings/legacy/es1999-461.pdf",
        ),
    ),
)
class MultiMarginLoss(ClassificationLoss):
    r"""Multi-class hinge loss (Weston & Watkins 1999) with torch's normalisation.

    .. math::
        \ell(y, t) = \frac{1}{C} \sum_{j \ne t} \max(0,\; \mu - y_t + y_j)^p

    Equal to ``torch.nn.MultiMarginLoss(p=p, margin=mu)`` on ``(N, C)`` inputs. HEM
    (:class:`hem_bench.losses.hem.HEMLoss`) differs by averaging over the high errors only.

    Args:
        margin: :math:`\mu \ge 0` [1.0].
        p: exponent, 1 or 2 [1].
    """

    def __init__(
        self, margin: float = 1.0, p: int = 1, reduction: str = "mean", ignore_index: int = -100
    ):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.margin = check_positive("margin", margin, allow_zero=True)
        if p not in (1, 2):
            raise ConfigError(f"p must be 1 or 2; got {p!r}")
        self.p = int(p)

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        index = target.unsqueeze(1)
        shift = logits.gather(1, index) - self.margin
        violations = (logits - shift).clamp_min_(0.0).scatter(1, index, 0.0)
        if self.p == 2:
            violations = violations.square()
        value = violations.sum(1) / logits.shape[1]
        # a non-finite target logit would read as every margin met: NaN, as cross-entropy
        return value.masked_fill(~torch.isfinite(shift.squeeze(1)), float("nan"))
