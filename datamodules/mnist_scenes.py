"""``mnist-scenes``: a segmentation data set composed from the real MNIST digits.

The recipe of the embedded ``digit-scenes`` (:mod:`hem_bench.datamodules.digits`: the same
layout draws, :func:`~hem_bench.datamodules.digits.place_digits`) applied to the 70,000
MNIST digits read from ``--data-dir`` (``DIR/MNIST/raw``, by the ``mnist`` loader). Each
:data:`CANVAS` x :data:`CANVAS` canvas holds one to three digits, each MNIST 28x28 frame
shrunk to a side of :data:`MIN_SCALE` to :data:`MAX_SCALE` pixels (bilinear with
antialiasing, so that thin strokes stay whole) and placed at a random position; 11 classes
(background + 10 digits).

How the digits are placed, drawn and labelled:

- **Digits are kept apart.** MNIST normalised every digit into a 20x20 box in the middle of
  its 28x28 frame (LeCun et al. 1998); the central 20/28 of each placed frame
  (:data:`APART`) overlaps no earlier digit's, so frames may overlap in their empty margins
  and strokes can touch but rarely cross (M2NIST, a segmentation set of up to three MNIST
  digits, pastes them without overlap too). A digit with no room left is left out, which
  makes some three-digit scenes two-digit ones. Why: with positions drawn freely, as in
  ``digit-scenes``, 36 % of the digits had a fifth of their stroke covered by another's
  ink, and cross-entropy classified the pixels of overlapping digits correctly 71-73 % of
  the time against 92-94 % for isolated ones: the scenes measured how well a network
  untangles crossed digits more than how it segments them.
- **Ink adds up as the maximum.** A scene's intensity is the pixel-wise maximum of the
  digits drawn over it (white ink on black paper: where two strokes meet, the brighter
  shows), each digit quantised to uint8 before it is drawn, as MNIST's own pixels are.
- **A stroke is where a digit's ink covers at least half the pixel** (uint8 >= 128, the
  0.5 threshold at which MNIST is usually binarised). Such a pixel takes the digit's class;
  a fainter pixel (the anti-aliased rim) is background. No edge band is ignored: the
  Pascal VOC ignore label marks pixels whose class annotators could not decide (its
  5-pixel boundary band), but here the label is an exact function of the drawn intensity,
  so the rim is not uncertain, only hard, and how a loss handles such pixels is part of
  what is measured. (Cross-entropy found the strokes well: the IoU of digit against
  background was 0.95-0.96 where the mIoU over classes was 0.61-0.69.)
- **Crossing strokes of different digits are ignored (255).** The maximum hides which
  digit lies on top, so a pixel in the strokes of two digits of different classes belongs
  to neither in any way the image can show: it is labelled 255 (the loss and the metrics
  skip it), as VOC labels what it cannot decide. Where the digits share a class the pixel
  keeps it. So a mask is labelled (a class or 255) exactly where the scene is >= 128.

Splits: the training scenes are drawn from MNIST's training digits less a validation pool
(:data:`VAL_FRACTION` of them, stratified by class and drawn per seed), the validation
scenes from that pool, the test scenes from MNIST's 10,000 test digits; no digit appears in
two splits. Everything is made from ``--data-dir`` and the seed, deterministically.

Nothing is written: the digits are read once per process (held as uint8, 55 MB, and reused
by every run of that process while the files are unchanged) and the scenes are composed in
memory (about a second; the last two compositions are kept, about 40 MB each with the
default counts). The data folder may be read-only.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from hem_bench.datamodules.base import (
    IGNORE_INDEX,
    DatasetInfo,
    ImageSet,
    LoadedData,
    register_dataset,
)
from hem_bench.datamodules.digits import (
    SCENE_CLASSES,
    place_digits,
    resize_placed,
    stratified_split,
)
from hem_bench.seeding import derive_seed

#: scenes per split by default
SCENES = {"train": 3000, "val": 200, "test": 1000}
#: side of a scene's square canvas, in pixels
CANVAS = 32
#: sides (pixels) to which a digit's 28x28 frame is shrunk, and the most digits in a scene
MIN_SCALE, MAX_SCALE, MAX_DIGITS = 12, 16, 3
#: uint8 intensity from which a pixel is a digit's stroke (half the pixel covered by ink)
STROKE = 128
#: fraction of each digit's side whose central square overlaps no other digit's: MNIST's
#: 20x20 box in its 28x28 frame
APART = 20 / 28
#: fraction of MNIST's training digits held out for the validation scenes
VAL_FRACTION = 0.1
#: mean and std of the pixels of the default training scenes (seed 0)
SCENES_MEAN, SCENES_STD = (0.0499,), (0.1699,)

#: the files the digits are read from, under --data-dir
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _file_stamps(root: Path) -> tuple:
    """Size and modification time of each MNIST file (absent files: None), so that the
    cache reads the digits again when a file changes."""
    stamps = []
    for name in MNIST_FILES:
        try:
            stat = (root / "MNIST" / "raw" / name).stat()
            stamps.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


@functools.lru_cache(maxsize=1)
def _cached_mnist(root: Path, stamps: tuple, download: bool, verify: bool) -> LoadedData:
    """MNIST's training and test digits from ``root`` (the ``mnist`` loader), read once per
    process while the files are unchanged (``stamps``)."""
    from hem_bench.datamodules.mnist_family import load_mnist

    return load_mnist(root, download, verify=verify)


def compose_ink_scenes(
    digits: ImageSet,
    count: int,
    seed: int,
    canvas: int = CANVAS,
    min_scale: int = MIN_SCALE,
    max_scale: int = MAX_SCALE,
    max_digits: int = MAX_DIGITS,
) -> tuple[ImageSet, torch.Tensor]:
    """``count`` scenes of the given uint8 digits, drawn and labelled as the module
    docstring says; and the placements (rows ``(scene, digit, side, top, left)``, digit a
    position in ``digits``) they were drawn from."""
    placements = place_digits(
        count, len(digits), seed, canvas, min_scale, max_scale, max_digits, apart=APART
    )
    pixels = count * canvas * canvas
    # every rule is order-free (a maximum; a set of classes), so all digits of one side are
    # drawn at once by scattering into the flat canvases
    images = torch.zeros(pixels, dtype=torch.uint8)
    lowest = torch.full((pixels,), len(SCENE_CLASSES), dtype=torch.long)
    highest = torch.zeros(pixels, dtype=torch.long)
    classes = digits.labels + 1
    for size, (rows, drawn) in resize_placed(digits, placements, antialias=True).items():
        scene, digit, _, top, left = placements[rows].unbind(1)
        offsets = torch.arange(size)
        at = (
            (scene * canvas * canvas + top * canvas + left)[:, None, None]
            + offsets[None, :, None] * canvas
            + offsets[None, None, :]
        )
        ink = drawn.mul_(255).round_().to(torch.uint8)
        images.scatter_reduce_(0, at.flatten(), ink.flatten(), "amax")
        stroke = ink >= STROKE
        where = at[stroke]
        label = classes[digit][:, None, None].expand_as(at)[stroke]
        lowest.scatter_reduce_(0, where, label, "amin")
        highest.scatter_reduce_(0, where, label, "amax")
    masks = torch.where(highest == 0, 0, torch.where(lowest == highest, highest, IGNORE_INDEX))
    return (
        ImageSet(images.view(count, 1, canvas, canvas), masks.view(count, canvas, canvas)),
        placements,
    )


@register_dataset(
    DatasetInfo(
        name="mnist-scenes",
        kind="segmentation",
        num_classes=11,
        input_shape=(1, CANVAS, CANVAS),
        license="CC BY-SA 3.0 (composed from MNIST)",
        homepage="http://yann.lecun.com/exdb/mnist/",
        paper="composed from LeCun, Bottou, Bengio & Haffner 1998",
        embedded=False,
        mean=SCENES_MEAN,
        std=SCENES_STD,
        folder="MNIST/raw",
        description=f"{CANVAS}x{CANVAS} canvases of 1-3 MNIST digits; background + 10 digit "
        "classes per pixel",
    )
)
def load_mnist_scenes(
    data_dir: Path,
    download: bool,
    *,
    seed: int = 0,
    verify: bool = True,
    canvas: int = CANVAS,
    scenes: dict[str, int] | None = None,
    **_: Any,
) -> LoadedData:
    """Scenes composed per ``seed`` from the MNIST digits under ``data_dir``; each split
    from its own digits. A canvas other than :data:`CANVAS` keeps the digits' sides where
    they fit and caps them at the canvas. The last few compositions are kept in memory, so
    that the runs of one seed in one process (a sweep worker's losses) compose it once."""
    root = Path(data_dir).expanduser().resolve()
    counts = {**SCENES, **(scenes or {})}
    data = _composed(
        root, _file_stamps(root), download, verify, seed, canvas, tuple(sorted(counts.items()))
    )
    return replace(data, notes=dict(data.notes))


@functools.lru_cache(maxsize=2)
def _composed(
    root: Path,
    stamps: tuple,
    download: bool,
    verify: bool,
    seed: int,
    canvas: int,
    counts: tuple[tuple[str, int], ...],
) -> LoadedData:
    mnist = _cached_mnist(root, stamps, download, verify)
    train_pool, val_pool = stratified_split(
        mnist.train.labels, (VAL_FRACTION,), derive_seed(seed, "split")
    )
    pools = {"train": train_pool, "val": val_pool, "test": None}
    splits, sources, layouts = {}, {}, {}
    for i, name in enumerate(("train", "val", "test")):
        pool = pools[name]
        digits = mnist.test if pool is None else mnist.train.subset(pool)
        splits[name], placements = compose_ink_scenes(
            digits,
            dict(counts)[name],
            derive_seed(seed, "scenes", i),
            canvas=canvas,
            min_scale=min(MIN_SCALE, canvas),
            max_scale=min(MAX_SCALE, canvas),
        )
        # positions in MNIST's training (train, val) or test (test) set of the digits drawn
        drawn = placements[:, 1]
        sources[name] = drawn if pool is None else pool[drawn]
        layouts[name] = placements
    return LoadedData(
        class_names=list(SCENE_CLASSES),
        notes={
            "composed_from": "mnist",
            "source": mnist.notes.get("source"),
            "canvas": canvas,
            "digit_sources": sources,
            "placements": layouts,
        },
        **splits,
    )
