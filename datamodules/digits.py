"""The embedded data sets: scikit-learn's handwritten digits, and scenes composed from them.

Both ship with the installation (scikit-learn carries the digits), so every command runs
offline on them by default.

- ``digits``: 1,797 grey 8x8 images of the digits 0-9 (the UCI optical recognition data
  set), split per seed into stratified train / validation / test sets (60 / 10 / 30 %).
- ``digit-scenes``: a segmentation data set. Each 32x32 canvas holds one to three digits at
  random positions and sides of 10 to 16 pixels (the digits' own 8x8 upsampled at most 2x); every pixel is labelled background (0) or the class of the digit
  drawn there (1 + digit). Training scenes are composed from training digits only,
  validation and test scenes from validation and test digits only.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from hem_bench.datamodules.base import DatasetInfo, ImageSet, LoadedData, register_dataset
from hem_bench.errors import ConfigError
from hem_bench.seeding import derive_seed

DIGIT_NAMES = [str(d) for d in range(10)]
#: mean and std of all 1,797 digits' pixels, scaled to [0, 1]
DIGITS_MEAN, DIGITS_STD = (0.3053,), (0.3760,)
#: fractions of the digits in the validation and test sets
VAL_FRACTION, TEST_FRACTION = 0.1, 0.3


def stratified_split(
    labels: torch.Tensor, fractions: tuple[float, ...], seed: int
) -> list[torch.Tensor]:
    """Indices of disjoint parts of sizes ``fractions`` (the rest is the first part),
    stratified by label: every part holds each class in the same proportion."""
    gen = torch.Generator().manual_seed(seed)
    parts: list[list[torch.Tensor]] = [[] for _ in range(len(fractions) + 1)]
    for label in labels.unique(sorted=True):
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=gen)]
        start = len(members)
        for i, fraction in enumerate(fractions):
            size = round(fraction * len(members))
            parts[i + 1].append(members[start - size : start])
            start -= size
        parts[0].append(members[:start])
    return [torch.sort(torch.cat(p)).values for p in parts]


def _digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.as_tensor(data.images, dtype=torch.float32).div_(16.0).unsqueeze(1)
    return images, torch.as_tensor(data.target, dtype=torch.long)


@register_dataset(
    DatasetInfo(
        name="digits",
        kind="classification",
        num_classes=10,
        input_shape=(1, 8, 8),
        license="CC BY 4.0 (UCI Machine Learning Repository)",
        homepage="https://archive.ics.uci.edu/dataset/80",
        paper="Alpaydin & Kaynak 1998",
        embedded=True,
        mean=DIGITS_MEAN,
        std=DIGITS_STD,
        downloadable=False,
        description="scikit-learn's 1,797 handwritten digits, 8x8 grey",
    )
)
def load_digits_data(data_dir: Path | None, download: bool, *, seed: int = 0, **_) -> LoadedData:
    """The digits, split per ``seed`` into stratified train / val / test sets."""
    images, labels = _digits_tensors()
    train, val, test = stratified_split(
        labels, (VAL_FRACTION, TEST_FRACTION), derive_seed(seed, "split")
    )
    whole = ImageSet(images, labels)
    return LoadedData(
        train=whole.subset(train),
        val=whole.subset(val),
        test=whole.subset(test),
        class_names=list(DIGIT_NAMES),
        notes={
            "source": "sklearn.datasets.load_digits",
            "indices": {"train": train, "val": val, "test": test},
        },
    )


# --- digit scenes -------------------------------------------------------------------

SCENE_CLASSES = ["background", *(f"digit {d}" for d in range(10))]
#: scenes per split by default
SCENES = {"train": 800, "val": 100, "test": 200}
#: side of a scene's square canvas, in pixels
CANVAS = 32
#: sides (pixels) between which each digit is drawn, and the most digits in a scene
MIN_SCALE, MAX_SCALE, MAX_DIGITS = 10, 16, 3
#: a pixel belongs to a digit where its intensity exceeds this
FOREGROUND = 0.3
#: mean and std of the pixels of the default training scenes (seed 0)
SCENES_MEAN, SCENES_STD = (0.083,), (0.227,)


def compose_scenes(
    digits: ImageSet,
    count: int,
    seed: int,
    canvas: int = CANVAS,
    min_scale: int = MIN_SCALE,
    max_scale: int = MAX_SCALE,
    max_digits: int = MAX_DIGITS,
    used: list[int] | None = None,
) -> ImageSet:
    """``count`` scenes of ``canvas`` x ``canvas`` pixels made of the given digits.

    Each scene draws 1..``max_digits`` digits (uniformly), each resized to a random side in
    ``[min_scale, max_scale]`` and placed at a random position inside the canvas; a later
    digit is drawn over an earlier one. Masks hold 0 for background and 1 + digit class
    where a digit's intensity exceeds :data:`FOREGROUND`. The positions in ``digits`` of
    the digits drawn are appended to ``used`` when it is given.
    """
    if not 1 <= min_scale <= max_scale <= canvas:
        raise ConfigError(
            f"digit scales must satisfy 1 <= min_scale <= max_scale <= canvas; got "
            f"{min_scale}, {max_scale}, canvas {canvas}"
        )
    gen = torch.Generator().manual_seed(seed)
    images = torch.zeros(count, 1, canvas, canvas)
    masks = torch.zeros(count, canvas, canvas, dtype=torch.long)
    sources = digits.float_images()
    # every digit resized once to every side (bilinear interpolation treats each image on
    # its own, so this equals resizing each drawn digit; composing becomes slicing)
    resized = {
        size: F.interpolate(sources, size=(size, size), mode="bilinear", align_corners=False)[
            :, 0
        ].clamp_(0.0, 1.0)
        for size in range(min_scale, max_scale + 1)
    }
    classes = (digits.labels + 1).tolist()
    for i in range(count):
        for _ in range(int(torch.randint(1, max_digits + 1, (1,), generator=gen))):
            k = int(torch.randint(len(digits), (1,), generator=gen))
            if used is not None:
                used.append(k)
            size = int(torch.randint(min_scale, max_scale + 1, (1,), generator=gen))
            top = int(torch.randint(0, canvas - size + 1, (1,), generator=gen))
            left = int(torch.randint(0, canvas - size + 1, (1,), generator=gen))
            digit = resized[size][k]
            ink = digit > FOREGROUND
            region = images[i, 0, top : top + size, left : left + size]
            region[ink] = digit[ink]
            masks[i, top : top + size, left : left + size][ink] = classes[k]
    return ImageSet((images * 255).round_().to(torch.uint8), masks)


@register_dataset(
    DatasetInfo(
        name="digit-scenes",
        kind="segmentation",
        num_classes=11,
        input_shape=(1, CANVAS, CANVAS),
        license="CC BY 4.0 (composed from the UCI digits)",
        homepage="https://archive.ics.uci.edu/dataset/80",
        paper="composed from Alpaydin & Kaynak 1998",
        embedded=True,
        mean=SCENES_MEAN,
        std=SCENES_STD,
        downloadable=False,
        description="32x32 canvases of 1-3 digits; background + 10 digit classes per pixel",
    )
)
def load_digit_scenes(
    data_dir: Path | None,
    download: bool,
    *,
    seed: int = 0,
    canvas: int = CANVAS,
    scenes: dict[str, int] | None = None,
    **_,
) -> LoadedData:
    """Scenes composed per ``seed``; each split from its own digits (no test digit in a
    training scene). A canvas other than :data:`CANVAS` keeps the digits' sides where they
    fit and caps them at the canvas."""
    digits = load_digits_data(None, False, seed=seed)
    counts = {**SCENES, **(scenes or {})}
    splits, sources = {}, {}
    for i, name in enumerate(("train", "val", "test")):
        used: list[int] = []
        splits[name] = compose_scenes(
            getattr(digits, name),
            counts[name],
            derive_seed(seed, "scenes", i),
            canvas=canvas,
            min_scale=min(MIN_SCALE, canvas),
            max_scale=min(MAX_SCALE, canvas),
            used=used,
        )
        # indices into scikit-learn's 1,797 digits of every digit drawn in this split
        sources[name] = digits.notes["indices"][name][torch.as_tensor(used, dtype=torch.long)]
    return LoadedData(
        class_names=list(SCENE_CLASSES),
        notes={"composed_from": "digits", "canvas": canvas, "digit_sources": sources},
        **splits,
    )
