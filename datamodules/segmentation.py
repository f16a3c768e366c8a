"""The LightningDataModule of the segmentation task.

Data sets (``hem-bench datasets``, kind ``segmentation``):

- ``digit-scenes`` (embedded, the default): held whole as :class:`ImageSet` tensors (uint8
  canvases, int64 masks) and batched by tensor indexing with
  :func:`~hem_bench.datamodules.loading.tensor_loader`; it has its own validation scenes.
  Option ``scenes`` (``{"train": n, "val": n, "test": n}``) sets how many scenes each split
  composes (default: the data set's own, :data:`hem_bench.datamodules.digits.SCENES`).
- ``cityscapes``, ``voc`` (from ``--data-dir``): map-style data sets of ``(image, mask)``
  pairs read from disk per item; a standard ``torch.utils.data.DataLoader`` (``num_workers``
  processes, 0 by default) reads whole batches at a time (indices from the same
  :class:`~hem_bench.datamodules.loading.BatchIndexSampler`: reshuffled per seed and epoch,
  sharded over DDP ranks without padding). Neither has a labelled test split, so their
  official validation split is the test set and a validation subset (``val_fraction`` of
  the training images, drawn per seed) is carved from the training set.

Masks hold class indices and 255 for pixels that count for no class (the loss and the
metrics skip them). ``class_counts`` are pixel counts per class of the training set
actually used (255 excluded), computed on first access only (reading every training mask
of a real data set takes a while): only losses that need class counts ask for them.

Training batches: reshuffled every epoch; the last, partial batch is dropped when the
training set holds more than one batch (a batch of a single image breaks the batch
normalisation that follows global pooling, as in DeepLabV3+'s ASPP).

Augmentation (recipe fields ``flip`` and ``crop_padding``): horizontal flips and random
crops after padding, drawn per batch from ``(seed, epoch, step)`` and applied to image and
mask alike on the batch's device (the mask is padded with 255). The digit scenes are
trained without augmentation: digits are not mirror-symmetric, and a scene's digits
already lie at random positions and scales.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from hem_bench.datamodules.base import IGNORE_INDEX, ImageSet
from hem_bench.datamodules.datamodule import BaseDataModule
from hem_bench.datamodules.loading import BatchIndexSampler, TensorBatches, tensor_loader
from hem_bench.errors import ConfigError
from hem_bench.seeding import generator


class FileBatches:
    """``batch(indices)``: the items of a map-style ``(image, mask)`` data set, stacked."""

    def __init__(self, data: Dataset) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)  # type: ignore[arg-type]

    def batch(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        images, masks = zip(*(self.data[int(i)] for i in indices))
        return torch.stack(images), torch.stack(masks)


class SegmentationAugment:
    """Random crops (after padding: images with 0, masks with 255) and horizontal flips of a
    batch of images ``(N, C, H, W)`` and masks ``(N, H, W)``, the same for both.

    Random numbers come from a generator seeded per call with ``(seed, epoch, step)``.
    """

    def __init__(self, crop_padding: int = 0, flip: bool = False, seed: int = 0) -> None:
        if crop_padding < 0:
            raise ConfigError(f"crop padding must be >= 0; got {crop_padding}")
        self.crop_padding, self.flip, self.seed = crop_padding, flip, seed

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.flip

    def __call__(
        self, images: Tensor, masks: Tensor, epoch: int, step: int
    ) -> tuple[Tensor, Tensor]:
        if not self.active:
            return images, masks
        gen = generator(self.seed, "augment", epoch, step)
        batch, _, height, width = images.shape
        device = images.device
        if self.crop_padding:
            pad = self.crop_padding
            padded = F.pad(images, (pad, pad, pad, pad))
            padded_masks = F.pad(masks, (pad, pad, pad, pad), value=IGNORE_INDEX)
            offsets = torch.randint(0, 2 * pad + 1, (2, batch), generator=gen).to(device)
            rows = (torch.arange(height, device=device) + offsets[0][:, None])[:, :, None]
            cols = (torch.arange(width, device=device) + offsets[1][:, None])[:, None, :]
            index = torch.arange(batch, device=device)[:, None, None]
            images = padded.permute(0, 2, 3, 1)[index, rows, cols].permute(0, 3, 1, 2)
            images = images.contiguous()
            masks = padded_masks[index, rows, cols]
        if self.flip:
            flips = (torch.rand(batch, generator=gen) < 0.5).to(device)
            images = torch.where(flips[:, None, None, None], images.flip(-1), images)
            masks = torch.where(flips[:, None, None], masks.flip(-1), masks)
        return images, masks


def pixel_counts(masks: Tensor, num_classes: int) -> Tensor:
    """Pixels of each class ``0..num_classes-1`` in ``masks`` (255 and other values
    outside that range are not counted)."""
    flat = masks.flatten()
    flat = flat[(flat >= 0) & (flat < num_classes)]
    return torch.bincount(flat, minlength=num_classes)[:num_classes]


class SegmentationDataModule(BaseDataModule):
    """Data for the segmentation task.

    After :meth:`setup`: ``num_classes``, ``input_shape``, ``class_counts`` (pixels per
    class of the training set actually used), ``mean`` / ``std``, ``class_names``, and the
    splits ``train_set``, ``val_set``, ``test_set`` (:class:`ImageSet` for digit scenes,
    map-style data sets for Cityscapes and VOC).
    """

    kind = "segmentation"

    def __init__(
        self,
        dataset: str = "digit-scenes",
        data_dir: str | Path | None = None,
        download: bool = False,
        verify: bool = True,
        seed: int = 0,
        batch_size: int = 32,
        eval_batch_size: int = 256,
        val_fraction: float = 0.1,
        crop_padding: int = 0,
        flip: bool = False,
        num_workers: int = 0,
        dataset_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            dataset,
            data_dir,
            download,
            verify,
            seed,
            batch_size,
            eval_batch_size,
            val_fraction,
            dataset_options,
        )
        if num_workers < 0:
            raise ConfigError(f"num_workers must be >= 0; got {num_workers}")
        self.num_workers = num_workers
        self.augment = SegmentationAugment(crop_padding, flip, seed)
        self._class_counts: list[int] | None = None

    # -- attributes every DataModule exposes ------------------------------------------
    @property
    def input_shape(self) -> tuple[int, int, int]:
        if isinstance(self.train_set, ImageSet):
            return self.train_set.shape
        channels, height, width = self.info.input_shape
        if "canvas" in self.dataset_options:
            height = width = int(self.dataset_options["canvas"])
        if "size" in self.dataset_options:
            size = self.dataset_options["size"]
            height, width = (size, size) if isinstance(size, int) else tuple(size)
        return channels, height, width

    @property
    def class_counts(self) -> list[int]:
        """Pixels per class of the training set actually used (:data:`IGNORE_INDEX`
        excluded); computed on first access."""
        self._require_setup()
        if self._class_counts is None:
            if isinstance(self.train_set, ImageSet):
                counts = pixel_counts(self.train_set.labels, self.num_classes)
            else:
                counts = torch.zeros(self.num_classes, dtype=torch.long)
                for _, masks in self._map_loader(self.train_set, self.eval_batch_size, False):
                    counts += pixel_counts(masks, self.num_classes)
            self._class_counts = counts.tolist()
        return list(self._class_counts)

    # -- Lightning ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        raw = self._load(False)
        train, val, test = raw.train, raw.val, raw.test
        if val is None:
            train, val = self._carve_validation(train)
        self.raw = raw
        self.train_set, self.val_set, self.test_set = train, val, test

    def _carve_validation(self, train: Dataset) -> tuple[Any, Any]:
        """A random ``val_fraction`` of ``train`` (at least one image) for validation."""
        total = len(train)  # type: ignore[arg-type]
        held = max(1, round(self.val_fraction * total))
        if total - held < 1:
            raise ConfigError(
                f"dataset {self.dataset!r} has {total} training image(s): too few to carve a "
                f"validation set ({self.val_fraction:.0%}) and still train"
            )
        order = torch.randperm(total, generator=generator(self.seed, "split"))
        rest, held_out = order[held:].sort().values, order[:held].sort().values
        if isinstance(train, ImageSet):
            return train.subset(rest), train.subset(held_out)
        return Subset(train, rest.tolist()), Subset(train, held_out.tolist())

    def _map_loader(
        self, data: Dataset, batch_size: int, shuffle: bool, drop_last: bool = False
    ) -> DataLoader:
        sampler = BatchIndexSampler(len(data), batch_size, shuffle, self.seed, drop_last)  # type: ignore[arg-type]
        return DataLoader(
            TensorBatches(FileBatches(data)),  # type: ignore[arg-type]
            sampler=sampler,
            batch_size=None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0 and shuffle,
        )

    def _loader(
        self, data: Any, batch_size: int, shuffle: bool, drop_last: bool = False
    ) -> DataLoader:
        if isinstance(data, ImageSet):
            return tensor_loader(data, batch_size, shuffle, self.seed, drop_last)
        return self._map_loader(data, batch_size, shuffle, drop_last)

    def train_dataloader(self) -> DataLoader:
        # the last, partial batch is dropped when there is a full one: a batch of one image
        # breaks batch normalisation after global pooling (DeepLabV3+'s ASPP, PSPNet)
        drop_last = len(self.train_set) > self.batch_size
        return self._loader(self.train_set, self.batch_size, True, drop_last)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.eval_batch_size, shuffle=False)

    def loader(self, data: Any) -> DataLoader:
        """An evaluation loader over any split (an ImageSet or a map-style data set)."""
        return self._loader(data, self.eval_batch_size, shuffle=False)

    def on_after_batch_transfer(self, batch: tuple[Tensor, Tensor], dataloader_idx: int):
        trainer = self.trainer
        if self.augment.active and trainer is not None and trainer.training:
            images, masks = batch
            return self.augment(images, masks, trainer.current_epoch, trainer.global_step)
        return batch


def parse_scenes(text: str) -> dict[str, int]:
    """``{"train": n, ...}`` from ``"train=400,val=100,test=200"`` (any of the three)."""
    text = str(text).strip()
    if not text:
        return {}
    counts: dict[str, int] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or key not in ("train", "val", "test"):
            raise ConfigError(
                f"scenes must look like 'train=400,val=100,test=200' (any of train, val, test); "
                f"got {text!r}"
            )
        try:
            counts[key] = int(value)
        except ValueError:
            raise ConfigError(f"scenes: {key}={value.strip()!r} is not an integer") from None
        if counts[key] < 1:
            raise ConfigError(f"scenes: {key} must be at least 1; got {counts[key]}")
    return counts


def parse_size(text: str) -> tuple[int, int] | None:
    """``(H, W)`` from ``"256"`` or ``"256,512"``; ``None`` for ``""`` (the data set's)."""
    text = str(text).strip()
    if not text:
        return None
    try:
        values: Sequence[int] = [int(v) for v in text.replace("x", ",").split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        values = [values[0], values[0]]
    if len(values) != 2 or min(values) < 1:
        raise ConfigError(f"size must be 'S' or 'H,W' with positive integers; got {text!r}")
    return values[0], values[1]
