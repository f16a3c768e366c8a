"""Class separation R² (Kornblith et al. 2021) against the direct O(n²) pairwise formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hem_bench.analysis import class_separation


def pairwise_r2(features: np.ndarray, labels: np.ndarray, include_self_pairs: bool) -> float:
    """The definition, term by term: cosine distances between all pairs, class-balanced
    means of the within-class and of all class-pair blocks."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    unit = features / norms
    distance = 1.0 - unit @ unit.T
    classes = np.unique(labels)
    K = len(classes)

    def block_mean(j, k):
        rows, cols = np.flatnonzero(labels == j), np.flatnonzero(labels == k)
        block = distance[np.ix_(rows, cols)]
        if j == k and not include_self_pairs:
            mask = ~np.eye(len(rows), dtype=bool)
            return block[mask].mean()
        return block.mean()

    within = sum(block_mean(k, k) for k in classes) / K
    total = sum(block_mean(j, k) for j in classes for k in classes) / K**2
    return 1.0 - within / total


def clusters(sizes, dim, spread, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))
    features = np.concatenate(
        [c + spread * rng.normal(size=(n, dim)) for c, n in zip(centres, sizes)]
    )
    labels = np.concatenate([np.full(n, k) for k, n in enumerate(sizes)])
    return features, labels


@pytest.mark.parametrize("include_self_pairs", [True, False])
@pytest.mark.parametrize("spread", [0.3, 1.0, 3.0])
def test_closed_form_matches_the_pairwise_definition(spread, include_self_pairs):
    # unequal class sizes: the averages must weight classes, not examples
    features, labels = clusters([5, 17, 40, 9], dim=12, spread=spread, seed=int(spread * 10))
    # per-example scales must not matter (features are L2-normalised)
    features = features * np.random.default_rng(1).uniform(0.1, 10.0, size=(len(features), 1))
    expected = pairwise_r2(features, labels, include_self_pairs)
    got = class_separation(features, labels, include_self_pairs=include_self_pairs)
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_self_pairs_change_the_value_as_documented():
    features, labels = clusters([4, 4, 4], dim=6, spread=1.0)
    with_self = class_separation(features, labels)
    without = class_separation(features, labels, include_self_pairs=False)
    # (m, m) pairs have distance 0: counting them lowers d_within, so raises R²
    assert with_self > without


def test_well_separated_clusters_are_near_one():
    features, labels = clusters([200] * 5, dim=32, spread=0.01)
    assert class_separation(features, labels) > 0.98


def test_one_shared_gaussian_for_all_classes_is_near_zero():
    rng = np.random.default_rng(2)
    features = rng.normal(loc=0.5, size=(4000, 16))  # the same distribution for every class
    labels = rng.integers(0, 5, size=4000)
    assert abs(class_separation(features, labels)) < 0.01


def test_torch_inputs_and_errors():
    features, labels = clusters([10, 10], dim=4, spread=0.5)
    expected = class_separation(features, labels)
    assert class_separation(torch.tensor(features), torch.tensor(labels)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="at least 2 classes"):
        class_separation(features, np.zeros(len(features)))
    with pytest.raises(ValueError, match="labels"):
        class_separation(features, labels[:-1])
    single = np.array([0, 1, 1])
    with pytest.raises(ValueError, match="2 examples"):
        class_separation(features[:3], single, include_self_pairs=False)
