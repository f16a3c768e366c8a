"""Corrupted test sets, served batch by batch: nothing is materialised, each batch is
corrupted (:func:`hem_bench.datamodules.corruptions.corrupt`) when the loader cuts it, with a
seed derived from the run's seed, the severity and the batch's first index, so every run
of a seed sees the same corrupted images. :func:`corruption_subset` draws the fixed subset
of test images that ``--task-option corruption_subset=N`` evaluates on.
"""

from __future__ import annotations

from torch import Tensor

from hem_bench.datamodules.base import ImageSet, fixed_subset
from hem_bench.seeding import derive_seed

#: seed of the draw of ``corruption_subset`` (fixed: every run sees the same images)
SUBSET_SEED = derive_seed(0, "corruption-subset")


def corruption_subset(test: ImageSet, size: int) -> tuple[ImageSet, dict]:
    """``size`` images of ``test`` drawn with :data:`SUBSET_SEED` (in test-set order), or the
    whole set when ``size`` is 0 or not smaller; and the record's description of it."""
    return fixed_subset(test, size, SUBSET_SEED)


class CorruptedBatches:
    """Batches of an image set corrupted on the fly, deterministically per batch."""

    def __init__(self, data: ImageSet, name: str, severity: int, seed: int) -> None:
        self.data, self.name, self.severity, self.seed = data, name, severity, seed

    def __len__(self) -> int:
        return len(self.data)

    def batch(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        from hem_bench.datamodules.corruptions import corrupt

        images, labels = self.data.batch(indices)
        seed = derive_seed(self.seed, "corruption", self.severity, int(indices[0]))
        return corrupt(images, self.name, self.severity, seed=seed), labels

    @property
    def shape(self):
        return self.data.shape
