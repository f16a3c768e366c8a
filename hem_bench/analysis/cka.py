r"""Linear centred kernel alignment (CKA): how similar two representations of the same
examples are.

Linear CKA (Kornblith, Norouzi, Lee & Hinton 2019, "Similarity of neural network
representations revisited", ICML) compares ``X`` (n x p1) and ``Y`` (n x p2), the
activations of two layers on the same n examples. With column-centred ``X`` and ``Y``:

.. math::

    \mathrm{CKA}(X, Y) = \frac{\lVert Y^\top X\rVert_F^2}
                              {\lVert X^\top X\rVert_F\,\lVert Y^\top Y\rVert_F}
                       = \frac{\mathrm{HSIC}(K, L)}{\sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}},

with the linear kernels ``K = X Xᵀ``, ``L = Y Yᵀ`` and the biased estimator
``HSIC(K, L) = tr(K H L H) / (n - 1)²``, ``H = I - 11ᵀ/n`` (Gretton et al. 2005). It lies
in [0, 1], equals 1 for ``CKA(X, X)``, and is invariant to orthogonal transforms and
isotropic scaling of either argument, but not to arbitrary invertible linear maps.

The *unbiased* variant replaces the biased HSIC by the unbiased estimator of Song et al.
(2012, "Feature selection via dependence maximization", JMLR), with ``K̃``, ``L̃`` the
kernels with zeroed diagonals:

.. math::

    \mathrm{HSIC}_1(K, L) = \frac{1}{n(n-3)}\Big[\mathrm{tr}(\tilde K \tilde L)
        + \frac{\mathbf 1^\top \tilde K \mathbf 1\,\mathbf 1^\top \tilde L \mathbf 1}{(n-1)(n-2)}
        - \frac{2}{n-2}\,\mathbf 1^\top \tilde K \tilde L \mathbf 1\Big]

(needs n >= 4). Its expectation does not depend on n, so Nguyen, Raghu & Kornblith (2021,
"Do wide and deep networks learn the same things?", ICLR) average it over minibatches
for *minibatch CKA* (:class:`MinibatchCKA`):
``CKA = mean_i HSIC_1(K_i, L_i) / sqrt(mean_i HSIC_1(K_i, K_i) · mean_i HSIC_1(L_i, L_i))``.

Everything is computed in float64 with numpy. :func:`linear_cka` never forms an n x n
matrix when the feature-space product ``YᵀX`` is cheaper (``p1·p2 <= n·(p1 + p2)``), and
:func:`normalized_gram` gives the n x n matrices for comparing many layers at once
(``CKA = <K̂, L̂>``). Written here because no maintained library in this suite's
dependencies offers CKA (torchmetrics and scikit-learn do not).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def as_matrix(X: Any) -> np.ndarray:
    """``X`` (a torch tensor, numpy array or nested list) as a float64 ``(n, p)`` array;
    trailing dimensions (``(n, C, H, W)`` maps) are flattened."""
    if hasattr(X, "detach"):  # a torch tensor, without importing torch
        X = X.detach().cpu().double().numpy()
    array = np.asarray(X, dtype=np.float64)
    if array.ndim == 1:
        raise ValueError(
            f"a representation must be (examples, features); got a vector of shape {array.shape}"
        )
    if array.ndim > 2:
        array = array.reshape(array.shape[0], -1)
    return array


def _pair(X: Any, Y: Any, min_n: int) -> tuple[np.ndarray, np.ndarray]:
    X, Y = as_matrix(X), as_matrix(Y)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X and Y must hold the same examples (rows); got {X.shape[0]} and {Y.shape[0]}"
        )
    if X.shape[0] < min_n:
        raise ValueError(f"this estimator needs at least {min_n} examples; got {X.shape[0]}")
    return X, Y


def _cross_sq_norm(X: np.ndarray, Y: np.ndarray) -> float:
    """``‖YᵀX‖_F² = tr(X Xᵀ Y Yᵀ)``, through whichever of the two products is cheaper."""
    n, p1 = X.shape
    p2 = Y.shape[1]
    if p1 * p2 <= n * (p1 + p2):
        M = Y.T @ X
        return float(np.vdot(M, M))
    return float(np.vdot(X @ X.T, Y @ Y.T))


def _center(X: np.ndarray) -> np.ndarray:
    return X - X.mean(axis=0, keepdims=True)


def hsic_biased(X: Any, Y: Any) -> float:
    """Biased HSIC of linear kernels (Gretton et al. 2005):
    ``tr(K H L H) / (n - 1)² = ‖Y_cᵀ X_c‖_F² / (n - 1)²`` with column-centred ``X_c``, ``Y_c``."""
    X, Y = _pair(X, Y, 2)
    n = X.shape[0]
    return _cross_sq_norm(_center(X), _center(Y)) / (n - 1) ** 2


def hsic_unbiased(X: Any, Y: Any) -> float:
    """Unbiased HSIC of linear kernels (Song et al. 2012), the formula in the module
    docstring, evaluated in feature space in O(n·p1·p2) or O(n²·(p1 + p2)), whichever is
    cheaper: with ``k_i = ‖x_i‖²``, ``s_x = Σ_i x_i``,
    ``tr(K̃L̃) = ‖YᵀX‖² − Σ_i k_i l_i``, ``1ᵀK̃1 = ‖s_x‖² − Σ_i k_i`` and
    ``K̃1 = X s_x − k``. Invariant to adding a constant vector to the rows of X or Y (the
    columns are centred first, for accuracy). Needs n >= 4."""
    X, Y = _pair(X, Y, 4)
    X, Y = _center(X), _center(Y)
    n = X.shape[0]
    kx = np.einsum("ij,ij->i", X, X)
    ly = np.einsum("ij,ij->i", Y, Y)
    trace = _cross_sq_norm(X, Y) - float(kx @ ly)
    sx, sy = X.sum(axis=0), Y.sum(axis=0)
    k1, l1 = X @ sx - kx, Y @ sy - ly
    total_k, total_l = float(k1.sum()), float(l1.sum())
    middle = total_k * total_l / ((n - 1) * (n - 2))
    last = 2.0 / (n - 2) * float(k1 @ l1)
    return (trace + middle - last) / (n * (n - 3))


def _ratio(xy: float, xx: float, yy: float) -> float:
    denominator = xx * yy
    if not denominator > 0 or not math.isfinite(denominator):
        return math.nan
    return xy / math.sqrt(denominator)


def linear_cka(X: Any, Y: Any, unbiased: bool = False) -> float:
    r"""Linear CKA between the representations ``X`` (n x p1) and ``Y`` (n x p2) of the
    same n examples (rows).

    ``unbiased=False`` (Kornblith et al. 2019): with column-centred X, Y,
    ``‖YᵀX‖_F² / (‖XᵀX‖_F ‖YᵀY‖_F)``, in [0, 1].
    ``unbiased=True`` (Song et al. 2012; Nguyen, Raghu & Kornblith 2021):
    ``HSIC_1(K, L) / sqrt(HSIC_1(K, K) HSIC_1(L, L))`` with the unbiased estimator
    :func:`hsic_unbiased`; close to the population CKA even when the feature dimension is
    large compared with n, and may fall slightly outside [0, 1] on small samples.

    Accepts torch tensors or numpy arrays (``(n, ...)`` maps are flattened); computes in
    float64. Returns NaN when a representation is constant (zero HSIC with itself).
    """
    if unbiased:
        X, Y = _pair(X, Y, 4)
        return _ratio(hsic_unbiased(X, Y), hsic_unbiased(X, X), hsic_unbiased(Y, Y))
    X, Y = _pair(X, Y, 2)
    X, Y = _center(X), _center(Y)
    return _ratio(_cross_sq_norm(X, Y), _cross_sq_norm(X, X), _cross_sq_norm(Y, Y))


def normalized_gram(X: Any, unbiased: bool = False) -> np.ndarray:
    r"""The n x n matrix ``K̂`` with ``linear_cka(X, Y) = <K̂_X, K̂_Y>`` (sum of the
    elementwise product): the centred linear kernel divided by its Frobenius norm.

    Biased: ``K_c = H X Xᵀ H`` (equivalently ``X_c X_cᵀ``). Unbiased: the U-centred
    kernel of Székely & Rizzo (2014) — ``K̃`` with a zero diagonal,
    ``Ũ_ij = K̃_ij − r_i − r_j + t`` off the diagonal, zero on it, with
    ``r_i = Σ_l K̃_il / (n − 2)`` and ``t = Σ_kl K̃_kl / ((n − 1)(n − 2))`` — for which
    ``<Ũ_K, Ũ_L> = n(n − 3) · HSIC_1(K, L)`` (Song et al. 2012), as in the CKA code of
    Kornblith et al. Use it to compare many layers: compute each layer's matrix once.
    Returns a zero matrix for a constant representation (its CKA is then 0, not NaN).
    """
    X = as_matrix(X)
    n = X.shape[0]
    if n < (4 if unbiased else 2):
        raise ValueError(f"need at least {4 if unbiased else 2} examples; got {n}")
    Xc = _center(X)
    gram = Xc @ Xc.T
    if unbiased:
        np.fill_diagonal(gram, 0.0)
        row = gram.sum(axis=0) / (n - 2)
        total = row.sum() / (2 * (n - 1))  # = Σ_kl K̃_kl / (2 (n-1)(n-2))
        means = row - total
        gram -= means[:, None]
        gram -= means[None, :]
        np.fill_diagonal(gram, 0.0)
    norm = float(np.linalg.norm(gram))
    return gram / norm if norm > 0 else gram


def cka_matrix(
    activations_a: dict[str, Any],
    activations_b: dict[str, Any] | None = None,
    unbiased: bool = False,
) -> tuple[list[str], list[str], np.ndarray]:
    """Linear CKA between every layer of ``activations_a`` and every layer of
    ``activations_b`` (default: ``activations_a`` itself, the within-network matrix).

    Each argument maps a layer name to its ``(n, p)`` activations on the same n examples.
    Returns ``(rows, columns, matrix)`` with ``matrix[i, j] = CKA(a[rows[i]], b[columns[j]])``;
    each layer's :func:`normalized_gram` is computed once (memory: 8·n² bytes per layer).
    """
    grams_a = {name: normalized_gram(x, unbiased) for name, x in activations_a.items()}
    grams_b = (
        grams_a
        if activations_b is None
        else {name: normalized_gram(x, unbiased) for name, x in activations_b.items()}
    )
    return cka_from_grams(grams_a, grams_b)


def cka_from_grams(
    grams_a: dict[str, np.ndarray], grams_b: dict[str, np.ndarray]
) -> tuple[list[str], list[str], np.ndarray]:
    """CKA between the layers of two sets of :func:`normalized_gram` matrices."""
    rows, columns = list(grams_a), list(grams_b)
    if not rows or not columns:
        return rows, columns, np.empty((len(rows), len(columns)))
    # one matrix product of the flattened matrices instead of a dot product per pair
    stacked_a = np.stack([grams_a[a].reshape(-1) for a in rows])
    stacked_b = (
        stacked_a if grams_b is grams_a else np.stack([grams_b[b].reshape(-1) for b in columns])
    )
    return rows, columns, stacked_a @ stacked_b.T


class MinibatchCKA:
    """Minibatch linear CKA (Nguyen, Raghu & Kornblith 2021): the unbiased HSIC
    (Song et al. 2012) averaged over minibatches,
    ``mean_i HSIC_1(X_i, Y_i) / sqrt(mean_i HSIC_1(X_i, X_i) · mean_i HSIC_1(Y_i, Y_i))``.

    For large n: memory and time grow with the batch size, not with n. Each call to
    :meth:`update` takes the two representations of the same minibatch (>= 4 examples);
    :meth:`compute` gives the CKA so far; :meth:`reset` starts again (torchmetrics style).
    Because HSIC_1 is unbiased, the result approaches the full-batch unbiased CKA.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.xy = self.xx = self.yy = 0.0
        self.batches = 0

    def update(self, X: Any, Y: Any) -> None:
        X, Y = _pair(X, Y, 4)
        self.xy += hsic_unbiased(X, Y)
        self.xx += hsic_unbiased(X, X)
        self.yy += hsic_unbiased(Y, Y)
        self.batches += 1

    def compute(self) -> float:
        if self.batches == 0:
            raise RuntimeError("MinibatchCKA.compute() called before any update()")
        return _ratio(self.xy, self.xx, self.yy)  # the 1/batches factors cancel
