"""Data: the data set registry, LightningDataModules and the splits every task needs,
installed as ``hem_bench.datamodules``.

Importing this package registers the built-in data sets (their loaders, in
:mod:`~hem_bench.datamodules.digits`, :mod:`~hem_bench.datamodules.mnist_family`,
:mod:`~hem_bench.datamodules.real`, :mod:`~hem_bench.datamodules.segmentation_sets` and
:mod:`~hem_bench.datamodules.mnist_scenes`, imported here
after the registry in :mod:`~hem_bench.datamodules.base`); it imports torch, not lightning.
The DataModules (lightning) are imported by the modules that use them.
"""

from hem_bench.datamodules import (  # noqa: F401  (register the built-in data sets)
    digits,
    mnist_family,
    mnist_scenes,
    real,
    segmentation_sets,
)
