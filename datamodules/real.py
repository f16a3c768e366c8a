"""Real benchmark data sets of CIFAR, SVHN and image folders, read from ``--data-dir``.

None of them ships with hem-bench. Each is read with torchvision's data set class, from the
folder that class expects under ``--data-dir`` (``DIR`` below); ``--download`` passes
``download=True`` to torchvision where it can fetch the data. Nothing is read or fetched
when this module is imported (torchvision is imported by the loaders only).

Classification (held whole in memory: uint8 images ``(N, C, H, W)``, int64 labels; train
and test sets, the caller carves validation from train). The MNIST family (``mnist``,
``fashion-mnist``, ``kmnist``) is read by :mod:`hem_bench.datamodules.mnist_family`, the
segmentation sets (``cityscapes``, ``voc``) by :mod:`hem_bench.datamodules.segmentation_sets`;
this module reads:

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

Checksums (``verify``, the default; ``--no-verify`` turns it off):

- ``cifar10``, ``cifar100``, ``svhn``: torchvision checks the MD5 sum of every file it
  reads. With ``verify=True`` the files are checked against torchvision's sums on every
  load (a mismatch raises :class:`~hem_bench.errors.DataNotFoundError` naming the file and
  saying that ``--no-verify`` loads it anyway); with ``verify=False`` only the checksum is
  skipped: the files must still exist.
- ``image-folder`` has no checksums.

Missing data raises :class:`~hem_bench.errors.DataNotFoundError` naming the data set, the
folder expected and how to get it; torchvision's own "Dataset not found" errors never escape.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
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
    _no_download,
    _not_found,
    _unreadable,
)
from hem_bench.errors import ConfigError

#: ImageNet's per-channel statistics: the usual normalisation for natural photographs
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


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


# Longer than the others (about 90 lines): one pass over a folder tree that reads both
# layouts (ImageFolder's and Tiny ImageNet's val/val_annotations.txt), checks that the
# evaluation tree holds only training classes and names the classes; split, each part
# would need the whole of that state.
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
