"""Real segmentation data sets, read from ``--data-dir``.

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

Checksums: ``voc``: torchvision checks the MD5 sum of the downloaded tar only, at download.
  ``cityscapes`` and ``image-folder`` have no checksums.

Missing data raises :class:`~hem_bench.errors.DataNotFoundError` naming the data set, the
folder expected and how to get it (:mod:`hem_bench.datamodules.files`).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from hem_bench.datamodules.base import (
    IGNORE_INDEX,
    DatasetInfo,
    LoadedData,
    register_dataset,
)
from hem_bench.datamodules.files import (
    _download,
    _download_hint,
    _no_download,
    _not_found,
    _size,
    _unreadable,
)
from hem_bench.datamodules.real import IMAGENET_MEAN, IMAGENET_STD
from hem_bench.errors import ConfigError

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
