"""``mnist-scenes``: scenes composed from the real MNIST digits in ``../shared/data``.

The data-dependent tests skip, saying why, where that folder is absent. The scenes are
checked against an independent composition: the digits read from the IDX files with numpy,
the layout drawn again from the documented random draws, each pixel labelled by a loop over
the rules of the module docstring.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hem_bench.cli import main
from hem_bench.datamodules.base import load_dataset
from hem_bench.errors import DataNotFoundError
from hem_bench.seeding import derive_seed

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_mnist = pytest.mark.skipif(
    not (DATA / "MNIST" / "raw").is_dir(),
    reason=f"the real MNIST is not in {DATA} (../shared/data from the repository root)",
)
SCENES = {"train": 40, "val": 12, "test": 24}


def _load(seed: int = 0, **options):
    return load_dataset("mnist-scenes", DATA, seed=seed, scenes=SCENES, **options)


def _idx_images(name: str) -> np.ndarray:
    raw = (DATA / "MNIST" / "raw" / name).read_bytes()
    assert int.from_bytes(raw[:4], "big") == 2051  # IDX magic of unsigned-byte images
    count = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, 28, 28)


def _idx_labels(name: str) -> np.ndarray:
    raw = (DATA / "MNIST" / "raw" / name).read_bytes()
    assert int.from_bytes(raw[:4], "big") == 2049
    return np.frombuffer(raw, dtype=np.uint8, offset=8)


def _core(top, left, size):
    """The central square of a placed frame that no other digit's may overlap: MNIST's
    20x20 box of 28, the margin rounded to whole pixels."""
    margin = round(size * (1 - 20 / 28) / 2)
    return top + margin, left + margin, size - 2 * margin


def _overlap(a, b):
    (ta, la, sa), (tb, lb, sb) = a, b
    return ta < tb + sb and tb < ta + sa and la < lb + sb and lb < la + sa


def _compose_by_hand(images, labels, count, seed, canvas, low, high, most=3):
    """The test scenes as the module docstring and ``place_digits`` describe them, pixel by
    pixel: the random numbers drawn up front (digits per scene; then per scene and slot a
    digit, a side, a uniform u), each digit put at position floor(u * n) of the n positions
    (row-major) where its central square overlaps no earlier one's, and shrunk by itself."""
    gen = torch.Generator().manual_seed(seed)
    numbers = torch.randint(1, most + 1, (count,), generator=gen)
    picks = torch.randint(len(images), (count, most), generator=gen)
    sides = torch.randint(low, high + 1, (count, most), generator=gen)
    spots = torch.rand((count, most), generator=gen, dtype=torch.float64)
    scenes = np.zeros((count, canvas, canvas), dtype=np.uint8)
    masks = np.zeros((count, canvas, canvas), dtype=np.int64)
    drawn = []
    for i in range(count):
        strokes: dict[tuple[int, int], set[int]] = {}
        cores: list[tuple[int, int, int]] = []
        for j in range(int(numbers[i])):
            k, size = int(picks[i, j]), int(sides[i, j])
            free = [
                (top, left)
                for top in range(canvas - size + 1)
                for left in range(canvas - size + 1)
                if not any(_overlap(_core(top, left, size), c) for c in cores)
            ]
            if not free:
                continue
            top, left = free[int(float(spots[i, j]) * len(free))]
            cores.append(_core(top, left, size))
            drawn.append(k)
            digit = torch.tensor(images[k], dtype=torch.float32)[None, None] / 255.0
            digit = F.interpolate(digit, size=(size, size), mode="bilinear", antialias=True)
            ink = digit[0, 0].clamp(0.0, 1.0).mul(255).round().to(torch.uint8).numpy()
            for y in range(size):
                for x in range(size):
                    pixel = (top + y, left + x)
                    scenes[i][pixel] = max(scenes[i][pixel], ink[y, x])
                    if ink[y, x] >= 128:  # at least half the pixel is ink
                        strokes.setdefault(pixel, set()).add(int(labels[k]) + 1)
        for pixel, classes in strokes.items():
            masks[i][pixel] = classes.pop() if len(classes) == 1 else 255
    return scenes, masks, drawn


@needs_mnist
def test_scenes_are_deterministic_per_seed_and_differ_between_seeds():
    from hem_bench.datamodules import mnist_scenes

    a = _load(0)
    assert _load(0).train.images is a.train.images  # kept in memory: composed once
    mnist_scenes._composed.cache_clear()
    mnist_scenes._cached_mnist.cache_clear()
    b, c = _load(0), _load(1)
    assert b.train.images is not a.train.images
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(a, split).images, getattr(b, split).images)
        assert torch.equal(getattr(a, split).labels, getattr(b, split).labels)
        assert not torch.equal(getattr(a, split).images, getattr(c, split).images)
    assert a.train.images.shape == (40, 1, 32, 32) and a.train.images.dtype == torch.uint8
    assert a.train.labels.shape == (40, 32, 32) and a.train.labels.dtype == torch.long
    assert len(a.class_names) == 11 and a.class_names[0] == "background"


@needs_mnist
@pytest.mark.parametrize("seed,canvas", [(0, 32), (3, 24)])
def test_test_scenes_equal_a_composition_by_hand(seed, canvas):
    from hem_bench.datamodules.mnist_scenes import MAX_SCALE, MIN_SCALE

    data = _load(seed, canvas=canvas)
    images = _idx_images("t10k-images-idx3-ubyte")
    labels = _idx_labels("t10k-labels-idx1-ubyte")
    scenes, masks, drawn = _compose_by_hand(
        images,
        labels,
        SCENES["test"],
        derive_seed(seed, "scenes", 2),
        canvas,
        min(MIN_SCALE, canvas),
        min(MAX_SCALE, canvas),
    )
    assert data.notes["digit_sources"]["test"].tolist() == drawn
    np.testing.assert_array_equal(data.test.images[:, 0].numpy(), scenes)
    np.testing.assert_array_equal(data.test.labels.numpy(), masks)
    assert len(np.unique(masks)) >= 8  # most classes drawn: the rules were exercised


@needs_mnist
def test_labelled_pixels_are_exactly_those_drawn_at_half_ink_or_more():
    data = load_dataset("mnist-scenes", DATA, seed=2, scenes={"train": 300, "val": 1, "test": 1})
    images, masks = data.train.images[:, 0], data.train.labels
    assert torch.equal(masks != 0, images >= 128)
    assert set(masks.unique().tolist()) == set(range(11)) | {255}
    # a crossing of two digits of different classes is rare but present
    assert 0 < (masks == 255).float().mean() < 0.02


@needs_mnist
def test_splits_draw_from_disjoint_digits():
    data = load_dataset("mnist-scenes", DATA, seed=0, scenes={"train": 2000, "val": 300, "test": 1})
    sources = data.notes["digit_sources"]
    train, val = set(sources["train"].tolist()), set(sources["val"].tolist())
    assert train and val and not train & val
    # the validation pool is 10 % of MNIST's training digits, stratified per class
    labels = _idx_labels("train-labels-idx1-ubyte")
    other = load_dataset("mnist-scenes", DATA, seed=5, scenes={"train": 2000, "val": 300})
    assert not set(other.notes["digit_sources"]["train"].tolist()) & set(
        other.notes["digit_sources"]["val"].tolist()
    )
    assert max(train | val) < len(labels)
    # training scenes show the labels of the MNIST training digits they were drawn from
    first = data.notes["placements"]["train"][0]
    scene, _, size, top, left = first.tolist()
    mask = data.train.labels[scene, top : top + size, left : left + size]
    assert int(labels[int(sources["train"][0])]) + 1 in mask.unique().tolist()


@needs_mnist
def test_normalisation_constants_match_the_default_training_scenes():
    from hem_bench.datamodules.mnist_scenes import SCENES_MEAN, SCENES_STD

    x = load_dataset("mnist-scenes", DATA, seed=0).train.float_images()
    assert SCENES_MEAN[0] == pytest.approx(x.mean().item(), abs=2e-3)
    assert SCENES_STD[0] == pytest.approx(x.std().item(), abs=2e-3)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@needs_mnist
def test_a_short_run_works_and_writes_nothing_into_the_data_folder(tmp_path, capsys):
    before = _snapshot(DATA)
    code = main(
        [
            "run",
            "--task",
            "segmentation",
            "--dataset",
            "mnist-scenes",
            "--data-dir",
            str(DATA),
            "--loss",
            "ce",
            "--max-epochs",
            "1",
            "--threads",
            "1",
            "--no-progress",
            "--task-option",
            "scenes=train=48,val=8,test=16",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0, capsys.readouterr().err
    (record_file,) = tmp_path.glob("*/record.json")
    record = json.loads(record_file.read_text())
    assert record["dataset"] == "mnist-scenes" and record["model"] == "small-unet"
    assert 0.0 <= record["headline"]["value"] <= 1.0
    assert record["headline"]["name"] == "miou"
    assert _snapshot(DATA) == before


def test_a_data_folder_without_mnist_is_named_with_what_it_lacks(tmp_path, capsys):
    with pytest.raises(DataNotFoundError, match="MNIST"):
        load_dataset("mnist-scenes", tmp_path)
    code = main(
        [
            "run",
            "--task",
            "segmentation",
            "--dataset",
            "mnist-scenes",
            "--data-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "MNIST" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "MNIST").exists()


@needs_mnist
def test_datasets_command_lists_it_as_present(capsys):
    assert main(["datasets", "--data-dir", str(DATA), "--format", "json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    row = rows["mnist-scenes"]
    assert row["kind"] == "segmentation" and row["classes"] == 11
    assert row["status"] == "present" and row["where"] == "DATA_DIR/MNIST/raw"


def test_crossing_strokes_of_different_classes_are_ignored_and_of_one_class_kept():
    """Digits whose ink fills their whole frame: frames may overlap in their margins, so the
    labels there follow the crossing rule alone (no MNIST needed)."""
    from hem_bench.datamodules.base import ImageSet
    from hem_bench.datamodules.mnist_scenes import compose_ink_scenes

    full = torch.full((3, 1, 28, 28), 255, dtype=torch.uint8)
    digits = ImageSet(full, torch.tensor([3, 5, 3]))
    scenes, placements = compose_ink_scenes(digits, 200, 0, canvas=20, min_scale=12, max_scale=14)
    expected = torch.zeros(200, 20, 20, dtype=torch.long)
    covered: dict[tuple[int, int, int], set[int]] = {}
    for scene, k, size, top, left in placements.tolist():
        for y in range(top, top + size):
            for x in range(left, left + size):
                covered.setdefault((scene, y, x), set()).add(int(digits.labels[k]) + 1)
    for (scene, y, x), classes in covered.items():
        expected[scene, y, x] = classes.pop() if len(classes) == 1 else 255
    assert torch.equal(scenes.labels, expected)
    assert torch.equal(scenes.images[:, 0] == 255, expected != 0)
    assert (expected == 255).any() and (expected == 4).any() and (expected == 6).any()
    # same-class crossings exist too and keep their class
    same = sum(1 for s in range(200) if (placements[placements[:, 0] == s, 1] != 1).sum() >= 2)
    assert same > 0
