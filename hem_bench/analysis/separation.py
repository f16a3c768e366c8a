r"""Class separation R² of a representation (Kornblith, Chen, Lee & Norouzi 2021, "Why do
better loss functions lead to less transferable features?", NeurIPS, Section 5 —
ICLR-2021 submission "Demystifying loss functions for classification").

On L2-normalised features :math:`\hat x = x / \lVert x\rVert` with the cosine distance
:math:`d_{mn} = 1 - \hat x_m^\top \hat x_n`, for K classes:

.. math::

    R^2 = 1 - \bar d_\text{within} / \bar d_\text{total}, \qquad
    \bar d_\text{within} = \frac1K \sum_k \operatorname{mean}_{m, n \in k} d_{mn}, \qquad
    \bar d_\text{total} = \frac1{K^2} \sum_j \sum_k \operatorname{mean}_{m \in j, n \in k} d_{mn}.

Both averages weight every class equally, whatever its size. R² is the share of the
(cosine) variance explained by the class: 1 when every class collapses onto one
direction, about 0 when the classes are indistinguishable; it is at most 1 and may be
slightly negative.

Closed form, O(n·D) instead of O(n²·D): with the class means of the normalised
features :math:`\mu_k = \operatorname{mean}_{m \in k} \hat x_m`, the mean cosine
similarity between classes j and k over all pairs is :math:`\mu_j^\top \mu_k`, so
:math:`\bar d_\text{within} = 1 - \frac1K \sum_k \lVert\mu_k\rVert^2` and
:math:`\bar d_\text{total} = 1 - \lVert \frac1K \sum_k \mu_k\rVert^2`.

Self-pairs: the "mean over m, n in k" above runs over all :math:`N_k^2` ordered pairs,
including the :math:`N_k` pairs (m, m) with :math:`d_{mm} = 0`, as the closed form does
and as the paper's formula (normalised by :math:`N_k^2`) does. That is the default
(``include_self_pairs=True``). With ``include_self_pairs=False`` the within-class means
(and the j = k terms of the total) run over the :math:`N_k(N_k - 1)` pairs m ≠ n, still
in closed form: :math:`\sum_{m \ne n} \hat x_m^\top \hat x_n = N_k^2\lVert\mu_k\rVert^2 -
\sum_m \lVert\hat x_m\rVert^2`. Written here because no library computes this index.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hem_bench.analysis.cka import as_matrix


def _labels(labels: Any, n: int) -> np.ndarray:
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != n:
        raise ValueError(f"{n} feature rows but {labels.shape[0]} labels")
    return labels


def normalize_rows(features: Any) -> np.ndarray:
    """Rows divided by their L2 norm (float64); all-zero rows stay zero."""
    X = as_matrix(features)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


def class_separation(features: Any, labels: Any, include_self_pairs: bool = True) -> float:
    r"""Class separation :math:`R^2 = 1 - \bar d_\text{within} / \bar d_\text{total}` of
    ``features`` (n x D) with class ``labels`` (n,), on L2-normalised features with the
    cosine distance ``d = 1 − cos`` and class-balanced averages (Kornblith et al. 2021;
    formula and the treatment of self-pairs in the module docstring).

    Computed in closed form from the class means of the normalised features, O(n·D).
    ``include_self_pairs`` (default True, as the paper's N_k² normalisation) counts the
    pairs (m, m) in the within-class means. Returns NaN when ``d̄_total`` is 0 (all
    features point the same way). Needs at least two classes (and, without self-pairs,
    two examples in every class).
    """
    X = normalize_rows(features)
    y = _labels(labels, X.shape[0])
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(f"class separation needs at least 2 classes; got {len(classes)}")
    K = len(classes)
    means = np.stack([X[y == c].mean(axis=0) for c in classes])  # (K, D)
    similarity = means @ means.T  # mean cos between classes j, k over all pairs
    if not include_self_pairs:
        for i, c in enumerate(classes):
            members = X[y == c]
            count = len(members)
            if count < 2:
                raise ValueError(
                    f"without self-pairs every class needs 2 examples; class {c} has {count}"
                )
            squares = float(np.einsum("ij,ij->", members, members))
            similarity[i, i] = (count**2 * similarity[i, i] - squares) / (count * (count - 1))
    within = 1.0 - float(np.trace(similarity)) / K
    total = 1.0 - float(similarity.sum()) / K**2
    if not total > 0:
        return math.nan
    return 1.0 - within / total
