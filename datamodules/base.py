"""Containers every data set loads into, and the registry that names them.

Small data sets (the digits, the MNIST family, CIFAR, SVHN, scenes composed from digits)
are held whole as tensors: an :class:`ImageSet` holds images ``(N, C, H, W)`` (uint8 in
0..255, or float32 in [0, 1]) and labels (``(N,)`` class indices, or ``(N, H, W)`` masks
for segmentation). Batches are cut from them by indexing, with no per-sample Python work.
Large segmentation data sets (Cityscapes, VOC) stay on disk as ``torch.utils.data``
data sets yielding ``(image, mask)`` pairs.

A loader registered with :func:`register_dataset` returns a :class:`LoadedData` given
where the data lives; :class:`DatasetInfo` describes each data set for ``hem-bench
datasets`` and for the tasks (classes, input shape, normalisation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hem_bench.errors import ConfigError, DataNotFoundError, unknown_name

KINDS = ("classification", "segmentation")
#: mask value of pixels that count for no class (Cityscapes, VOC, digit scenes): the
#: segmentation loss, the metrics and the augmentation's padding all skip it
IGNORE_INDEX = 255


@dataclass(frozen=True)
class ImageSet:
    """Images and their labels, whole, as tensors.

    ``images``: ``(N, C, H, W)``, uint8 (0..255) or float32 in [0, 1].
    ``labels``: int64 ``(N,)`` class indices, or ``(N, H, W)`` masks (:data:`IGNORE_INDEX` = ignore).
    """

    images: Tensor
    labels: Tensor

    def __post_init__(self) -> None:
        if self.images.dim() != 4:
            raise ValueError(f"images must be (N, C, H, W); got shape {tuple(self.images.shape)}")
        if self.images.dtype not in (torch.uint8, torch.float32):
            raise ValueError(f"images must be uint8 or float32; got {self.images.dtype}")
        if len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        if self.labels.dtype != torch.long:
            object.__setattr__(self, "labels", self.labels.long())

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, indices: Tensor | Sequence[int]) -> ImageSet:
        index = torch.as_tensor(indices, dtype=torch.long)
        return ImageSet(self.images[index], self.labels[index])

    def float_images(self, indices: Tensor | None = None) -> Tensor:
        """Images (all, or those at ``indices``) as float32 in [0, 1]."""
        images = self.images if indices is None else self.images[indices]
        return images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()

    def batch(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        return self.float_images(indices), self.labels[indices]

    def class_counts(self, num_classes: int) -> list[int]:
        """Examples per class (classification labels only)."""
        return torch.bincount(self.labels, minlength=num_classes)[:num_classes].tolist()


def fixed_subset(data: ImageSet, size: int, seed: int) -> tuple[ImageSet, dict[str, Any]]:
    """``size`` examples of ``data`` drawn with the fixed ``seed`` (in their order in
    ``data``), the same whatever the run's seed or loss; the whole set when ``size`` is 0 or
    not smaller. Also the record's description of it: ``size``, ``of`` and ``seed``."""
    if size <= 0 or size >= len(data):
        return data, {"size": len(data), "of": len(data), "seed": None}
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(data), generator=generator)[:size].sort().values
    return data.subset(index), {"size": size, "of": len(data), "seed": seed}


@dataclass
class LoadedData:
    """What a loader returns: train and test sets (and a validation set if the data set
    defines one), and the names of the classes.

    For classification and small segmentation sets the splits are :class:`ImageSet`; for
    large segmentation sets they are map-style data sets of ``(image, mask)`` pairs with
    images float32 ``(3, H, W)`` in [0, 1] and masks int64 ``(H, W)``.
    """

    train: Any
    test: Any
    class_names: list[str]
    val: Any = None
    #: anything a loader wants to report (source files, checks done)
    notes: dict[str, Any] = field(default_factory=dict)


#: loader(data_dir, download, seed=..., verify=..., **options) -> LoadedData; a loader that
#: keeps what it read for later calls honours ``cache=False`` (read, but not kept) and
#: ignores other options it does not know
Loader = Callable[..., LoadedData]


@dataclass(frozen=True)
class DatasetInfo:
    """One data set: what it is, where it comes from, how to load it."""

    name: str
    kind: str
    #: number of classes; 0 when the data decide it (an image-folder tree)
    num_classes: int
    input_shape: tuple[int, int, int]
    license: str
    homepage: str
    paper: str
    #: ships with the installation (no download)
    embedded: bool
    #: per-channel mean and std used by the model's normalisation layer
    mean: tuple[float, ...]
    std: tuple[float, ...]
    loader: Loader | None = None
    #: folder under --data-dir the loader reads (for error messages and docs)
    folder: str = ""
    #: whether the loader can fetch it with --download
    downloadable: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}")


_DATASETS: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo) -> Callable[[Loader], Loader]:
    """Decorator registering ``loader`` under ``info.name``."""

    def decorator(loader: Loader) -> Loader:
        if info.name in _DATASETS:
            raise ValueError(f"a data set named {info.name!r} is already registered")
        _DATASETS[info.name] = replace(info, loader=loader)
        return loader

    return decorator


def available_datasets() -> list[str]:
    """The registered data sets (importing :mod:`hem_bench.datamodules` registers the
    built-in ones)."""
    return sorted(_DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    """The registered data set ``name``; ``KeyError`` listing the accepted names."""
    if name not in _DATASETS:
        raise unknown_name("dataset", name, _DATASETS)
    return _DATASETS[name]


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    download: bool = False,
    *,
    seed: int = 0,
    verify: bool = True,
    **options: Any,
) -> LoadedData:
    """Load the data set ``name``; embedded ones ignore ``data_dir`` and ``download``."""
    info = dataset_info(name)
    if not info.embedded and data_dir is None:
        raise ConfigError(
            f"dataset {name!r} is not shipped with hem-bench: pass --data-dir DIR (it is read "
            f"from DIR/{info.folder}){' and --download to fetch it' if info.downloadable else ''}"
        )
    assert info.loader is not None
    root = Path(data_dir).expanduser() if data_dir is not None else None
    return info.loader(root, download, seed=seed, verify=verify, **options)


def is_present(name: str, data_dir: str | Path | None) -> bool:
    """Whether data set ``name`` can be read without a download: embedded, or its folder
    present under ``data_dir`` (the loader still checks the files when a run starts)."""
    info = dataset_info(name)
    if info.embedded:
        return True
    if data_dir is None or not info.folder:
        return False
    return (Path(data_dir).expanduser() / info.folder).is_dir()


def check_available(name: str, data_dir: str | Path | None, download: bool = False) -> None:
    """A quick check that ``name`` can be found, for a sweep to make before it starts any
    run: embedded, fetched by ``--download``, or its folder present under ``data_dir``. The
    loader still makes the full check (files, checksums) when the run starts."""
    info = dataset_info(name)
    if info.embedded:
        return
    if data_dir is None:
        raise ConfigError(
            f"dataset {name!r} is not shipped with hem-bench: pass --data-dir DIR (it is read "
            f"from DIR/{info.folder}){' and --download to fetch it' if info.downloadable else ''}"
        )
    if download and info.downloadable:
        return
    top = info.folder.split("/")[0]
    if info.name == "image-folder" or not top:  # the folder is an option of the run
        return
    root = Path(data_dir).expanduser()
    if not (root / top).exists():
        how = "pass --download to fetch it" if info.downloadable else f"see {info.homepage}"
        raise DataNotFoundError(f"dataset {name!r} not found: expected {root / info.folder}; {how}")
