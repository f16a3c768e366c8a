"""Real benchmark data sets, read from ``--data-dir`` (MNIST ... Cityscapes).

None of them ships with hem-bench. Each is read with torchvision's data set class, from the
folder that class expects under ``--data-dir`` (``DIR`` below); ``--download`` passes
``download=True`` to torchvision where it can fetch the data. Nothing is read or fetched
when this module is imported (torchvision is imported by the loaders only).

Classification (held whole in memory: uint8 images ``(N, C, H, W)``, int64 labels; train
and test sets, the caller carves validation from train):

- ``mnist``, ``fashion-mnist``, ``kmnist``: 28x28 grey, 10 classes, 60,000 / 10,000. Read
  from ``DIR/MNIST/raw``, ``DIR/FashionMNIST/raw``, ``DIR/KMNIST/raw``: the four IDX files
  ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``, each uncompressed or as its ``.gz`` archive (decompressed in
  memory: nothing is written beside it, and a read-only folder works). torchvision's older
  ``processed/training.pt`` and ``test.pt`` are read too when present. Each is read once
  per process (a sweep worker making many runs reads it once), unless the caller passes
  ``cache=False``: the ``ood`` task reads its extra OOD sets so, keeps 10,000 test images of
  each and lets the rest go, so that a worker does not hold 55 MB more per OOD set.
- ``cifar10``: 32x32 RGB, 10 classes, 50,000 / 10,000, from the pickled batches in
  ``DIR/cifar-10-batches-py`` (``data_batch_1`` .. ``data_batch_5``, ``test_batch``,
  ``batches.meta``).
- ``cifar100``: 32x32 RGB, the 100 fine classes, 50,000 / 10,000, from
  ``DIR/cifar-100-python`` (``train``, ``test``, ``meta``).
- ``svhn``: 32x32 RGB house-number digits, 73,257 / 26,032, from ``DIR/svhn/train_32x32.mat``
  and ``test_32x32.mat`` (torchvision maps SVHN's label 10 to digit 0; ``extra`` is not used).
- ``image-folder``: any tree ``DIR/<folder>/train/<class>/*.jpg`` with a ``val/`` (or, when
  there is no ``val/``, ``test/``) tree of the same classes, read with torchvision's
  ``ImageFolder``; option ``folder`` names the sub-folder of ``DIR`` (default
  ``"image-folder"``, e.g. ``folder="tiny-imagenet-200"``). Images are converted to RGB and
  resized (bilinear, ignoring aspect ratio) to ``image_size`` x ``image_size`` (option,
  default 64). Tiny ImageNet's layout is recognised by ``val/val_annotations.txt``: training
  images lie in ``train/<wnid>/images/``, validation images in ``val/images/``, labelled by
  the annotations file. Class names come from ``words.txt`` (``<wnid>\\t<names>``) beside
  ``train/`` when present, else they are the folder names. The number of classes is that of
  the tree (``DatasetInfo.num_classes`` is 0 for this reason).

Segmentation (too large for memory: map-style ``torch.utils.data.Dataset`` objects
yielding ``(image, mask)``, image float32 ``(3, H, W)`` in [0, 1], mask int64 ``(H, W)``,
255 = ignore; images resized bilinearly and masks by nearest neighbour to option ``size``):

- ``cityscapes``: the fine annotations, train (2,975) and val (500) splits, from
  ``DIR/cityscapes/leftImg8bit/<split>/<city>/*_leftImg8bit.png`` and
  ``DIR/cityscapes/gtFine/<split>/<city>/*_gtFine_labelIds.png`` (torchvision unzips
  ``leftImg8bit_trainvaltest.zip`` and ``gtFine_trainvaltest.zip`` found in
  ``DIR/cityscapes``). Label ids are mapped to the 19 training classes with the official
  labelId -> trainId table (cityscapesScripts, as copied in torchvision); every other id
  becomes 255. Default ``size`` (256, 512), the aspect ratio of the 1024x2048 originals.
  It cannot be downloaded automatically: register at https://www.cityscapes-dataset.com.
- ``voc``: PASCAL VOC 2012 segmentation, 21 classes (background + 20), train (1,464) and val
  (1,449) image sets, from ``DIR/VOCdevkit/VOC2012`` (``JPEGImages``, ``SegmentationClass``,
  ``ImageSets/Segmentation``). The object boundaries (255) are ignored. Default ``size``
  (256, 256); by default image and mask are simply resized to it (the aspect ratio is not
  kept); with ``keep_aspect=True`` (also accepted by ``cityscapes``) they are scaled to fit
  inside ``size`` and centred, the border padded with black pixels and mask value 255.

Checksums (``verify``, the default; ``--no-verify`` turns it off):

- ``cifar10``, ``cifar100``, ``svhn``: torchvision checks the MD5 sum of every file it
  reads. With ``verify=True`` the files are checked against torchvision's sums on every
  load (a mismatch raises :class:`~hem_bench.errors.DataNotFoundError` naming the file and
  saying that ``--no-verify`` loads it anyway); with ``verify=False`` only the checksum is
  skipped: the files must still exist.
- ``mnist``, ``fashion-mnist``, ``kmnist``: torchvision checks the MD5 sums of the ``.gz``
  archives only when it downloads them; the decompressed files it reads have no published
  sums and are never checked. Where hem-bench reads ``.gz`` archives itself, it checks their
  MD5 sums first (unless ``verify=False``), as torchvision does at download.
- ``voc``: torchvision checks the MD5 sum of the downloaded tar only, at download.
  ``cityscapes`` and ``image-folder`` have no checksums.

Missing data raises :class:`~hem_bench.errors.DataNotFoundError` naming the data set, the
folder expected and how to get it; torchvision's own "Dataset not found" errors never escape.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
import struct
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from hem_bench.datamodules.base import (
    IGNORE_INDEX,
    DatasetInfo,
    ImageSet,
    LoadedData,
    register_dataset,
)
from hem_bench.errors import ConfigError, DataNotFoundError

#: ImageNet's per-channel statistics: the usual normalisation for natural photographs
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

VOC_CLASSES = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
]
CITYSCAPES_TRAIN_CLASSES = 19
CITYSCAPES_URL = "https://www.cityscapes-dataset.com"


# --- errors ----------------------------------------------------------------------------


def _not_found(name: str, what: str, folder: Path, how: str) -> DataNotFoundError:
    return DataNotFoundError(f"dataset {name!r} not found: expected {what} in {folder}. {how}")


def _download_hint(data_dir: Path) -> str:
    return f"Pass --download to fetch it into {data_dir}."


def _unreadable(name: str, path: Path | str, error: BaseException) -> DataNotFoundError:
    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return DataNotFoundError(
        f"dataset {name!r}: could not read {path} ({reason}); the file is corrupt or not in "
        f"the expected format. Delete it and fetch it again."
    )


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_md5(name: str, path: Path, expected: str) -> None:
    """Raise if the file at ``path`` does not have the MD5 sum ``expected``."""
    actual = _md5(path)
    if actual != expected:
        raise DataNotFoundError(
            f"dataset {name!r}: {path} failed its MD5 check (expected {expected}, got "
            f"{actual}): it is corrupt, truncated or not the official release. Delete it and "
            f"pass --download to fetch it again, or pass --no-verify to load it anyway."
        )


def _download(name: str, data_dir: Path, fetch: Callable[[], Any]) -> None:
    """Run torchvision's download (``fetch``), turning its failures into one clear error."""
    try:
        fetch()
    except Exception as error:  # network, checksum of the download, full disk ...
        raise DataNotFoundError(
            f"dataset {name!r}: download into {data_dir} failed ({type(error).__name__}: {error})."
        ) from error


def _no_download(name: str, download: bool, how: str) -> None:
    if download:
        raise ConfigError(f"dataset {name!r} cannot be downloaded automatically: {how}")


# --- options ---------------------------------------------------------------------------


def _size(value: Any, option: str = "size") -> tuple[int, int]:
    """``(H, W)`` from a positive int (a square) or a pair of positive ints."""

    def positive(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v > 0

    if positive(value):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(map(positive, value)):
        return value[0], value[1]
    raise ConfigError(f"{option} must be a positive int or a pair (height, width); got {value!r}")


# --- MNIST family ----------------------------------------------------------------------


#: loaded MNIST-family data sets of this process, by (name, files and their sizes and
#: modification times, verify): a sweep worker reads each data set once, however many runs
#: it makes (the 70,000 images are 55 MB as uint8)
_MNIST_CACHE: dict[tuple, LoadedData] = {}
_MNIST_CACHE_SIZE = 4


def _parse_idx(data: bytes, ndim: int) -> torch.Tensor:
    """A uint8 IDX array (LeCun's format: magic ``0x0000 08 <ndim>``, ``ndim`` big-endian
    32-bit sizes, then the values) from bytes in memory. torchvision's reader opens a file
    by name; an archive is decompressed into memory and parsed here instead, so that
    nothing is written beside it."""
    header = 4 + 4 * ndim
    if len(data) < header or data[:3] != b"\0\0\x08" or data[3] != ndim:
        raise ValueError(f"not a uint8 IDX file of {ndim} dimension(s)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != math.prod(dims):
        raise ValueError(f"{len(data) - header} bytes of values for shape {dims}")
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).view(*dims)


def _read_idx(name: str, raw: Path, file: str, md5: str, verify: bool) -> torch.Tensor:
    """The IDX file ``raw/file``, or its archive ``raw/file.gz`` read in memory (its MD5
    sum checked first when ``verify``, as torchvision checks it at download)."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    path, archive = raw / file, raw / f"{file}.gz"
    ndim = 3 if "-images-" in file else 1
    try:
        if path.is_file():
            return (read_image_file if ndim == 3 else read_label_file)(str(path))
        if verify:
            _check_md5(name, archive, md5)
        with gzip.open(archive, "rb") as source:
            return _parse_idx(source.read(), ndim)
    except DataNotFoundError:
        raise
    except (OSError, EOFError, AssertionError, ValueError, TypeError, RuntimeError) as error:
        raise _unreadable(name, path if path.is_file() else archive, error) from error


def _load_mnist_family(
    name: str, class_name: str, data_dir: Path, download: bool, verify: bool, cache: bool = True
) -> LoadedData:
    """The four IDX files of ``DIR/<class_name>/raw`` (each uncompressed, or its ``.gz``
    archive read in memory), or torchvision's older ``processed/*.pt`` files. Read once
    per process (:data:`_MNIST_CACHE`; with ``cache=False`` a set already there is reused
    but a set read now is not kept); nothing is ever written into ``data_dir`` unless
    ``download`` asks torchvision to fetch missing files there."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, class_name)
    raw = data_dir / class_name / "raw"
    processed = data_dir / class_name / "processed"
    files = [(Path(url).name.removesuffix(".gz"), md5) for url, md5 in cls.resources]

    def legacy() -> bool:
        return all((processed / f).is_file() for f in (cls.training_file, cls.test_file))

    def sources() -> list[Path] | None:
        """The file read for each IDX file (None when one is missing)."""
        found = []
        for file, _ in files:
            choice = [p for p in (raw / file, raw / f"{file}.gz") if p.is_file()]
            if not choice:
                return None
            found.append(choice[0])
        return found

    if not legacy() and sources() is None and download:
        _download(name, data_dir, lambda: cls(str(data_dir), train=False, download=True))
    use_legacy = legacy()
    paths = [processed / cls.training_file, processed / cls.test_file] if use_legacy else sources()
    if paths is None:
        missing = [
            f for f, _ in files if not (raw / f).is_file() and not (raw / f"{f}.gz").is_file()
        ]
        raise _not_found(
            name, f"{', '.join(missing)} (or their .gz archives)", raw, _download_hint(data_dir)
        )
    key = (name, verify, *((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths))
    cached = _MNIST_CACHE.get(key)
    if cached is not None:
        return replace(cached, notes=dict(cached.notes))
    splits = {}
    for split in ("train", "test"):
        if use_legacy:
            try:
                data = cls(str(data_dir), train=split == "train")
            except (AssertionError, ValueError, TypeError, RuntimeError, KeyError) as error:
                raise _unreadable(name, processed, error) from error
            images, labels = data.data, data.targets.long()
        else:
            first = 0 if split == "train" else 2  # images then labels, train then t10k
            (images_file, images_md5), (labels_file, labels_md5) = files[first : first + 2]
            images = _read_idx(name, raw, images_file, images_md5, verify)
            labels = _read_idx(name, raw, labels_file, labels_md5, verify).long()
        _check_idx(name, raw, split, len(images), labels, len(cls.classes))
        splits[split] = ImageSet(images.unsqueeze(1).contiguous(), labels)
    archives = [p.name for p in paths if p.suffix == ".gz"]
    loaded = LoadedData(
        train=splits["train"],
        test=splits["test"],
        class_names=list(cls.classes),
        notes={
            "source": str(processed if use_legacy else raw),
            "checksums": "md5 of the .gz archives checked"
            if archives and verify
            else "not checked (torchvision checks the .gz archives at download)",
            "read_from_archives": archives,
        },
    )
    if not cache:
        return loaded
    while len(_MNIST_CACHE) >= _MNIST_CACHE_SIZE:
        _MNIST_CACHE.pop(next(iter(_MNIST_CACHE)))
    _MNIST_CACHE[key] = loaded
    return replace(loaded, notes=dict(loaded.notes))


def _idx_files(raw: Path, split: str) -> tuple[Path, Path]:
    prefix = "train" if split == "train" else "t10k"
    return raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"


def _check_idx(
    name: str, raw: Path, split: str, count: int, labels: torch.Tensor, num_classes: int
) -> None:
    """The images and labels of an IDX pair belong together: as many labels as images, each
    a class index ``0 .. num_classes - 1``."""
    images_file, labels_file = _idx_files(raw, split)
    if len(labels) != count:
        raise DataNotFoundError(
            f"dataset {name!r}: {images_file} holds {count} images but {labels_file} holds "
            f"{len(labels)} labels; the files do not belong together. Delete them and fetch "
            "them again."
        )
    bad = (labels < 0) | (labels >= num_classes)
    if bool(bad.any()):
        first = int(bad.nonzero()[0, 0])
        raise DataNotFoundError(
            f"dataset {name!r}: {labels_file} holds label {int(labels[first])} at position "
            f"{first}; labels must be 0..{num_classes - 1}. Delete the file and fetch it again."
        )


MNIST_COMMON = {
    "kind": "classification",
    "num_classes": 10,
    "input_shape": (1, 28, 28),
    "embedded": False,
}


@register_dataset(
    DatasetInfo(
        name="mnist",
        license="CC BY-SA 3.0",
        homepage="http://yann.lecun.com/exdb/mnist/",
        paper="LeCun, Bottou, Bengio & Haffner 1998, Gradient-based learning applied to "
        "document recognition",
        mean=(0.1307,),
        std=(0.3081,),
        folder="MNIST/raw",
        description="70,000 handwritten digits, 28x28 grey, 10 classes (60,000 train)",
        **MNIST_COMMON,
    )
)
def load_mnist(
    data_dir: Path,
    download: bool,
    *,
    seed: int = 0,
    verify: bool = True,
    cache: bool = True,
    **options: Any,
) -> LoadedData:
    """MNIST's 60,000 training and 10,000 test digits (torchvision ``MNIST``)."""
    return _load_mnist_family("mnist", "MNIST", data_dir, download, verify, cache)


@register_dataset(
    DatasetInfo(
        name="fashion-mnist",
        license="MIT",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        paper="Xiao, Rasul & Vollgraf 2017, Fashion-MNIST: a novel image dataset for "
        "benchmarking machine learning algorithms",
        mean=(0.2860,),
        std=(0.3530,),
        folder="FashionMNIST/raw",
        description="70,000 Zalando article images, 28x28 grey, 10 classes (60,000 train)",
        **MNIST_COMMON,
    )
)
def load_fashion_mnist(
    data_dir: Path,
    download: bool,
    *,
    seed: int = 0,
    verify: bool = True,
    cache: bool = True,
    **options: Any,
) -> LoadedData:
    """Fashion-MNIST's 60,000 training and 10,000 test images (torchvision ``FashionMNIST``)."""
    return _load_mnist_family("fashion-mnist", "FashionMNIST", data_dir, download, verify, cache)


@register_dataset(
    DatasetInfo(
        name="kmnist",
        license="CC BY-SA 4.0",
        homepage="https://github.com/rois-codh/kmnist",
        paper="Clanuwat, Bober-Irizar, Kitamoto, Lamb, Yamamoto & Ha 2018, Deep learning for "
        "classical Japanese literature",
        mean=(0.1918,),
        std=(0.3483,),
        folder="KMNIST/raw",
        description="70,000 cursive Japanese (Kuzushiji) characters, 28x28 grey, 10 classes",
        **MNIST_COMMON,
    )
)
def load_kmnist(
    data_dir: Path,
    download: bool,
    *,
    seed: int = 0,
    verify: bool = True,
    cache: bool = True,
    **options: Any,
) -> LoadedData:
    """Kuzushiji-MNIST's 60,000 training and 10,000 test images (torchvision ``KMNIST``)."""
    return _load_mnist_family("kmnist", "KMNIST", data_dir, download, verify, cache)


# --- CIFAR -----------------------------------------------------------------------------


def _load_cifar(
    name: str, class_name: str, data_dir: Path, download: bool, verify: bool
) -> LoadedData:
    import torchvision.datasets as tvd

    checked = getattr(tvd, class_name)
    folder = data_dir / checked.base_folder
    files = [
        *checked.train_list,
        *checked.test_list,
        [checked.meta["filename"], checked.meta["md5"]],
    ]

    def present() -> bool:
        return all((folder / f).is_file() for f, _ in files)

    if not present() and download:
        _download(name, data_dir, lambda: checked(str(data_dir), train=False, download=True))
    if not present():
        missing = [f for f, _ in files if not (folder / f).is_file()]
        raise _not_found(name, ", ".join(missing), folder, _download_hint(data_dir))
    if verify:
        for filename, md5 in files:
            _check_md5(name, folder / filename, md5)

    # checked above (or deliberately not): torchvision's class with its MD5 sums removed
    # (check_integrity(path, None) only tests that the file exists)
    unchecked = type(
        f"Unchecked{class_name}",
        (checked,),
        {
            "train_list": [[f, None] for f, _ in checked.train_list],
            "test_list": [[f, None] for f, _ in checked.test_list],
            "meta": {**checked.meta, "md5": None},
        },
    )
    splits = {}
    for split in ("train", "test"):
        try:
            data = unchecked(str(data_dir), train=split == "train")
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as error:
            raise _unreadable(name, folder, error) from error
        images = torch.from_numpy(np.ascontiguousarray(data.data.transpose(0, 3, 1, 2)))
        splits[split] = ImageSet(images, torch.as_tensor(data.targets, dtype=torch.long))
    return LoadedData(
        train=splits["train"],
        test=splits["test"],
        class_names=list(data.classes),
        notes={"source": str(folder), "checksums": "md5 checked" if verify else "skipped"},
    )


CIFAR_COMMON = {
    "kind": "classification",
    "input_shape": (3, 32, 32),
    "license": "no explicit licence; free for research with citation of the tech report",
    "homepage": "https://www.cs.toronto.edu/~kriz/cifar.html",
    "paper": "Krizhevsky 2009, Learning multiple layers of features from tiny images",
    "embedded": False,
}


@register_dataset(
    DatasetInfo(
        name="cifar10",
        num_classes=10,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        folder="cifar-10-batches-py",
        description="60,000 tiny photographs, 32x32 RGB, 10 classes (50,000 train)",
        **CIFAR_COMMON,
    )
)
def load_cifar10(
    data_dir: Path, download: bool, *, seed: int = 0, verify: bool = True, **options: Any
) -> LoadedData:
    """CIFAR-10's 50,000 training and 10,000 test images (torchvision ``CIFAR10``)."""
    return _load_cifar("cifar10", "CIFAR10", data_dir, download, verify)


@register_dataset(
    DatasetInfo(
        name="cifar100",
        num_classes=100,
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        folder="cifar-100-python",
        description="60,000 tiny photographs, 32x32 RGB, 100 fine classes (50,000 train)",
        **CIFAR_COMMON,
    )
)
def load_cifar100(
    data_dir: Path, download: bool, *, seed: int = 0, verify: bool = True, **options: Any
) -> LoadedData:
    """CIFAR-100's 50,000 training and 10,000 test images with their 100 fine labels
    (torchvision ``CIFAR100``)."""
    return _load_cifar("cifar100", "CIFAR100", data_dir, download, verify)


# --- SVHN ------------------------------------------------------------------------------


@register_dataset(
    DatasetInfo(
        name="svhn",
        kind="classification",
        num_classes=10,
        input_shape=(3, 32, 32),
        license="non-commercial use only",
        homepage="http://ufldl.stanford.edu/housenumbers/",
        paper="Netzer, Wang, Coates, Bissacco, Wu & Ng 2011, Reading digits in natural images "
        "with unsupervised feature learning",
        embedded=False,
        mean=(0.4377, 0.4438, 0.4728),
        std=(0.1980, 0.2010, 0.1970),
        folder="svhn",
        description="house numbers from Street View, 32x32 RGB crops, 10 digits (73,257 train)",
    )
)
def load_svhn(
    data_dir: Path, download: bool, *, seed: int = 0, verify: bool = True, **options: Any
) -> LoadedData:
    """SVHN's 73,257 training and 26,032 test digits, cropped format (torchvision ``SVHN``;
    label 10 becomes digit 0)."""
    import torchvision.datasets as tvd
    from scipy.io.matlab import MatReadError

    name, folder = "svhn", data_dir / "svhn"
    files = {split: tvd.SVHN.split_list[split][1:] for split in ("train", "test")}

    def present() -> bool:
        return all((folder / f).is_file() for f, _ in files.values())

    if not present() and download:

        def fetch() -> None:
            for split in files:
                tvd.SVHN(str(folder), split=split, download=True)

        _download(name, data_dir, fetch)
    if not present():
        missing = [f for f, _ in files.values() if not (folder / f).is_file()]
        raise _not_found(name, ", ".join(missing), folder, _download_hint(data_dir))
    if verify:
        for filename, md5 in files.values():
            _check_md5(name, folder / filename, md5)
    unchecked = type(
        "UncheckedSVHN",
        (tvd.SVHN,),
        {"split_list": {k: [url, f, None] for k, (url, f, _) in tvd.SVHN.split_list.items()}},
    )
    splits = {}
    for split, (filename, _) in files.items():
        try:
            data = unchecked(str(folder), split=split)
        except (KeyError, ValueError, TypeError, OSError, MatReadError) as error:
            raise _unreadable(name, folder / filename, error) from error
        images = torch.from_numpy(np.ascontiguousarray(data.data, dtype=np.uint8))
        splits[split] = ImageSet(images, torch.from_numpy(data.labels))
    return LoadedData(
        train=splits["train"],
        test=splits["test"],
        class_names=[str(d) for d in range(10)],
        notes={"source": str(folder), "checksums": "md5 checked" if verify else "skipped"},
    )


# --- image folders (and Tiny ImageNet) -------------------------------------------------


def _read_images(paths: Sequence[str], image_size: int) -> torch.Tensor:
    """The images at ``paths`` as uint8 ``(N, 3, S, S)``, RGB, resized (bilinear) to S."""
    from PIL import Image

    out = np.empty((len(paths), image_size, image_size, 3), dtype=np.uint8)

    def read(i: int) -> None:
        try:
            with Image.open(paths[i]) as image:
                image = image.convert("RGB")
                if image.size != (image_size, image_size):
                    image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
                out[i] = np.asarray(image)
        except OSError as error:
            raise _unreadable("image-folder", paths[i], error) from error

    workers = min(8, os.cpu_count() or 1)
    if len(paths) < 64 or workers == 1:
        for i in range(len(paths)):
            read(i)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(read, range(len(paths)), chunksize=256))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _class_names(root: Path, wnids: list[str]) -> list[str]:
    """Names of the classes from ``root/words.txt`` (``wnid<TAB>names``) if there."""
    words = root / "words.txt"
    if not words.is_file():
        return list(wnids)
    table = {}
    for line in words.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("\t")
        table[key.strip()] = value.strip()
    return [table.get(w) or w for w in wnids]


@register_dataset(
    DatasetInfo(
        name="image-folder",
        kind="classification",
        num_classes=0,
        input_shape=(3, 64, 64),
        license="that of the images in the folder",
        homepage="https://docs.pytorch.org/vision/stable/generated/"
        "torchvision.datasets.ImageFolder.html",
        paper="any tree of images by class, e.g. Tiny ImageNet (Le & Yang 2015)",
        embedded=False,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        folder="image-folder",
        downloadable=False,
        description="images in train/<class>/ and val/<class>/ (or Tiny ImageNet's layout), "
        "RGB, resized to image_size (default 64); classes from the tree",
    )
)
def load_image_folder(
    data_dir: Path,
    download: bool,
    *,
    seed: int = 0,
    verify: bool = True,
    folder: str = "image-folder",
    image_size: int = 64,
    **options: Any,
) -> LoadedData:
    """An ImageFolder tree ``data_dir/folder/{train,val|test}/<class>/``, or Tiny ImageNet's
    layout, read whole into memory at ``image_size`` x ``image_size``."""
    from torchvision.datasets import ImageFolder

    name = "image-folder"
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ConfigError(f"image_size must be a positive int; got {image_size!r}")
    root = data_dir / folder
    how = (
        f"Put the images in {root} as train/<class>/*.jpg and val/<class>/*.jpg (or "
        f"test/<class>/), or unpack Tiny ImageNet there; option 'folder' names another "
        f"sub-folder of --data-dir (default 'image-folder')."
    )
    _no_download(name, download, how)
    train_dir = root / "train"
    eval_dir = next((root / d for d in ("val", "test") if (root / d).is_dir()), None)
    if not train_dir.is_dir() or eval_dir is None:
        raise _not_found(name, "the folders train/ and val/ (or test/)", root, how)

    try:
        train = ImageFolder(str(train_dir))
    except FileNotFoundError as error:
        raise _not_found(name, f"images by class ({error})", train_dir, how) from error
    classes, class_to_idx = train.classes, train.class_to_idx
    annotations = eval_dir / "val_annotations.txt"
    if annotations.is_file():  # Tiny ImageNet: val/images/*.JPEG, labels in the file
        eval_samples = []
        for number, line in enumerate(annotations.read_text().splitlines(), 1):
            fields = line.split("\t")
            if not line.strip():
                continue
            if len(fields) < 2 or fields[1] not in class_to_idx:
                raise ConfigError(
                    f"dataset {name!r}: line {number} of {annotations} names no training class: "
                    f"{line!r}"
                )
            path = eval_dir / "images" / fields[0]
            if not path.is_file():
                raise _not_found(
                    name, f"{fields[0]} (listed in {annotations.name})", path.parent, how
                )
            eval_samples.append((str(path), class_to_idx[fields[1]]))
        layout = "tiny-imagenet"
    else:
        unknown = sorted(
            d.name for d in eval_dir.iterdir() if d.is_dir() and d.name not in class_to_idx
        )
        if unknown:
            raise ConfigError(
                f"dataset {name!r}: {eval_dir} holds classes that {train_dir} lacks: "
                f"{', '.join(unknown)}"
            )

        class FixedClasses(ImageFolder):
            """ImageFolder indexing its classes as the training set does."""

            def find_classes(self, directory):
                return list(classes), dict(class_to_idx)

        try:
            evaluation = FixedClasses(str(eval_dir), allow_empty=True)
        except FileNotFoundError as error:
            raise _not_found(name, f"images by class ({error})", eval_dir, how) from error
        eval_samples = evaluation.samples
        layout = "image-folder"
    if not eval_samples:
        raise _not_found(name, "images", eval_dir, how)

    def image_set(samples: list[tuple[str, int]]) -> ImageSet:
        labels = torch.as_tensor([label for _, label in samples], dtype=torch.long)
        return ImageSet(_read_images([path for path, _ in samples], image_size), labels)

    return LoadedData(
        train=image_set(train.samples),
        test=image_set(eval_samples),
        class_names=_class_names(root, classes),
        notes={"source": str(root), "layout": layout, "test_folder": eval_dir.name},
    )


# --- segmentation ----------------------------------------------------------------------


class SegmentationFiles(Dataset):
    """``(image, mask)`` pairs read from files, resized to ``size``.

    Images become float32 ``(3, H, W)`` in [0, 1] (RGB, bilinear resize), masks int64
    ``(H, W)`` (nearest-neighbour resize), their values first mapped through ``lut`` (a
    256-entry table) when given. With ``keep_aspect`` both are scaled to fit inside ``size``
    and centred; the border is black in the image and :data:`IGNORE_INDEX` in the mask.
    """

    def __init__(
        self,
        images: Sequence[str],
        masks: Sequence[str],
        size: tuple[int, int],
        lut: np.ndarray | None = None,
        keep_aspect: bool = False,
    ) -> None:
        if len(images) != len(masks):
            raise ValueError(f"{len(images)} images but {len(masks)} masks")
        self.images, self.masks = list(images), list(masks)
        self.size, self.lut, self.keep_aspect = size, lut, keep_aspect

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image

        with Image.open(self.images[index]) as image, Image.open(self.masks[index]) as mask:
            image = image.convert("RGB")
            labels = np.asarray(mask)
        if labels.ndim != 2 or labels.dtype.kind not in "ui" or labels.max(initial=0) > 255:
            raise ConfigError(
                f"{self.masks[index]} is not a mask of class indices 0..255 (a grey or palette PNG)"
            )
        if self.lut is not None:
            labels = self.lut[labels]
        mask = Image.fromarray(labels.astype(np.uint8))

        height, width = self.size
        if self.keep_aspect:
            scale = min(height / image.height, width / image.width)
            inner = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        else:
            inner = (width, height)
        if image.size != inner:
            image = image.resize(inner, Image.Resampling.BILINEAR)
        if mask.size != inner:
            mask = mask.resize(inner, Image.Resampling.NEAREST)
        if inner != (width, height):
            left, top = (width - inner[0]) // 2, (height - inner[1]) // 2
            canvas = Image.new("RGB", (width, height))
            canvas.paste(image, (left, top))
            border = Image.new("L", (width, height), IGNORE_INDEX)
            border.paste(mask, (left, top))
            image, mask = canvas, border
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)
        return pixels.float().div_(255.0), torch.from_numpy(np.array(mask, dtype=np.int64))


def _cityscapes_lut() -> tuple[np.ndarray, list[str]]:
    """The official labelId -> trainId table (255 elsewhere) and the 19 class names."""
    from torchvision.datasets import Cityscapes

    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    names = [""] * CITYSCAPES_TRAIN_CLASSES
    for c in Cityscapes.classes:
        if 0 <= c.id < 256 and 0 <= c.train_id < CITYSCAPES_TRAIN_CLASSES:
            lut[c.id] = c.train_id
            names[c.train_id] = c.name
    return lut, names


@register_dataset(
    DatasetInfo(
        name="cityscapes",
        kind="segmentation",
        num_classes=CITYSCAPES_TRAIN_CLASSES,
        input_shape=(3, 256, 512),
        license="Cityscapes licence: non-commercial research, registration required",
        homepage=CITYSCAPES_URL,
        paper="Cordts, Omran, Ramos, Rehfeld, Enzweiler, Benenson, Franke, Roth & Schiele 2016, "
        "The Cityscapes dataset for semantic urban scene understanding",
        embedded=False,
        mean=(0.2869, 0.3251, 0.2839),
        std=(0.1870, 0.1902, 0.1872),
        folder="cityscapes",
        downloadable=False,
        description="street scenes from 50 cities, fine annotations, 19 classes; resized to "
        "size (default 256x512)",
    )
)
def load_cityscapes(
    data_dir: Path,
    download: bool,
    *,
    seed: int = 0,
    verify: bool = True,
    size: Any = (256, 512),
    keep_aspect: bool = False,
    **options: Any,
) -> LoadedData:
    """Cityscapes' fine train (2,975) and val (500) images, labels mapped to the 19
    training classes, read from disk per item (torchvision ``Cityscapes``)."""
    from torchvision.datasets import Cityscapes

    name, root = "cityscapes", data_dir / "cityscapes"
    size = _size(size)
    how = (
        f"Register at {CITYSCAPES_URL}, download leftImg8bit_trainvaltest.zip and "
        f"gtFine_trainvaltest.zip and unzip them in {root}."
    )
    _no_download(name, download, how)
    how = f"Cityscapes cannot be downloaded automatically. {how}"
    lut, class_names = _cityscapes_lut()
    splits = {}
    for split in ("train", "val"):
        try:
            data = Cityscapes(str(root), split=split, mode="fine", target_type="semantic")
        except zipfile.BadZipFile as error:
            raise _unreadable(name, root / "leftImg8bit_trainvaltest.zip", error) from error
        except (RuntimeError, OSError) as error:
            raise _not_found(
                name, f"leftImg8bit/{split}/<city>/ and gtFine/{split}/<city>/", root, how
            ) from error
        pairs = sorted(
            (image, targets[0])
            for image, targets in zip(data.images, data.targets)
            if image.endswith("_leftImg8bit.png")
        )
        if not pairs:
            raise _not_found(
                name, f"*_leftImg8bit.png images in leftImg8bit/{split}/<city>/", root, how
            )
        missing = [mask for _, mask in pairs if not os.path.isfile(mask)]
        if missing:
            raise _not_found(
                name,
                f"{len(missing)} label files, e.g. {Path(missing[0]).name},",
                Path(missing[0]).parent,
                how,
            )
        images, masks = zip(*pairs)
        splits[split] = SegmentationFiles(images, masks, size, lut=lut, keep_aspect=keep_aspect)
    return LoadedData(
        train=splits["train"],
        test=splits["val"],
        class_names=class_names,
        notes={"source": str(root), "test_split": "val", "size": size},
    )


@register_dataset(
    DatasetInfo(
        name="voc",
        kind="segmentation",
        num_classes=len(VOC_CLASSES),
        input_shape=(3, 256, 256),
        license="images under Flickr's terms of use; annotations for research use",
        homepage="http://host.robots.ox.ac.uk/pascal/VOC/voc2012/",
        paper="Everingham, Van Gool, Williams, Winn & Zisserman 2010, The PASCAL Visual Object "
        "Classes (VOC) challenge",
        embedded=False,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        folder="VOCdevkit/VOC2012",
        description="PASCAL VOC 2012 segmentation, background + 20 classes; resized to size "
        "(default 256x256)",
    )
)
def load_voc(
    data_dir: Path,
    download: bool,
    *,
    seed: int = 0,
    verify: bool = True,
    size: Any = (256, 256),
    keep_aspect: bool = False,
    **options: Any,
) -> LoadedData:
    """PASCAL VOC 2012 segmentation: the train (1,464) and val (1,449) image sets, read from
    disk per item (torchvision ``VOCSegmentation``)."""
    from torchvision.datasets import VOCSegmentation

    name, base = "voc", data_dir / "VOCdevkit" / "VOC2012"
    size = _size(size)
    needed = [
        "JPEGImages",
        "SegmentationClass",
        *(f"ImageSets/Segmentation/{s}.txt" for s in ("train", "val")),
    ]

    def present() -> bool:
        return all((base / n).exists() for n in needed)

    if not present() and download:
        _download(
            name,
            data_dir,
            lambda: VOCSegmentation(str(data_dir), year="2012", image_set="train", download=True),
        )
    if not present():
        missing = [n for n in needed if not (base / n).exists()]
        raise _not_found(name, ", ".join(missing), base, _download_hint(data_dir))
    splits = {}
    for split in ("train", "val"):
        try:
            data = VOCSegmentation(str(data_dir), year="2012", image_set=split)
        except (RuntimeError, OSError) as error:
            raise _unreadable(name, base / f"ImageSets/Segmentation/{split}.txt", error) from error
        # a blank line in the list file names no image
        pairs = [(i, m) for i, m in zip(data.images, data.masks) if Path(i).name != ".jpg"]
        missing = [p for pair in pairs for p in pair if not os.path.isfile(p)]
        if missing:
            raise _not_found(
                name,
                f"{len(missing)} files listed in ImageSets/Segmentation/{split}.txt, e.g. "
                f"{Path(missing[0]).name},",
                Path(missing[0]).parent,
                _download_hint(data_dir),
            )
        if not pairs:
            raise _not_found(name, f"image names in ImageSets/Segmentation/{split}.txt", base, "")
        images, masks = zip(*pairs)
        splits[split] = SegmentationFiles(images, masks, size, keep_aspect=keep_aspect)
    return LoadedData(
        train=splits["train"],
        test=splits["val"],
        class_names=list(VOC_CLASSES),
        notes={"source": str(base), "test_split": "val", "size": size},
    )
