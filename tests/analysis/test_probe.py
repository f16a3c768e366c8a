"""The linear probe: near 1 on linearly separable data, chance on noise."""

from __future__ import annotations

import numpy as np
import pytest

from hem_bench.analysis import linear_probe
from hem_bench.analysis.probe import C_GRID


def blobs(n_per_class, centres, seed):
    rng = np.random.default_rng(seed)
    X = np.concatenate([c + rng.normal(size=(n_per_class, len(c))) for c in centres])
    y = np.repeat(np.arange(len(centres)), n_per_class)
    return X, y


def centres(classes, dim, separation, seed=0):
    return separation * np.random.default_rng(seed).normal(size=(classes, dim))


def test_linearly_separable_data_is_read_off_almost_perfectly():
    means = centres(3, 10, separation=6.0)
    X_train, y_train = blobs(100, means, seed=1)
    X_test, y_test = blobs(100, means, seed=2)
    result = linear_probe(X_train, y_train, X_test, y_test)
    assert result.accuracy >= 0.98
    assert result.C in C_GRID and result.C_selection == "cv"
    assert result.converged and result.n_classes == 3 and result.chance == pytest.approx(1 / 3)
    assert result.n_train == result.n_test == 300
    assert set(result.as_dict()) >= {"accuracy", "C", "max_iter", "standardized", "solver"}


def test_pure_noise_is_at_chance():
    rng = np.random.default_rng(2)
    X_train, y_train = rng.normal(size=(800, 20)), rng.integers(0, 4, size=800)
    X_test, y_test = rng.normal(size=(3000, 20)), rng.integers(0, 4, size=3000)
    result = linear_probe(X_train, y_train, X_test, y_test)
    assert abs(result.accuracy - 0.25) < 0.05


def test_fixed_regularisation_and_bad_arguments():
    X, y = blobs(30, centres(2, 5, separation=3.0), seed=3)
    result = linear_probe(X, y, X, y, C=0.5, standardize=False)
    assert result.C == 0.5 and result.C_selection == "fixed" and not result.standardized
    with pytest.raises(ValueError, match="'cv'"):
        linear_probe(X, y, X, y, C="best")
    with pytest.raises(ValueError, match="positive"):
        linear_probe(X, y, X, y, C=0.0)
    with pytest.raises(ValueError, match="2 training classes"):
        linear_probe(X, np.zeros_like(y), X, y)
    with pytest.raises(ValueError, match="width"):
        linear_probe(X, y, X[:, :3], y)
