"""Batches cut from tensors held in memory, with no per-sample Python work.

A :class:`BatchIndexSampler` yields index tensors (one per batch, reshuffled every epoch
from the seed and the epoch number, sharded over distributed ranks without padding), and
:class:`TensorBatches` turns each into a batch by tensor indexing. A standard
``DataLoader(..., batch_size=None)`` ties them together, so Lightning drives them as
usual. :class:`BatchAugment` applies random crops and flips to a whole batch at once on
the batch's device.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from hem_bench.datamodules.base import ImageSet
from hem_bench.seeding import generator


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class BatchIndexSampler(Sampler[Tensor]):
    """Index batches over ``range(size)``.

    Training order is a permutation drawn from ``(seed, epoch)``; evaluation order is
    ``0..size-1``. Under ``torch.distributed``, rank ``r`` of ``w`` takes positions
    ``r, r + w, ...`` of that order: every example is seen by exactly one rank, without
    the padding duplicates of ``DistributedSampler``.
    """

    def __init__(
        self, size: int, batch_size: int, shuffle: bool, seed: int = 0, drop_last: bool = False
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be positive; got {batch_size}")
        self.size, self.batch_size, self.shuffle = size, batch_size, shuffle
        self.seed, self.drop_last, self.epoch = seed, drop_last, 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = epoch

    def _order(self) -> Tensor:
        if self.shuffle:
            gen = generator(self.seed, "shuffle", self.epoch)
            order = torch.randperm(self.size, generator=gen)
        else:
            order = torch.arange(self.size)
        rank, world = _rank_and_world()
        if self.shuffle and world > 1:
            # training: every rank takes the same number of steps, or DDP would hang
            order = order[: world * (self.size // world)]
        return order[rank::world]

    def __iter__(self) -> Iterator[Tensor]:
        order = self._order()
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield order[start : start + self.batch_size]

    def __len__(self) -> int:
        rank, world = _rank_and_world()
        if self.shuffle and world > 1:
            per_rank = self.size // world
        else:
            per_rank = len(range(rank, self.size, world))
        if self.drop_last:
            return per_rank // self.batch_size
        return math.ceil(per_rank / self.batch_size)


class TensorBatches(Dataset):
    """``dataset[indices]`` is the batch ``(images in [0, 1], labels)`` at ``indices``.

    ``data`` is an :class:`ImageSet` or any object with ``len()`` and ``batch(indices)``
    (corrupted copies made on the fly, for instance).
    """

    def __init__(self, data: ImageSet) -> None:
        self.data = data

    def __getitem__(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        return self.data.batch(indices)

    def __len__(self) -> int:
        return len(self.data)


def tensor_loader(
    data: ImageSet, batch_size: int, shuffle: bool, seed: int = 0, drop_last: bool = False
) -> DataLoader:
    """A DataLoader over ``data`` that batches by tensor indexing."""
    sampler = BatchIndexSampler(len(data), batch_size, shuffle, seed, drop_last)
    return DataLoader(TensorBatches(data), sampler=sampler, batch_size=None)


class BatchAugment:
    """Random crops (after zero padding) and horizontal flips of a whole batch.

    Random numbers come from a generator seeded per call with ``(seed, epoch, step)``, so a
    run is reproducible and a resumed run repeats the augmentation it would have drawn.
    """

    def __init__(self, crop_padding: int = 0, flip: bool = False, seed: int = 0) -> None:
        if crop_padding < 0:
            raise ValueError(f"crop padding must be >= 0; got {crop_padding}")
        self.crop_padding, self.flip, self.seed = crop_padding, flip, seed

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.flip

    def __call__(self, images: Tensor, epoch: int, step: int) -> Tensor:
        if not self.active:
            return images
        gen = generator(self.seed, "augment", epoch, step)
        batch, _, height, width = images.shape
        if self.crop_padding:
            pad = self.crop_padding
            padded = F.pad(images, (pad, pad, pad, pad))
            offsets = torch.randint(0, 2 * pad + 1, (2, batch), generator=gen).to(images.device)
            rows = torch.arange(height, device=images.device) + offsets[0][:, None]
            cols = torch.arange(width, device=images.device) + offsets[1][:, None]
            index = torch.arange(batch, device=images.device)[:, None, None]
            images = padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]]
            images = images.permute(0, 3, 1, 2).contiguous()
        if self.flip:
            flips = (torch.rand(batch, generator=gen) < 0.5).to(images.device)
            images = torch.where(flips[:, None, None, None], images.flip(-1), images)
        return images
