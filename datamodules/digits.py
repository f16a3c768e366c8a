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

import numpy as np
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


def place_digits(
    count: int,
    pool: int,
    seed: int,
    canvas: int = CANVAS,
    min_scale: int = MIN_SCALE,
    max_scale: int = MAX_SCALE,
    max_digits: int = MAX_DIGITS,
    apart: float | None = None,
) -> torch.Tensor:
    """Where the digits of ``count`` scenes go: int64 rows ``(scene, digit, side, top,
    left)``, in drawing order (a later row is drawn over an earlier one).

    Each scene draws 1..``max_digits`` digits (uniformly), each one of the ``pool`` digits
    (uniformly, with replacement), resized to a side in ``[min_scale, max_scale]`` and
    placed at a random position inside the ``canvas``. Every scene data set composed from
    digits draws its layout here, so that they share one random recipe and its checks.

    With ``apart`` (a fraction of the side, in (0, 1]) the digits are kept apart: the
    central square of that fraction of each digit's side (its margin rounded to whole
    pixels) overlaps no earlier digit's. The random numbers are then drawn up front, in
    this order: the number of digits of every scene, then for every scene ``max_digits``
    digits, sides and uniform numbers ``u`` in [0, 1); a digit goes to position
    ``floor(u * n)`` of the ``n`` positions where its central square overlaps no earlier
    one's (in row-major order), and is left out where there is none (its scene keeps the
    digits drawn before it).
    """
    if not 1 <= min_scale <= max_scale <= canvas:
        raise ConfigError(
            f"digit scales must satisfy 1 <= min_scale <= max_scale <= canvas; got "
            f"{min_scale}, {max_scale}, canvas {canvas}"
        )
    if apart is not None and not 0 < apart <= 1:
        raise ConfigError(f"apart must be a fraction of a digit's side in (0, 1]; got {apart}")
    gen = torch.Generator().manual_seed(seed)
    if apart is not None:
        return _place_apart(count, pool, gen, canvas, min_scale, max_scale, max_digits, apart)
    rows = []
    for i in range(count):
        for _ in range(int(torch.randint(1, max_digits + 1, (1,), generator=gen))):
            k = int(torch.randint(pool, (1,), generator=gen))
            size = int(torch.randint(min_scale, max_scale + 1, (1,), generator=gen))
            top = int(torch.randint(0, canvas - size + 1, (1,), generator=gen))
            left = int(torch.randint(0, canvas - size + 1, (1,), generator=gen))
            rows.append((i, k, size, top, left))
    return torch.tensor(rows, dtype=torch.long).reshape(-1, 5)


def _place_apart(
    count: int,
    pool: int,
    gen: torch.Generator,
    canvas: int,
    min_scale: int,
    max_scale: int,
    max_digits: int,
    apart: float,
) -> torch.Tensor:
    """:func:`place_digits` with digits kept ``apart`` (its docstring says how)."""
    numbers = torch.randint(1, max_digits + 1, (count,), generator=gen).tolist()
    picks = torch.randint(pool, (count, max_digits), generator=gen).tolist()
    sides = torch.randint(min_scale, max_scale + 1, (count, max_digits), generator=gen).tolist()
    spots = torch.rand((count, max_digits), generator=gen, dtype=torch.float64).tolist()
    rows = []
    cores = np.zeros((canvas, canvas), dtype=np.int32)  # the kept-apart squares of a scene
    for i in range(count):
        cores[:] = 0
        for j in range(numbers[i]):
            size = sides[i][j]
            margin, core = _core(size, apart)
            n = canvas - size + 1
            blocked = _window_sums(cores, core)[margin : margin + n, margin : margin + n]
            free = np.flatnonzero(blocked == 0)
            if len(free) == 0:
                continue
            top, left = divmod(int(free[int(spots[i][j] * len(free))]), n)
            cores[top + margin : top + margin + core, left + margin : left + margin + core] = 1
            rows.append((i, picks[i][j], size, top, left))
    return torch.tensor(rows, dtype=torch.long).reshape(-1, 5)


def _core(size: int, apart: float) -> tuple[int, int]:
    """Margin and side of the central square that ``apart`` keeps apart in a digit."""
    margin = round(size * (1 - apart) / 2)
    return margin, size - 2 * margin


def _window_sums(grid: np.ndarray, side: int) -> np.ndarray:
    """``out[y, x]``: the sum of ``grid`` over the ``side`` square with corner ``(y, x)``."""
    sums = np.zeros((grid.shape[0] + 1, grid.shape[1] + 1), dtype=np.int32)
    sums[1:, 1:] = grid.cumsum(0).cumsum(1)
    n = grid.shape[0] - side + 1
    return sums[side:, side:] - sums[:n, side:] - sums[side:, :n] + sums[:n, :n]


def resize_placed(
    digits: ImageSet, placements: torch.Tensor, antialias: bool = False
) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """The placed digits resized to their sides (bilinear, clamped to [0, 1]), by side:
    ``{side: (rows, images)}``, ``images[j]`` (``side`` x ``side``, float) being the digit
    of row ``rows[j]`` of ``placements``.

    Only the digits drawn are resized, each once per side (bilinear interpolation treats
    each image on its own, so this equals resizing every drawn digit by itself).
    ``antialias`` filters before shrinking (a digit drawn smaller than it is stored);
    without it a shrunk stroke can break up.
    """
    out = {}
    for size in placements[:, 2].unique().tolist():
        rows = torch.nonzero(placements[:, 2] == size).flatten()
        wanted, which = placements[rows, 1].unique(return_inverse=True)
        resized = F.interpolate(
            digits.float_images(wanted),
            size=(size, size),
            mode="bilinear",
            align_corners=False,
            antialias=antialias,
        )[:, 0].clamp_(0.0, 1.0)
        out[size] = (rows, resized[which])
    return out


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
    digit is drawn over an earlier one (:func:`place_digits`). Masks hold 0 for background
    and 1 + digit class where a digit's intensity exceeds :data:`FOREGROUND`; only those
    pixels are drawn. The positions in ``digits`` of the digits drawn are appended to
    ``used`` when it is given.
    """
    placements = place_digits(count, len(digits), seed, canvas, min_scale, max_scale, max_digits)
    if used is not None:
        used.extend(placements[:, 1].tolist())
    images = torch.zeros(count, 1, canvas, canvas)
    masks = torch.zeros(count, canvas, canvas, dtype=torch.long)
    classes = (digits.labels + 1).tolist()
    resized: list[torch.Tensor] = [torch.empty(0)] * len(placements)
    for rows, drawn in resize_placed(digits, placements).values():
        for row, digit in zip(rows.tolist(), drawn):
            resized[row] = digit
    for (i, k, size, top, left), digit in zip(placements.tolist(), resized):
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
