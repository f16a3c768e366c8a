"""Splits every task needs: functions of a data set's labels (or its number of classes)
and a seed, so that the same seed always gives the same split.

- open set (Vaze et al. 2022): a random partition of the classes into known and unknown;
- long tail (Cao et al. 2019): exponential or step imbalance of ratio rho on a training set;
- class-incremental experiences (continual learning): disjoint groups of classes;
- out-of-distribution images: Gaussian and uniform noise (Hendrycks & Gimpel 2017), and
  other data sets' images converted to the in-distribution shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hem_bench.errors import ConfigError

LONG_TAIL_KINDS = ("exp", "step")


def default_num_known(num_classes: int) -> int:
    """Known classes of an open-set split: 6 of 10 as in Vaze et al. (2022) for CIFAR-10 and
    the digits; 60 % (rounded) for other numbers of classes."""
    return 6 if num_classes == 10 else max(1, min(num_classes - 1, round(0.6 * num_classes)))


def open_set_split(num_classes: int, num_known: int, seed: int) -> tuple[list[int], list[int]]:
    """A random partition of ``range(num_classes)`` into known and unknown classes.

    Vaze et al. (2022), "Open-set recognition: a good closed-set classifier is all you
    need": CIFAR-10 with six known and four unknown classes, over several random splits
    (one per seed here). Both lists are sorted.
    """
    if not isinstance(num_known, int) or not 1 <= num_known < num_classes:
        raise ConfigError(
            f"an open-set split needs 1 <= known classes < {num_classes} (the data set's "
            f"classes); got {num_known!r}"
        )
    order = torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[:num_known]), sorted(order[num_known:])


def long_tail_counts(n_max: int, num_classes: int, ratio: float, kind: str = "exp") -> list[int]:
    """Training examples per class of a long-tailed set (Cao et al. 2019, LDAM-DRW).

    ``exp``: ``n_i = floor(n_max * ratio^(-i / (C - 1)))``; ``step``: the first half of the
    classes keep ``n_max``, the rest ``floor(n_max / ratio)``. Class 0 is the head. The
    imbalance ratio ``n_max / n_min`` equals ``ratio`` up to rounding.
    """
    if kind not in LONG_TAIL_KINDS:
        raise ConfigError(
            f"long-tail kind must be one of {', '.join(LONG_TAIL_KINDS)}; got {kind!r}"
        )
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ratio >= 1):
        raise ConfigError(f"imbalance ratio must be a finite number >= 1; got {ratio!r}")
    if num_classes < 2:
        raise ConfigError(f"a long-tailed split needs at least 2 classes; got {num_classes}")
    if kind == "exp":
        counts = [
            math.floor(n_max * ratio ** (-i / (num_classes - 1)) + 1e-9) for i in range(num_classes)
        ]
    else:
        half = num_classes // 2
        counts = [n_max] * (num_classes - half) + [math.floor(n_max / ratio + 1e-9)] * half
    if min(counts) < 1:
        raise ConfigError(
            f"imbalance ratio {ratio} is impossible with {n_max} examples in the largest class: "
            f"the smallest class would have {min(counts)} (ratio must be at most {n_max})"
        )
    return counts


def long_tail_indices(
    labels: Tensor, num_classes: int, ratio: float, kind: str = "exp", seed: int = 0
) -> Tensor:
    """Indices of a long-tailed subset of a (roughly balanced) labelled set.

    ``n_max`` is the size of the smallest class of ``labels`` (so every class can supply
    its count); each class keeps a random subset (per ``seed``) of the size given by
    :func:`long_tail_counts`.
    """
    available = torch.bincount(labels, minlength=num_classes)
    counts = long_tail_counts(int(available.min()), num_classes, ratio, kind)
    gen = torch.Generator().manual_seed(seed)
    chosen = []
    for cls, count in enumerate(counts):
        members = torch.nonzero(labels == cls).flatten()
        chosen.append(members[torch.randperm(len(members), generator=gen)[:count]])
    return torch.sort(torch.cat(chosen)).values


def class_incremental_experiences(
    num_classes: int, num_experiences: int, seed: int = 0, shuffle: bool = False
) -> list[list[int]]:
    """Disjoint groups of classes, one per experience, in the order they are learnt.

    With ``shuffle=False`` the classes keep their natural order (split digits/MNIST:
    {0, 1}, {2, 3}, ...); with ``shuffle=True`` the class order is a permutation drawn
    from ``seed``. ``num_classes`` must divide evenly.
    """
    if not isinstance(num_experiences, int) or num_experiences < 1:
        raise ConfigError(f"experiences must be a positive integer; got {num_experiences!r}")
    if num_classes % num_experiences:
        raise ConfigError(
            f"{num_classes} classes do not divide into {num_experiences} experiences of equal "
            f"size; choose a divisor of {num_classes}"
        )
    order = (
        torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed)).tolist()
        if shuffle
        else list(range(num_classes))
    )
    size = num_classes // num_experiences
    return [order[i * size : (i + 1) * size] for i in range(num_experiences)]


def noise_images(kind: str, count: int, shape: Sequence[int], seed: int = 0) -> Tensor:
    """Noise images in [0, 1] as out-of-distribution inputs (Hendrycks & Gimpel 2017).

    ``gaussian``: i.i.d. N(0.5, 1) per pixel, clipped to [0, 1]; ``uniform``: U[0, 1].
    """
    gen = torch.Generator().manual_seed(seed)
    size = (count, *shape)
    if kind == "gaussian":
        return (torch.randn(size, generator=gen) + 0.5).clamp_(0.0, 1.0)
    if kind == "uniform":
        return torch.rand(size, generator=gen)
    raise ConfigError(f"noise kind must be 'gaussian' or 'uniform'; got {kind!r}")


def convert_images(images: Tensor, shape: Sequence[int]) -> Tensor:
    """Images (float in [0, 1]) converted to ``shape = (C, H, W)``: RGB to grey by ITU-R
    601 luma, grey to RGB by repetition, then resized (area-averaged when shrinking)."""
    channels, height, width = shape
    if images.shape[1] == 3 and channels == 1:
        weights = images.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        images = (images * weights).sum(1, keepdim=True)
    elif images.shape[1] == 1 and channels == 3:
        images = images.expand(-1, 3, -1, -1)
    elif images.shape[1] != channels:
        raise ConfigError(f"cannot convert {images.shape[1]}-channel images to {channels} channels")
    if tuple(images.shape[2:]) != (height, width):
        shrinking = images.shape[2] >= height and images.shape[3] >= width
        images = F.interpolate(
            images,
            size=(height, width),
            mode="area" if shrinking else "bilinear",
            **({} if shrinking else {"align_corners": False}),
        )
    return images.clamp(0.0, 1.0).contiguous()
