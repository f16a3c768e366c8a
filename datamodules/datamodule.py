"""The base of every task's LightningDataModule.

:class:`BaseDataModule` holds what the classification and segmentation DataModules share:
the checks of the constructor's arguments (a registered data set of the right kind, a
validation fraction in (0, 1), positive batch sizes), loading the data set (``--download``
in :meth:`prepare_data`, reading in :meth:`setup`), and the attributes a task and the
runner read — ``num_classes``, ``input_shape``, ``mean``, ``std``, ``class_names`` and
``class_counts`` — with :meth:`_require_setup` guarding those that need the loaded data.
A subclass sets :attr:`kind`, loads its splits in :meth:`setup` and defines
``class_counts`` and the loaders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L

from hem_bench.datamodules.base import (
    DatasetInfo,
    LoadedData,
    available_datasets,
    dataset_info,
    load_dataset,
)
from hem_bench.errors import ConfigError


class BaseDataModule(L.LightningDataModule):
    """A registered data set of kind :attr:`kind`, loaded per seed.

    After :meth:`setup`: ``raw`` (the :class:`LoadedData`), ``train_set``, ``val_set``,
    ``test_set``, and the attributes below that need the data.
    """

    #: the kind of data set the DataModule serves (``hem-bench datasets``' kind column)
    kind = "classification"

    def __init__(
        self,
        dataset: str,
        data_dir: str | Path | None = None,
        download: bool = False,
        verify: bool = True,
        seed: int = 0,
        batch_size: int = 128,
        eval_batch_size: int = 1024,
        val_fraction: float = 0.1,
        dataset_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.info: DatasetInfo = dataset_info(dataset)
        if self.info.kind != self.kind:
            same_kind = [n for n in available_datasets() if dataset_info(n).kind == self.kind]
            raise ConfigError(
                f"dataset {dataset!r} is a {self.info.kind} data set; this task needs a "
                f"{self.kind} data set ({', '.join(same_kind)})"
            )
        if not 0 < val_fraction < 1:
            raise ConfigError(
                f"validation fraction must lie in (0, 1); got val_fraction={val_fraction}"
            )
        if batch_size < 1 or eval_batch_size < 1:
            raise ConfigError(
                f"batch sizes must be positive; got {batch_size} and {eval_batch_size}"
            )
        self.dataset, self.data_dir, self.download, self.verify = (
            dataset,
            data_dir,
            download,
            verify,
        )
        self.seed, self.batch_size, self.eval_batch_size = seed, batch_size, eval_batch_size
        self.val_fraction = val_fraction
        self.dataset_options = dict(dataset_options or {})
        self.raw: LoadedData | None = None
        self.train_set: Any = None
        self.val_set: Any = None
        self.test_set: Any = None

    @classmethod
    def from_config(cls, config, **arguments: Any):
        """The DataModule of a resolved run configuration (data set, data folder, seed,
        batch sizes, augmentation); ``arguments`` add the task's own (its split, its
        evaluation data) or replace those."""
        values: dict[str, Any] = {
            "dataset": config.dataset,
            "data_dir": config.data_dir,
            "download": config.download,
            "verify": config.verify,
            "seed": config.seed,
            "batch_size": config.batch_size,
            "eval_batch_size": config.eval_batch_size,
            "crop_padding": config.crop_padding,
            "flip": config.flip,
        }
        return cls(**{**values, **arguments})

    # -- attributes every DataModule exposes ------------------------------------------
    @property
    def num_classes(self) -> int:
        """Classes the model predicts."""
        return self.info.num_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one input image."""
        shape = getattr(self.train_set, "shape", None)
        return tuple(shape) if shape is not None else self.info.input_shape  # type: ignore[return-value]

    @property
    def mean(self) -> tuple[float, ...]:
        """Per-channel mean of the model's normalisation layer."""
        return self.info.mean

    @property
    def std(self) -> tuple[float, ...]:
        """Per-channel standard deviation of the model's normalisation layer."""
        return self.info.std

    @property
    def class_names(self) -> list[str]:
        """Names of the classes the model predicts."""
        self._require_setup()
        return list(self.raw.class_names)

    @property
    def class_counts(self) -> list[int]:
        """Training examples (pixels, for segmentation) per class of the training set
        actually used: what losses that need class counts receive. Each DataModule counts
        its own kind of label (images or pixels)."""
        raise NotImplementedError(f"{type(self).__name__} does not count its classes")

    def _require_setup(self) -> None:
        """Raise unless :meth:`setup` has loaded the data."""
        if self.raw is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() first")

    # -- Lightning ---------------------------------------------------------------------
    def _load(self, download: bool) -> LoadedData:
        """The data set, loaded for this seed (fetched first if ``download``)."""
        return load_dataset(
            self.dataset,
            self.data_dir,
            download,
            seed=self.seed,
            verify=self.verify,
            **self.dataset_options,
        )

    def prepare_data(self) -> None:
        """``--download``: fetch what is missing (Lightning calls it on one process)."""
        if self.download:
            self._load(True)
