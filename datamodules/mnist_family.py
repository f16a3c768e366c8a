"""The MNIST family, read from ``--data-dir`` (never written into it):

- ``mnist``, ``fashion-mnist``, ``kmnist``: 28x28 grey, 10 classes, 60,000 / 10,000. Read
  from ``DIR/MNIST/raw``, ``DIR/FashionMNIST/raw``, ``DIR/KMNIST/raw``: the four IDX files
  ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``, each uncompressed or as its ``.gz`` archive (decompressed in
  memory: nothing is written beside it, and a read-only folder works). torchvision's older
  ``processed/training.pt`` and ``test.pt`` are read too when present. Each is read once
  per process (a sweep worker making many runs reads it once), unless the caller passes
  ``cache=False``: the ``ood`` task reads its extra OOD sets so, keeps 10,000 test images of
  each and lets the rest go, so that a worker does not hold 55 MB more per OOD set.

Checksums (``verify``, the default; ``--no-verify`` turns it off):

- ``mnist``, ``fashion-mnist``, ``kmnist``: torchvision checks the MD5 sums of the ``.gz``
  archives only when it downloads them; the decompressed files it reads have no published
  sums and are never checked. Where hem-bench reads ``.gz`` archives itself, it checks their
  MD5 sums first (unless ``verify=False``), as torchvision does at download.

Missing data raises :class:`~hem_bench.errors.DataNotFoundError` naming the data set, the
folder expected and how to get it (:mod:`hem_bench.datamodules.files`).
"""

from __future__ import annotations

import gzip
import math
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from hem_bench.datamodules.base import (
    DatasetInfo,
    ImageSet,
    LoadedData,
    register_dataset,
)
from hem_bench.datamodules.files import (
    _check_md5,
    _download,
    _download_hint,
    _not_found,
    _unreadable,
)
from hem_bench.errors import DataNotFoundError

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


def _register(class_name: str, what: str, **fields: Any):
    """Registers the loader of one MNIST-family set (``fields``: its
    :class:`~hem_bench.datamodules.base.DatasetInfo` beside what the family shares), read as
    torchvision's ``class_name`` reads it; returns the loader."""
    info = DatasetInfo(**fields, **MNIST_COMMON)

    def load(
        data_dir: Path,
        download: bool,
        *,
        seed: int = 0,
        verify: bool = True,
        cache: bool = True,
        **options: Any,
    ) -> LoadedData:
        return _load_mnist_family(info.name, class_name, data_dir, download, verify, cache)

    load.__name__ = "load_" + info.name.replace("-", "_")
    load.__doc__ = (
        f"{what}'s 60,000 training and 10,000 test images (torchvision ``{class_name}``)."
    )
    return register_dataset(info)(load)


load_mnist = _register(
    "MNIST",
    "MNIST",
    name="mnist",
    license="CC BY-SA 3.0",
    homepage="http://yann.lecun.com/exdb/mnist/",
    paper="LeCun, Bottou, Bengio & Haffner 1998, Gradient-based learning applied to "
    "document recognition",
    mean=(0.1307,),
    std=(0.3081,),
    folder="MNIST/raw",
    description="70,000 handwritten digits, 28x28 grey, 10 classes (60,000 train)",
)
load_fashion_mnist = _register(
    "FashionMNIST",
    "Fashion-MNIST",
    name="fashion-mnist",
    license="MIT",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    paper="Xiao, Rasul & Vollgraf 2017, Fashion-MNIST: a novel image dataset for "
    "benchmarking machine learning algorithms",
    mean=(0.2860,),
    std=(0.3530,),
    folder="FashionMNIST/raw",
    description="70,000 Zalando article images, 28x28 grey, 10 classes (60,000 train)",
)
load_kmnist = _register(
    "KMNIST",
    "Kuzushiji-MNIST",
    name="kmnist",
    license="CC BY-SA 4.0",
    homepage="https://github.com/rois-codh/kmnist",
    paper="Clanuwat, Bober-Irizar, Kitamoto, Lamb, Yamamoto & Ha 2018, Deep learning for "
    "classical Japanese literature",
    mean=(0.1918,),
    std=(0.3483,),
    folder="KMNIST/raw",
    description="70,000 cursive Japanese (Kuzushiji) characters, 28x28 grey, 10 classes",
)
