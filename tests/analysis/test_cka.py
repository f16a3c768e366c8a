"""Linear CKA against independent formulas: the centred-Gram HSIC of Kornblith et al.
(2019) for the biased estimator, Song et al.'s (2012) formula for the unbiased one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hem_bench.analysis import (
    MinibatchCKA,
    cka_matrix,
    hsic_biased,
    hsic_unbiased,
    linear_cka,
    normalized_gram,
)


# -- independent reference implementations (dense n x n matrices, no shortcuts) ------------
def gram_hsic(X: np.ndarray, Y: np.ndarray) -> float:
    """tr(K H L H) / (n - 1)² with K = X Xᵀ, L = Y Yᵀ, H = I - 11ᵀ/n."""
    n = X.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = X @ X.T, Y @ Y.T
    return float(np.trace(K @ H @ L @ H)) / (n - 1) ** 2


def gram_cka(X: np.ndarray, Y: np.ndarray) -> float:
    return gram_hsic(X, Y) / np.sqrt(gram_hsic(X, X) * gram_hsic(Y, Y))


def song_hsic(X: np.ndarray, Y: np.ndarray) -> float:
    """Song et al. (2012), eq. (5): the unbiased HSIC, written out with K̃, L̃."""
    n = X.shape[0]
    K, L = X @ X.T, Y @ Y.T
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    one = np.ones(n)
    value = (
        np.trace(K @ L)
        + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ K @ L @ one)
    )
    return float(value) / (n * (n - 3))


def song_cka(X: np.ndarray, Y: np.ndarray) -> float:
    return song_hsic(X, Y) / np.sqrt(song_hsic(X, X) * song_hsic(Y, Y))


def related(n: int, p1: int, p2: int, seed: int = 0, noise: float = 1.0):
    """Two representations that share structure: Y is a noisy linear map of X."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p1)) + rng.normal(size=p1)  # not centred
    Y = X @ rng.normal(size=(p1, p2)) + noise * rng.normal(size=(n, p2)) + 3.0
    return X, Y


def orthogonal(p: int, seed: int = 1) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(p, p)))
    return q * np.sign(np.diag(r))


# (n, p1, p2): more examples than features (feature-space path) and fewer (Gram path)
SHAPES = [(60, 8, 5), (12, 40, 30)]


# -- CKA(X, X) = 1 --------------------------------------------------------------------------
@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_cka_of_a_representation_with_itself_is_one(shape, unbiased):
    X, _ = related(*shape)
    assert linear_cka(X, X, unbiased=unbiased) == pytest.approx(1.0, abs=1e-10)


def test_torch_and_numpy_inputs_agree_and_float64_is_used():
    X, Y = related(50, 6, 4)
    expected = linear_cka(X, Y)
    tensor_result = linear_cka(torch.tensor(X, dtype=torch.float64), torch.tensor(Y))
    assert tensor_result == pytest.approx(expected, rel=1e-12)
    # float32 input: computed in float64, so the only error is the input rounding
    assert linear_cka(X.astype(np.float32), Y.astype(np.float32)) == pytest.approx(
        expected, rel=1e-5
    )


def test_feature_maps_are_flattened():
    rng = np.random.default_rng(3)
    maps = rng.normal(size=(20, 3, 4, 4))
    assert linear_cka(maps, maps.reshape(20, -1) * 2.0) == pytest.approx(1.0)


# -- invariances --------------------------------------------------------------------------------
@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_invariant_to_orthogonal_transforms_and_isotropic_scaling(shape, unbiased):
    X, Y = related(*shape, noise=2.0)
    base = linear_cka(X, Y, unbiased=unbiased)
    Qx, Qy = orthogonal(X.shape[1], 1), orthogonal(Y.shape[1], 2)
    assert linear_cka(X @ Qx, Y @ Qy, unbiased=unbiased) == pytest.approx(base, rel=1e-9)
    assert linear_cka(7.5 * X, 0.01 * Y, unbiased=unbiased) == pytest.approx(base, rel=1e-9)
    # and to adding a constant to every example (centring)
    assert linear_cka(X + 5.0, Y - 2.0, unbiased=unbiased) == pytest.approx(base, rel=1e-9)


def test_not_invariant_to_arbitrary_invertible_linear_maps():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 6))
    A = np.diag([20.0, 1.0, 1.0, 1.0, 1.0, 1.0])  # invertible, stretches one direction
    assert abs(np.linalg.det(A)) > 0
    # X and XA span the same space (any invertible-map-invariant index, such as CCA, is 1)
    assert linear_cka(X, X) == pytest.approx(1.0)
    assert linear_cka(X, X @ A) < 0.5


# -- agreement with the centred-Gram formulation (biased) ------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_biased_cka_matches_centred_gram_matrices(shape):
    X, Y = related(*shape)
    assert hsic_biased(X, Y) == pytest.approx(gram_hsic(X, Y), rel=1e-10)
    assert linear_cka(X, Y) == pytest.approx(gram_cka(X, Y), rel=1e-10)
    # the feature-space formula of the reference sheet, with explicit centring
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    sheet = np.linalg.norm(Yc.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
    assert linear_cka(X, Y) == pytest.approx(sheet, rel=1e-10)
    assert 0.0 <= linear_cka(X, Y) <= 1.0


# -- the unbiased estimator ----------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_unbiased_hsic_matches_the_formula_of_song_et_al(shape):
    X, Y = related(*shape)
    assert hsic_unbiased(X, Y) == pytest.approx(song_hsic(X, Y), rel=1e-9)
    assert linear_cka(X, Y, unbiased=True) == pytest.approx(song_cka(X, Y), rel=1e-9)


@pytest.mark.parametrize("unbiased", [False, True])
def test_normalized_gram_inner_product_is_cka(unbiased):
    X, Y = related(15, 9, 25)
    K, L = normalized_gram(X, unbiased), normalized_gram(Y, unbiased)
    assert float(np.vdot(K, L)) == pytest.approx(linear_cka(X, Y, unbiased=unbiased), rel=1e-9)


def test_unbiased_estimator_removes_the_high_dimension_bias():
    """Independent representations with many more features than examples: the biased
    CKA is large (a known artefact), the unbiased one near 0."""
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(40, 2000)), rng.normal(size=(40, 2000))
    assert linear_cka(X, Y) > 0.8
    assert abs(linear_cka(X, Y, unbiased=True)) < 0.1


def test_minibatch_cka_approaches_full_batch_unbiased_cka():
    X, Y = related(3000, 12, 8, seed=6, noise=4.0)
    full = linear_cka(X, Y, unbiased=True)
    metric = MinibatchCKA()
    for start in range(0, len(X), 200):
        metric.update(X[start : start + 200], Y[start : start + 200])
    assert metric.batches == 15
    assert metric.compute() == pytest.approx(full, abs=0.01)
    # the average of per-batch unbiased HSICs is the definition
    xy = np.mean([song_hsic(X[s : s + 200], Y[s : s + 200]) for s in range(0, 3000, 200)])
    xx = np.mean([song_hsic(X[s : s + 200], X[s : s + 200]) for s in range(0, 3000, 200)])
    yy = np.mean([song_hsic(Y[s : s + 200], Y[s : s + 200]) for s in range(0, 3000, 200)])
    assert metric.compute() == pytest.approx(xy / np.sqrt(xx * yy), rel=1e-9)
    metric.reset()
    with pytest.raises(RuntimeError):
        metric.compute()


def test_cka_matrix_within_and_between_networks():
    X, Y = related(30, 5, 7)
    Z = np.random.default_rng(7).normal(size=(30, 4))
    rows, columns, within = cka_matrix({"x": X, "y": Y, "z": Z})
    assert rows == columns == ["x", "y", "z"]
    np.testing.assert_allclose(np.diag(within), 1.0, atol=1e-12)
    np.testing.assert_allclose(within, within.T, atol=1e-12)
    assert within[0, 1] == pytest.approx(linear_cka(X, Y), rel=1e-10)
    _, _, between = cka_matrix({"x": X}, {"y": Y, "z": Z}, unbiased=True)
    assert between.shape == (1, 2)
    assert between[0, 1] == pytest.approx(linear_cka(X, Z, unbiased=True), rel=1e-9)


def test_bad_shapes_are_refused():
    X, Y = related(10, 3, 3)
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(X, Y[:9])
    with pytest.raises(ValueError, match="at least 4"):
        linear_cka(X[:3], Y[:3], unbiased=True)
    with pytest.raises(ValueError, match="examples, features"):
        linear_cka(X[:, 0], Y[:, 0])
