"""Output layers: the usual linear layer, and the cosine softmax of Kornblith et al. (2021).

The head-level objectives of Kornblith et al. live here and in :class:`Classifier`:
cosine softmax (``head="cosine"``), dropout on the penultimate layer (``dropout``), and an
extra L2 penalty on the final layer only (``final_l2`` = λ: λ/2 ‖W‖², added to the loss by the task).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LinearHead(nn.Linear):
    """``z = W f + b``."""

    def linear_form(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(features, W, b)`` such that the logits are ``features @ W.T + b``."""
        return features, self.weight, self.bias


class CosineHead(nn.Module):
    r"""Cosine softmax (Kornblith et al. 2021; cf. Wang et al. 2018):
    :math:`z_j = \cos(w_j, f) / \tau = \frac{w_j^\top f}{\lVert w_j\rVert \lVert f\rVert\, \tau}`.

    Args:
        tau: temperature [0.05], the value Kornblith et al. use.
    """

    def __init__(self, in_features: int, out_features: int, tau: float = 0.05) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"cosine softmax temperature must be > 0; got {tau}")
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.tau = tau
        self.bias = None

    def forward(self, features: Tensor) -> Tensor:
        return F.linear(F.normalize(features, dim=1), F.normalize(self.weight, dim=1)) / self.tau

    def linear_form(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        weight = F.normalize(self.weight, dim=1) / self.tau
        return F.normalize(features, dim=1), weight, torch.zeros_like(weight[:, 0])


def make_head(kind: str, in_features: int, num_classes: int) -> nn.Module:
    if kind == "linear":
        return LinearHead(in_features, num_classes)
    if kind == "cosine":
        return CosineHead(in_features, num_classes)
    raise ValueError(f"head must be 'linear' or 'cosine'; got {kind!r}")
