"""The seed helper: every purpose gives the seed its formula gave before the helper existed
(so the same configuration and seed give the same numbers), and the code that draws random
numbers uses it."""

from __future__ import annotations

import itertools

import pytest
import torch

from hem_bench.seeding import PURPOSES, derive_seed, generator

#: the formulas written out where each seed was made before the helper (seed, *indices)
FORMULAS = {
    "split": lambda s: s,
    "scenes": lambda s, i: s * 3 + i,
    "experiences": lambda s: s,
    "shuffle": lambda s, epoch: s * 100_003 + epoch,
    "augment": lambda s, epoch, step: (s * 1_000_003 + epoch) * 1_000_003 + step,
    "epoch": lambda s, epoch: s * 1_000_003 + epoch,
    "corruption": lambda s, severity, first: (s * 1_000_003 + severity) * 1_000_003 + first,
    "corruption-subset": lambda s: 0,
    "noise": lambda s, kind: s + kind,
    "ood-set": lambda s: s,
    "attack": lambda s, batch, attack: (s * 1_000_003 + batch) * 101 + attack,
    "attack-subset": lambda s: 1,
    "adversarial-training": lambda s, step: s * 1_000_003 + step,
    "replay-buffer": lambda s: s,
    "replay-sample": lambda s, step: s * 1_000_003 + step,
    "replay-order": lambda s, t: s * 7 + t,
}


def test_every_purpose_has_its_old_formula():
    assert set(FORMULAS) == set(PURPOSES)


@pytest.mark.parametrize("purpose", sorted(FORMULAS))
def test_each_purpose_reproduces_the_old_seed(purpose):
    formula = FORMULAS[purpose]
    arity = len(PURPOSES[purpose].multipliers)
    indices = [0, 1, 2, 5, 99, 12_345]
    for seed in (0, 1, 3, 42, 2**31 - 1):
        for parts in itertools.product(indices, repeat=arity):
            assert derive_seed(seed, purpose, *parts) == formula(seed, *parts), (seed, parts)


def test_seeds_of_one_purpose_differ_across_indices_and_seeds():
    seen = {derive_seed(s, "augment", e, t) for s in range(3) for e in range(4) for t in range(50)}
    assert len(seen) == 3 * 4 * 50


def test_generator_draws_what_a_generator_seeded_by_hand_draws():
    ours = torch.rand(5, generator=generator(3, "augment", 2, 17))
    by_hand = torch.rand(
        5, generator=torch.Generator().manual_seed((3 * 1_000_003 + 2) * 1_000_003 + 17)
    )
    assert torch.equal(ours, by_hand)


def test_bad_purposes_and_indices_are_errors():
    with pytest.raises(ValueError, match="unknown seed purpose 'splits'; known: split, "):
        derive_seed(0, "splits")
    with pytest.raises(ValueError, match=r"'augment' takes 2 index\(es\) \(epoch, step\); got 1"):
        derive_seed(0, "augment", 1)
    with pytest.raises(ValueError, match=r"'split' takes 0 index\(es\) \(no index\); got 1"):
        derive_seed(0, "split", 4)


# --- the code that draws random numbers uses the helper's seeds -------------------------


def test_batch_order_and_augmentation_use_the_old_seeds():
    from hem_bench.datamodules.loading import BatchAugment, BatchIndexSampler
    from hem_bench.datamodules.segmentation import SegmentationAugment

    sampler = BatchIndexSampler(50, 50, shuffle=True, seed=4)
    sampler.set_epoch(3)
    expected = torch.randperm(50, generator=torch.Generator().manual_seed(4 * 100_003 + 3))
    assert torch.equal(next(iter(sampler)), expected)

    images = torch.rand(6, 1, 5, 5)
    flipped = BatchAugment(0, flip=True, seed=4)(images, epoch=2, step=9)
    gen = torch.Generator().manual_seed((4 * 1_000_003 + 2) * 1_000_003 + 9)
    flips = torch.rand(6, generator=gen) < 0.5
    assert torch.equal(flipped, torch.where(flips[:, None, None, None], images.flip(-1), images))
    masks = torch.randint(0, 3, (6, 5, 5))
    _, seg_masks = SegmentationAugment(0, flip=True, seed=4)(images, masks, epoch=2, step=9)
    assert torch.equal(seg_masks, torch.where(flips[:, None, None], masks.flip(-1), masks))


def test_corrupted_batches_use_the_old_seed():
    from hem_bench.datamodules.base import ImageSet
    from hem_bench.datamodules.corrupted import CorruptedBatches
    from hem_bench.datamodules.corruptions import corrupt

    data = ImageSet(torch.rand(8, 1, 8, 8), torch.arange(8))
    batches = CorruptedBatches(data, "gaussian_noise", 3, seed=5)
    images, labels = batches.batch(torch.arange(4, 8))
    expected = corrupt(
        data.images[4:8], "gaussian_noise", 3, seed=(5 * 1_000_003 + 3) * 1_000_003 + 4
    )
    assert torch.equal(images, expected) and labels.tolist() == [4, 5, 6, 7]


def test_replay_buffer_uses_the_run_seed():
    from hem_bench.datamodules.continual import ReservoirBuffer

    buffer = ReservoirBuffer(3, seed=6)
    assert torch.equal(buffer.generator.get_state(), torch.Generator().manual_seed(6).get_state())
