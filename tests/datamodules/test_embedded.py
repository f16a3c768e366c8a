"""The embedded data sets (digits, digit scenes), the registry and ``hem-bench datasets``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from hem_bench.cli import main
from hem_bench.datamodules.base import available_datasets, dataset_info, load_dataset
from hem_bench.datamodules.digits import DIGITS_MEAN, DIGITS_STD, SCENES_MEAN, SCENES_STD


def test_digits_split_is_stratified_disjoint_and_complete():
    data = load_dataset("digits", seed=0)
    indices = data.notes["indices"]
    train, val, test = (set(indices[k].tolist()) for k in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(train | val | test) == 1797
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    for part, fraction in ((data.val, 0.1), (data.test, 0.3)):
        counts = torch.bincount(part.labels, minlength=10)
        full = np.bincount(load_digits().target)
        np.testing.assert_allclose(counts.numpy(), np.round(full * fraction), atol=1)


def test_digits_images_are_the_scikit_learn_digits():
    data = load_dataset("digits", seed=3)
    digits = load_digits()
    idx = data.notes["indices"]["test"]
    np.testing.assert_allclose(data.test.images[:, 0].numpy(), digits.images[idx.numpy()] / 16.0)
    assert data.test.labels.tolist() == digits.target[idx.numpy()].tolist()
    assert data.train.images.dtype == torch.float32
    assert data.train.images.min() >= 0.0 and data.train.images.max() <= 1.0


def test_digits_split_is_deterministic_per_seed():
    a, b, c = (load_dataset("digits", seed=s) for s in (1, 1, 2))
    assert torch.equal(a.notes["indices"]["test"], b.notes["indices"]["test"])
    assert not torch.equal(a.notes["indices"]["test"], c.notes["indices"]["test"])


def test_digits_normalisation_constants_match_the_data():
    x = load_digits().images / 16.0
    assert DIGITS_MEAN[0] == pytest.approx(x.mean(), abs=1e-3)
    assert DIGITS_STD[0] == pytest.approx(x.std(), abs=1e-3)


SCENES = {"train": 60, "val": 10, "test": 30}


def test_scenes_shapes_labels_and_determinism():
    a = load_dataset("digit-scenes", seed=0, scenes=SCENES)
    b = load_dataset("digit-scenes", seed=0, scenes=SCENES)
    c = load_dataset("digit-scenes", seed=1, scenes=SCENES)
    assert a.train.images.shape == (60, 1, 32, 32) and a.train.images.dtype == torch.uint8
    assert a.train.labels.shape == (60, 32, 32)
    assert set(a.train.labels.unique().tolist()) <= set(range(11))
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.labels, b.test.labels)
    assert not torch.equal(a.train.images, c.train.images)
    assert len(a.class_names) == 11 and a.class_names[0] == "background"


def test_scene_masks_agree_with_the_ink():
    data = load_dataset("digit-scenes", seed=0, scenes=SCENES)
    images, masks = data.train.float_images(), data.train.labels
    # labelled pixels carry ink, background pixels none
    assert torch.all(images[:, 0][masks > 0] > 0.29)
    assert torch.all(images[:, 0][masks == 0] == 0)
    # every scene holds between one and four digits' worth of labelled classes
    for mask in masks:
        assert 1 <= len(mask.unique()) - 1 <= 4


def test_no_test_digit_in_a_training_scene():
    data = load_dataset("digit-scenes", seed=0, scenes=SCENES)
    digits = load_dataset("digits", seed=0)
    sources = data.notes["digit_sources"]
    train_ids = set(sources["train"].tolist())
    assert train_ids <= set(digits.notes["indices"]["train"].tolist())
    assert not train_ids & set(digits.notes["indices"]["test"].tolist())
    assert not train_ids & set(digits.notes["indices"]["val"].tolist())
    assert set(sources["test"].tolist()) <= set(digits.notes["indices"]["test"].tolist())


def test_scenes_normalisation_constants_match_the_default_scenes():
    x = load_dataset("digit-scenes", seed=0).train.float_images()
    assert SCENES_MEAN[0] == pytest.approx(x.mean().item(), abs=2e-3)
    assert SCENES_STD[0] == pytest.approx(x.std().item(), abs=2e-3)


def test_registry_metadata():
    names = available_datasets()
    assert {"digits", "digit-scenes"} <= set(names)
    for name in names:
        info = dataset_info(name)
        assert info.kind in ("classification", "segmentation")
        # 0: the data decide (an image-folder tree)
        assert (info.num_classes >= 2 or name == "image-folder") and len(info.input_shape) == 3
        assert len(info.mean) == len(info.std) == info.input_shape[0]
        assert info.license and info.homepage.startswith("http") and info.paper
    assert dataset_info("digits").embedded and dataset_info("digits").input_shape == (1, 8, 8)


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(KeyError, match="unknown dataset 'digit'.*Did you mean 'digits'"):
        dataset_info("digit")


def test_datasets_command(capsys):
    assert main(["datasets", "--format", "json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["digits"]["shipped"] == "yes" and rows["digits"]["classes"] == 10
    assert (
        rows["digit-scenes"]["kind"] == "segmentation"
        and rows["digit-scenes"]["input"] == "1x32x32"
    )
    assert set(rows) == set(available_datasets())


def _compose_one_digit_at_a_time(digits, count, seed, canvas=32, low=10, high=16, most=3):
    """Scenes as the docstring of compose_scenes describes them, resizing each digit as it
    is drawn (the same random draws, in the same order)."""
    import torch.nn.functional as F

    from hem_bench.datamodules.digits import FOREGROUND

    gen = torch.Generator().manual_seed(seed)
    images = torch.zeros(count, 1, canvas, canvas)
    masks = torch.zeros(count, canvas, canvas, dtype=torch.long)
    sources = digits.float_images()
    for i in range(count):
        for _ in range(int(torch.randint(1, most + 1, (1,), generator=gen))):
            k = int(torch.randint(len(digits), (1,), generator=gen))
            size = int(torch.randint(low, high + 1, (1,), generator=gen))
            top = int(torch.randint(0, canvas - size + 1, (1,), generator=gen))
            left = int(torch.randint(0, canvas - size + 1, (1,), generator=gen))
            digit = F.interpolate(sources[k : k + 1], size=(size, size), mode="bilinear")
            digit = digit[0, 0].clamp(0.0, 1.0)
            for y in range(size):
                for x in range(size):
                    if digit[y, x] > FOREGROUND:
                        images[i, 0, top + y, left + x] = digit[y, x]
                        masks[i, top + y, left + x] = int(digits.labels[k]) + 1
    return (images * 255).round().to(torch.uint8), masks


@pytest.mark.parametrize("seed,canvas", [(0, 32), (7, 24)])
def test_scenes_equal_digits_resized_one_at_a_time(seed, canvas):
    from hem_bench.datamodules.digits import compose_scenes, load_digits_data

    digits = load_digits_data(None, False, seed=seed).train
    scenes = compose_scenes(digits, 40, seed, canvas=canvas, min_scale=10, max_scale=16)
    images, masks = _compose_one_digit_at_a_time(digits, 40, seed, canvas=canvas)
    assert torch.equal(scenes.images, images)
    assert torch.equal(scenes.labels, masks)
