"""The classification DataModule and the tensor batching beneath it."""

from __future__ import annotations

import pytest
import torch

import hem_bench.datamodules.loading as loading
from hem_bench.datamodules.base import ImageSet, load_dataset
from hem_bench.datamodules.classification import ClassificationDataModule
from hem_bench.datamodules.loading import BatchAugment, BatchIndexSampler, tensor_loader


def test_sampler_covers_every_index_once_and_reshuffles_per_epoch():
    sampler = BatchIndexSampler(103, 10, shuffle=True, seed=1)
    first = torch.cat(list(sampler))
    assert sorted(first.tolist()) == list(range(103)) and len(sampler) == 11
    again = torch.cat(list(sampler))
    assert torch.equal(first, again)  # same epoch, same order
    sampler.set_epoch(1)
    second = torch.cat(list(sampler))
    assert sorted(second.tolist()) == list(range(103)) and not torch.equal(first, second)
    assert torch.equal(
        torch.cat(list(BatchIndexSampler(103, 10, shuffle=False))), torch.arange(103)
    )
    dropped = BatchIndexSampler(103, 10, shuffle=True, drop_last=True)
    assert len(dropped) == 10 and all(len(b) == 10 for b in dropped)


@pytest.mark.parametrize("world", [2, 3])
def test_distributed_evaluation_sees_each_example_exactly_once(monkeypatch, world):
    seen, train_steps = [], set()
    for rank in range(world):
        monkeypatch.setattr(loading, "_rank_and_world", lambda r=rank: (r, world))
        evaluation = BatchIndexSampler(101, 8, shuffle=False)
        batches = list(evaluation)
        assert len(batches) == len(evaluation)
        seen.extend(torch.cat(batches).tolist())
        training = BatchIndexSampler(101, 8, shuffle=True, seed=0)
        train_steps.add(len(list(training)))
        assert len(training) == len(list(training))
    assert sorted(seen) == list(range(101))  # no padding duplicates, nothing missed
    assert len(train_steps) == 1  # every rank takes the same number of training steps


def test_tensor_loader_batches_float_images():
    data = ImageSet(
        torch.arange(2 * 1 * 2 * 2, dtype=torch.uint8).view(2, 1, 2, 2) * 30, torch.tensor([0, 1])
    )
    ((images, labels),) = list(tensor_loader(data, 4, shuffle=False))
    assert images.dtype == torch.float32 and labels.tolist() == [0, 1]
    torch.testing.assert_close(images, data.images.float() / 255)


def test_batch_augment_crops_are_shifted_copies_and_deterministic():
    images = torch.rand(16, 1, 8, 8)
    augment = BatchAugment(crop_padding=1, flip=False, seed=0)
    out = augment(images, epoch=0, step=0)
    padded = torch.nn.functional.pad(images, (1, 1, 1, 1))
    for i in range(16):
        windows = [padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(3) for dx in range(3)]
        assert any(torch.equal(out[i], w) for w in windows)
    assert torch.equal(out, augment(images, epoch=0, step=0))
    assert not torch.equal(out, augment(images, epoch=0, step=1))
    flipped = BatchAugment(crop_padding=0, flip=True, seed=0)(images, 0, 0)
    is_flip = [torch.equal(flipped[i], images[i].flip(-1)) for i in range(16)]
    is_same = [torch.equal(flipped[i], images[i]) for i in range(16)]
    assert all(a or b for a, b in zip(is_flip, is_same)) and 0 < sum(is_flip) < 16
    assert torch.equal(BatchAugment()(images, 0, 0), images)


def test_digits_datamodule_attributes():
    dm = ClassificationDataModule("digits", seed=0)
    dm.setup("fit")
    assert dm.num_classes == 10 and dm.input_shape == (1, 8, 8)
    assert sum(dm.class_counts) == len(dm.train_set)
    assert dm.class_names == [str(d) for d in range(10)]
    assert dm.mean == (0.3053,) and dm.std == (0.3760,)
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (128, 1, 8, 8) and labels.shape == (128,)
    assert sum(len(b[1]) for b in dm.test_dataloader()) == len(dm.test_set)


def test_known_classes_are_relabelled_and_the_rest_kept_as_unknown():
    known = [1, 3, 4, 6, 8, 9]
    dm = ClassificationDataModule("digits", seed=0, classes=known)
    dm.setup()
    raw = load_dataset("digits", seed=0)
    assert dm.num_classes == 6 and dm.class_names == [str(c) for c in known]
    assert set(dm.train_set.labels.unique().tolist()) == set(range(6))
    assert set(dm.unknown_test.labels.unique().tolist()) == {0, 2, 5, 7}
    assert len(dm.test_set) + len(dm.unknown_test) == len(raw.test)
    # an image of known class 4 carries the new label 2
    first = torch.nonzero(raw.test.labels == 4)[0, 0]
    match = torch.nonzero((dm.test_set.images == raw.test.images[first]).flatten(1).all(1))
    assert dm.test_set.labels[match[0, 0]].item() == 2
    assert dm.unknown_class_names == ["0", "2", "5", "7"]


def test_long_tailed_training_set_with_balanced_evaluation_sets():
    dm = ClassificationDataModule("digits", seed=0, long_tail={"ratio": 10, "kind": "exp"})
    dm.setup()
    counts = dm.class_counts
    assert counts == sorted(counts, reverse=True) and counts[0] / counts[-1] == pytest.approx(
        10, rel=0.1
    )
    # validation and test sets are those of the balanced data, untouched
    balanced = ClassificationDataModule("digits", seed=0)
    balanced.setup()
    assert torch.equal(dm.test_set.labels, balanced.test_set.labels)
    assert torch.equal(dm.val_set.labels, balanced.val_set.labels)
    assert sum(counts) < len(balanced.train_set)


def test_validation_is_carved_from_training_when_the_dataset_has_none(monkeypatch):
    digits = load_dataset("digits", seed=0)
    digits.val = None
    import hem_bench.datamodules.datamodule as module  # where the base loads the data

    monkeypatch.setattr(module, "load_dataset", lambda *a, **k: digits)
    dm = ClassificationDataModule("digits", seed=0, val_fraction=0.2)
    dm.setup()
    assert len(dm.val_set) == pytest.approx(0.2 * len(digits.train), abs=10)
    assert len(dm.train_set) + len(dm.val_set) == len(digits.train)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "digit-scenes"}, "is a segmentation data set"),
        ({"dataset": "digitz"}, "unknown dataset 'digitz'"),
        ({"classes": [0, 10]}, r"classes must be at least 2 distinct indices in \[0, 9\]"),
        ({"classes": [3]}, "classes must be at least 2"),
        ({"val_fraction": 1.5}, r"validation fraction must lie in \(0, 1\)"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises((ValueError, KeyError), match=message):
        ClassificationDataModule(**kwargs)


def test_impossible_long_tail_ratio_is_reported_at_setup():
    dm = ClassificationDataModule("digits", long_tail={"ratio": 10_000})
    with pytest.raises(ValueError, match="ratio 10000 is impossible"):
        dm.setup()
