"""The DataModule of the ``ood`` task: an open-set split and the OOD sets scored against it.

Training, validation and the in-distribution test set are those of
:class:`~hem_bench.datamodules.classification.ClassificationDataModule` with the known
classes of an open-set split (Vaze et al. 2022). :attr:`OODDataModule.ood_sets` holds the
out-of-distribution sets, in this order:

- ``unknown``: the test images of the classes the split left out;
- ``gaussian`` and ``uniform``: ``noise_count`` noise images each (Hendrycks & Gimpel
  2017), drawn from the run's seed (:func:`hem_bench.seeding.derive_seed`, purpose
  ``noise``);
- any extra data sets (registered classification data sets other than the training one):
  the first :data:`MAX_EXTRA` images of their test split, converted to the
  in-distribution image shape. A set already in that shape and stored as uint8 (the MNIST
  family for one another) stays uint8, converted to [0, 1] batch by batch as the
  in-distribution sets are (the same values as a float copy, a quarter of the memory), and
  the rest of it (its training split) is not kept once its test images are taken.

Every OOD set is labelled -1. The names and ``noise_count`` are checked when the
DataModule is made, before any data loads; ``--download`` fetches the extra data sets in
:meth:`~OODDataModule.prepare_data`; they are read when the OOD sets are first asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from hem_bench.datamodules.base import ImageSet, dataset_info, load_dataset
from hem_bench.datamodules.classification import ClassificationDataModule
from hem_bench.datamodules.splits import convert_images, noise_images
from hem_bench.errors import ConfigError
from hem_bench.seeding import derive_seed

#: cap on the images taken from an extra OOD data set's test split
MAX_EXTRA = 10_000
#: noise OOD sets, in order (their index is the ``noise`` seed's index)
NOISE_KINDS = ("gaussian", "uniform")


class OODDataModule(ClassificationDataModule):
    """A classification DataModule that also serves OOD sets (see the module's docstring).

    ``noise_count``: images in each noise set (>= 1); ``extra_ood_sets``: names of
    registered classification data sets to add as OOD sets. Other arguments are
    :class:`ClassificationDataModule`'s (``open_set_known`` for the open-set split).
    """

    def __init__(
        self,
        *args: Any,
        noise_count: int = 1000,
        extra_ood_sets: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if int(noise_count) < 1:
            raise ConfigError(f"noise_count must be a positive number of images; got {noise_count}")
        for name in extra_ood_sets:
            info = dataset_info(name)  # an unknown name is an error listing the known ones
            if info.kind != "classification":
                raise ConfigError(f"OOD set {name!r} must be an image classification data set")
            if name == self.dataset:
                raise ConfigError(f"OOD set {name!r} is the in-distribution data set")
        self.noise_count = int(noise_count)
        self.extra_ood_sets = list(extra_ood_sets)
        self._ood_sets: dict[str, ImageSet] | None = None

    def _load_extra(self, name: str, download: bool) -> Any:
        # not kept in the process's cache of loaded data sets (where a loader keeps one):
        # only MAX_EXTRA test images are needed, and a sweep worker would otherwise hold the
        # whole of every OOD set for all its later runs
        return load_dataset(
            name,
            self.data_dir,
            download,
            seed=derive_seed(self.seed, "ood-set"),
            verify=self.verify,
            cache=False,
        )

    def prepare_data(self) -> None:
        super().prepare_data()
        if self.download:
            for name in self.extra_ood_sets:
                self._load_extra(name, True)

    @property
    def ood_sets(self) -> dict[str, ImageSet]:
        """The OOD sets by name, made (and the extra data sets read) on first access after
        :meth:`setup`: the task asks for them when training starts, so that a missing data
        set fails before the first epoch, while a DataModule made only to look at the
        training or test data (``hem-bench analyze``) never reads them."""
        self._require_setup()
        if self._ood_sets is None:
            self._ood_sets = self._make_ood_sets()
        return self._ood_sets

    def _make_ood_sets(self) -> dict[str, ImageSet]:
        if self.unknown_test is None or len(self.unknown_test) == 0:
            raise ConfigError("the ood task needs unknown classes: the open-set split left none")
        shape = self.input_shape
        sets = {"unknown": _unlabelled(self.unknown_test.images)}
        for index, kind in enumerate(NOISE_KINDS):
            seed = derive_seed(self.seed, "noise", index)
            sets[kind] = _unlabelled(noise_images(kind, self.noise_count, shape, seed))
        for name in self.extra_ood_sets:
            sets[name] = _unlabelled(_extra_images(self._load_extra(name, False).test, shape))
        return sets


def _extra_images(test: ImageSet, shape: Sequence[int]) -> torch.Tensor:
    """The first :data:`MAX_EXTRA` images of ``test`` in the in-distribution ``shape``: as
    they are (copied, so that the rest of the loaded set can be freed) when they are uint8
    of that shape already, else as floats in [0, 1] converted to it."""
    images = test.images[:MAX_EXTRA]
    if images.dtype == torch.uint8 and tuple(images.shape[1:]) == tuple(shape):
        return images.clone()
    return convert_images(test.float_images(torch.arange(len(images))), shape)


def _unlabelled(images: torch.Tensor) -> ImageSet:
    """``images`` labelled -1 (out of distribution)."""
    return ImageSet(images, torch.full((len(images),), -1))
