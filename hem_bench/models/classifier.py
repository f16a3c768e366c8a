"""A classifier = normalisation (its first layer) + backbone + optional dropout + head.

Normalisation inside the model means data, attacks and corruptions all work on images in
[0, 1]. ``features(x)`` is the penultimate representation (for OOD detectors, class
separation and CKA); ``forward(x)`` the logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hem_bench.models.heads import make_head


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean)).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std)).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    def __init__(
        self,
        backbone: nn.Module,
        num_features: int,
        num_classes: int,
        mean: Sequence[float],
        std: Sequence[float],
        head: str = "linear",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = make_head(head, num_features, num_classes)
        self.num_features, self.num_classes = num_features, num_classes

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features ``(N, D)``."""
        return self.backbone(self.normalize(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(x)))

    def set_output_bias(self, value) -> None:
        """Start the output layer's bias at ``value``: one number for every class (sigmoid
        cross-entropy: -log C), or one per class (the log class prior)."""
        if getattr(self.head, "bias", None) is not None:
            with torch.no_grad():
                self.head.bias.copy_(torch.as_tensor(value, dtype=self.head.bias.dtype))
