"""The LightningDataModule of the classification tasks (classify, ood, adversarial,
imbalanced, continual).

It loads a registered data set, carves a stratified validation set from the training set
when the data set has none, and applies the task's split: a subset of known classes
(relabelled 0..k-1, the others kept aside as unknown test images) and/or a long-tailed
training set. Images stay in [0, 1]: normalisation is the model's first layer, so attacks
and corruptions work in pixel space. Batches are cut from tensors (see
:mod:`hem_bench.datamodules.loading`) and augmented on the device after transfer.

On a GPU the training and validation sets live on the device (as airbench does for
CIFAR-10): they are copied there once, as uint8 where they are stored so, when the loaders
are made, and every batch is then cut, converted to float and augmented there, so the GPU
never waits for a host loader. On the CPU nothing moves. ``data_device`` forces the device
(``"cpu"`` runs the same code path on the CPU, which is how it is tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hem_bench.datamodules.base import ImageSet
from hem_bench.datamodules.datamodule import BaseDataModule
from hem_bench.datamodules.digits import stratified_split
from hem_bench.datamodules.loading import BatchAugment, tensor_loader
from hem_bench.datamodules.splits import default_num_known, long_tail_indices, open_set_split
from hem_bench.errors import ConfigError
from hem_bench.seeding import derive_seed


def restrict_classes(data: ImageSet, classes: Sequence[int]) -> tuple[ImageSet, ImageSet]:
    """Split ``data`` into the examples of ``classes`` (relabelled ``0..len(classes)-1`` in
    the given order) and the rest (original labels)."""
    lookup = torch.full((int(data.labels.max()) + 1 if len(data) else 1,), -1, dtype=torch.long)
    lookup[torch.as_tensor(list(classes), dtype=torch.long)] = torch.arange(len(classes))
    new = lookup[data.labels] if len(data) else data.labels
    keep = new >= 0
    return ImageSet(data.images[keep], new[keep]), ImageSet(data.images[~keep], data.labels[~keep])


class ClassificationDataModule(BaseDataModule):
    """Data for a classification task.

    After :meth:`setup`: ``num_classes``, ``input_shape``, ``class_counts`` (of the
    training set actually used), ``mean`` / ``std``, ``class_names``, and the splits
    ``train_set``, ``val_set``, ``test_set`` (:class:`ImageSet`); ``unknown_train``,
    ``unknown_val`` and ``unknown_test`` hold the images of the classes left out by
    ``classes`` or an open-set split (None when all are kept).
    """

    kind = "classification"

    def __init__(
        self,
        dataset: str = "digits",
        data_dir: str | Path | None = None,
        download: bool = False,
        verify: bool = True,
        seed: int = 0,
        batch_size: int = 128,
        eval_batch_size: int = 1024,
        val_fraction: float = 0.1,
        classes: Sequence[int] | None = None,
        open_set_known: int | None = None,
        long_tail: dict[str, Any] | None = None,
        crop_padding: int = 0,
        flip: bool = False,
        dataset_options: dict[str, Any] | None = None,
        data_device: str | torch.device | None = None,
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
        if classes is not None and open_set_known is not None:
            raise ConfigError("give either the known classes or their number, not both")
        if classes is not None and self.info.num_classes:
            self._check_classes(classes, self.info.num_classes)
        self.classes = list(classes) if classes is not None else None
        self.open_set_known = open_set_known
        self.long_tail = dict(long_tail) if long_tail else None
        self.augment = BatchAugment(crop_padding, flip, seed)
        #: where in-memory sets are held for batching: None = the GPU trained on, if any
        self.data_device = torch.device(data_device) if data_device is not None else None
        self._resident: dict[int, tuple[ImageSet, ImageSet]] = {}
        #: images of the classes left out by ``classes``, with their original labels
        self.unknown_train: ImageSet | None = None
        self.unknown_val: ImageSet | None = None
        self.unknown_test: ImageSet | None = None
        self.unknown_class_names: list[str] = []

    def _check_classes(self, classes: Sequence[int], total: int) -> None:
        bad = [c for c in classes if not 0 <= c < total]
        if bad or len(set(classes)) != len(classes) or len(classes) < 2:
            raise ConfigError(
                f"classes must be at least 2 distinct indices in [0, {total - 1}] for dataset "
                f"{self.dataset!r}; got {list(classes)}"
            )

    # -- attributes every DataModule exposes ------------------------------------------
    @property
    def all_classes(self) -> int:
        """Classes of the data set before any split (an image folder's come from its tree)."""
        if self.info.num_classes:
            return self.info.num_classes
        self._require_setup()
        return len(self.raw.class_names)

    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.classes is not None else self.all_classes

    @property
    def class_counts(self) -> list[int]:
        self._require_setup()
        return self.train_set.class_counts(self.num_classes)

    @property
    def class_names(self) -> list[str]:
        names = super().class_names
        return [names[c] for c in self.classes] if self.classes is not None else names

    # -- Lightning ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        raw = self._load(False)
        self.raw = raw
        total = len(raw.class_names)
        split_seed = derive_seed(self.seed, "split")
        if self.open_set_known is not None:
            known = self.open_set_known or default_num_known(total)
            self.classes, _ = open_set_split(total, known, split_seed)
        elif self.classes is not None:
            self._check_classes(self.classes, total)
        train, test, val = raw.train, raw.test, raw.val
        if val is None:
            rest, held = stratified_split(train.labels, (self.val_fraction,), split_seed)
            train, val = train.subset(rest), train.subset(held)
        if self.classes is not None:
            train, self.unknown_train = restrict_classes(train, self.classes)
            val, self.unknown_val = restrict_classes(val, self.classes)
            test, self.unknown_test = restrict_classes(test, self.classes)
            unknown = sorted(set(range(total)) - set(self.classes))
            self.unknown_class_names = [raw.class_names[c] for c in unknown]
        if self.long_tail is not None:
            keep = long_tail_indices(
                train.labels,
                self.num_classes,
                self.long_tail.get("ratio", 10.0),
                self.long_tail.get("kind", "exp"),
                split_seed,
            )
            train = train.subset(keep)
        self.train_set, self.val_set, self.test_set = train, val, test

    def resident_device(self, device: torch.device | str | None = None) -> torch.device | None:
        """The device in-memory sets are moved to for batching: ``data_device`` if given,
        else ``device`` (or the trainer's) when it is a GPU; None: they stay where they are."""
        if self.data_device is not None:
            return self.data_device
        if device is None:
            trainer = getattr(self, "trainer", None)
            device = trainer.strategy.root_device if trainer is not None else None
        device = torch.device(device) if device is not None else None
        return device if device is not None and device.type == "cuda" else None

    def resident(self, data: ImageSet, device: torch.device | str | None = None) -> ImageSet:
        """``data`` held on :meth:`resident_device` (copied once, then reused), or ``data``
        itself when it stays in host memory."""
        target = self.resident_device(device)
        if target is None or not isinstance(data, ImageSet):
            return data
        if data.images.device == target:
            return data
        cached = self._resident.get(id(data))
        if cached is None or cached[0] is not data or cached[1].images.device != target:
            moved = ImageSet(data.images.to(target), data.labels.to(target))
            # keep ``data`` referenced so that its id is not reused by another set
            self._resident[id(data)] = cached = (data, moved)
        return cached[1]

    def train_dataloader(self):
        return tensor_loader(
            self.resident(self.train_set), self.batch_size, shuffle=True, seed=self.seed
        )

    def val_dataloader(self):
        return tensor_loader(self.resident(self.val_set), self.eval_batch_size, shuffle=False)

    def test_dataloader(self):
        return tensor_loader(self.resident(self.test_set), self.eval_batch_size, shuffle=False)

    def loader(self, data: ImageSet):
        """An evaluation loader over any image set (OOD sets, corrupted test sets)."""
        return tensor_loader(data, self.eval_batch_size, shuffle=False)

    def on_after_batch_transfer(self, batch: tuple[Tensor, Tensor], dataloader_idx: int):
        trainer = self.trainer
        if self.augment.active and trainer is not None and trainer.training:
            images, labels = batch
            images = self.augment(images, trainer.current_epoch, trainer.global_step)
            return images, labels
        return batch
