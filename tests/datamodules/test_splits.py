"""Split invariants: disjoint classes, imbalance ratio, balanced evaluation sets,
determinism per seed; and the bad-input messages."""

from __future__ import annotations

import math

import pytest
import torch

from hem_bench.datamodules.splits import (
    class_incremental_experiences,
    convert_images,
    default_num_known,
    long_tail_counts,
    long_tail_indices,
    noise_images,
    open_set_split,
)


@pytest.mark.parametrize("seed", range(5))
def test_open_set_partition(seed):
    known, unknown = open_set_split(10, 6, seed)
    assert len(known) == 6 and len(unknown) == 4
    assert not set(known) & set(unknown) and set(known) | set(unknown) == set(range(10))
    assert known == sorted(known) and unknown == sorted(unknown)
    assert open_set_split(10, 6, seed) == (known, unknown)


def test_open_set_splits_differ_across_seeds():
    assert len({tuple(open_set_split(10, 6, s)[0]) for s in range(5)}) > 1


def test_default_known_classes():
    assert default_num_known(10) == 6 and default_num_known(100) == 60 and default_num_known(2) == 1


@pytest.mark.parametrize("known", [0, 10, 11, -1, 2.5])
def test_impossible_open_set_partition(known):
    with pytest.raises(ValueError, match=r"1 <= known classes < 10"):
        open_set_split(10, known, 0)


@pytest.mark.parametrize("ratio", [1, 10, 100])
def test_exponential_long_tail_counts(ratio):
    counts = long_tail_counts(500, 10, ratio)
    assert counts[0] == 500
    assert counts == sorted(counts, reverse=True)
    assert counts[0] / counts[-1] == pytest.approx(ratio, rel=0.01)
    for i, n in enumerate(counts):
        assert n == math.floor(500 * ratio ** (-i / 9) + 1e-9)


def test_step_long_tail_counts():
    assert long_tail_counts(500, 10, 10, "step") == [500] * 5 + [50] * 5
    assert long_tail_counts(100, 5, 4, "step") == [100, 100, 100, 25, 25]


@pytest.mark.parametrize(
    ("ratio", "kind", "message"),
    [
        (0.5, "exp", "ratio must be a finite number >= 1"),
        (float("inf"), "exp", "ratio must be a finite number >= 1"),
        (1000, "exp", "ratio 1000 is impossible with 100 examples"),
        (10, "linear", "kind must be one of exp, step"),
    ],
)
def test_impossible_long_tail(ratio, kind, message):
    with pytest.raises(ValueError, match=message):
        long_tail_counts(100, 10, ratio, kind)


def test_long_tail_indices_realise_the_ratio_deterministically():
    labels = torch.arange(10).repeat_interleave(120)[
        torch.randperm(1200, generator=torch.Generator().manual_seed(0))
    ]
    idx = long_tail_indices(labels, 10, 10.0, "exp", seed=3)
    counts = torch.bincount(labels[idx], minlength=10)
    assert counts.tolist() == long_tail_counts(120, 10, 10.0)
    assert counts.max() / counts.min() == pytest.approx(10.0, rel=0.05)
    assert len(idx.unique()) == len(idx)
    assert torch.equal(idx, long_tail_indices(labels, 10, 10.0, "exp", seed=3))
    assert not torch.equal(idx, long_tail_indices(labels, 10, 10.0, "exp", seed=4))


def test_class_incremental_experiences():
    assert class_incremental_experiences(10, 5) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    shuffled = class_incremental_experiences(100, 10, seed=1, shuffle=True)
    flat = [c for e in shuffled for c in e]
    assert sorted(flat) == list(range(100)) and all(len(e) == 10 for e in shuffled)
    assert shuffled == class_incremental_experiences(100, 10, seed=1, shuffle=True)
    assert shuffled != class_incremental_experiences(100, 10, seed=2, shuffle=True)
    with pytest.raises(ValueError, match="10 classes do not divide into 3 experiences"):
        class_incremental_experiences(10, 3)
    with pytest.raises(ValueError, match="positive integer"):
        class_incremental_experiences(10, 0)


def test_noise_images():
    g = noise_images("gaussian", 500, (1, 8, 8), seed=0)
    u = noise_images("uniform", 500, (3, 4, 4), seed=0)
    assert g.shape == (500, 1, 8, 8) and u.shape == (500, 3, 4, 4)
    assert g.min() >= 0 and g.max() <= 1 and u.min() >= 0 and u.max() <= 1
    # N(0.5, 1) clipped: about 31 % of pixels clip at each end
    assert (g == 0).float().mean().item() == pytest.approx(0.3085, abs=0.02)
    assert u.mean().item() == pytest.approx(0.5, abs=0.01)
    assert torch.equal(g, noise_images("gaussian", 500, (1, 8, 8), seed=0))
    with pytest.raises(ValueError, match="noise kind"):
        noise_images("pink", 1, (1, 2, 2))


def test_convert_images():
    rgb = torch.rand(4, 3, 32, 32)
    grey = convert_images(rgb, (1, 8, 8))
    assert grey.shape == (4, 1, 8, 8)
    luma = (rgb * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    torch.testing.assert_close(grey, torch.nn.functional.avg_pool2d(luma, 4))
    back = convert_images(grey, (3, 16, 16))
    assert back.shape == (4, 3, 16, 16) and torch.equal(back[:, 0], back[:, 2])
