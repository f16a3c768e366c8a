"""Independent per-example reference formulas in numpy (float64), one loop per example.

They follow the written definitions literally, so they share no code (and no tricks) with
the implementations under test.
"""

from __future__ import annotations

import math

import numpy as np

HEM_EPS = 1e-6


def hem_errors(y: np.ndarray, t: int, margin: float) -> list[float]:
    """The margin error of every class: max(0, y_j - y_t + margin), and 0 for the target."""
    return [0.0 if j == t else max(0.0, y[j] - y[t] + margin) for j in range(len(y))]


def hem_high(y: np.ndarray, t: int, margin: float) -> list[int]:
    """K: the classes whose error is positive and at least the mean error over all C."""
    errors = hem_errors(y, t, margin)
    theta = sum(errors) / len(errors)
    return [j for j, e in enumerate(errors) if e > 0 and e >= theta]


def hem_example(y: np.ndarray, t: int, margin: float) -> float:
    """HEM of one example as the authors' code defines it (Spratling & Schütt 2025):
    the errors in K summed and divided by eps + |K|."""
    errors = hem_errors(y, t, margin)
    high = hem_high(y, t, margin)
    return sum(errors[j] for j in high) / (HEM_EPS + len(high))


def hem_grad_example(y: np.ndarray, t: int, margin: float) -> np.ndarray:
    """Gradient of one example's HEM: 1/(eps+|K|) on K, -|K|/(eps+|K|) on the target."""
    grad = np.zeros(len(y))
    high = hem_high(y, t, margin)
    for j in high:
        grad[j] = 1.0 / (HEM_EPS + len(high))
    grad[t] = -len(high) / (HEM_EPS + len(high))
    return grad


def hem_batch(
    rows: np.ndarray, targets: np.ndarray, margins, reduction: str, ignore_index: int = -100
):
    """HEM of a batch of rows (M, C), one example at a time: 'none' (0 where ignored), 'sum',
    or 'mean' = sum / (eps + number of examples with a positive loss). ``margins`` is one
    number or a per-class sequence (HEM+)."""
    values = []
    for y, t in zip(rows, targets):
        t = int(t)
        if t == ignore_index:
            values.append(0.0)
            continue
        margin = margins[t] if np.ndim(margins) else margins
        values.append(hem_example(y, t, margin))
    values = np.array(values)
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    return values.sum() / (HEM_EPS + sum(v > 0 for v in values))


def hem_batch_grad(
    rows: np.ndarray, targets: np.ndarray, margins, reduction: str, ignore_index: int = -100
) -> np.ndarray:
    """Gradient of 'sum' or 'mean' of :func:`hem_batch` (the count of examples with error is
    a constant), one example at a time."""
    grad = np.zeros_like(rows, dtype=np.float64)
    positive = 0
    for i, (y, t) in enumerate(zip(rows, targets)):
        t = int(t)
        if t == ignore_index:
            continue
        margin = margins[t] if np.ndim(margins) else margins
        positive += hem_example(y, t, margin) > 0
        grad[i] = hem_grad_example(y, t, margin)
    return grad / (HEM_EPS + positive) if reduction == "mean" else grad


def log_softmax(y: np.ndarray) -> np.ndarray:
    m = y.max()
    return y - m - math.log(np.exp(y - m).sum())


def focal_example(y: np.ndarray, t: int, gamma: float) -> float:
    p_t = math.exp(log_softmax(y)[t])
    return -((1 - p_t) ** gamma) * math.log(p_t)


def label_smoothing_example(y: np.ndarray, t: int, alpha: float) -> float:
    logp = log_softmax(y)
    return -(1 - alpha) * logp[t] - alpha * logp.mean()


def sigmoid_ce_example(y: np.ndarray, t: int) -> float:
    total = 0.0
    for j, z in enumerate(y):
        p = 1.0 / (1.0 + math.exp(-z))
        total += -math.log(p) if j == t else -math.log(1.0 - p)
    return total


def squared_error_example(
    y: np.ndarray, t: int, k: float, target_value: float, scale: float | None = None
) -> float:
    others = sum(y[j] ** 2 for j in range(len(y)) if j != t)
    return (1 / len(y) if scale is None else scale) * (k * (y[t] - target_value) ** 2 + others)


def logit_penalty_example(y: np.ndarray, t: int, beta: float) -> float:
    return -log_softmax(y)[t] + beta / 2 * float((y**2).sum())


def logit_adjusted_example(y: np.ndarray, t: int, counts: np.ndarray, tau: float) -> float:
    prior = counts / counts.sum()
    return -log_softmax(y + tau * np.log(prior))[t]


def multi_margin_example(y: np.ndarray, t: int, margin: float, p: int) -> float:
    return sum(max(0.0, margin - y[t] + y[j]) ** p for j in range(len(y)) if j != t) / len(y)


def balanced_softmax_example(y: np.ndarray, t: int, counts: np.ndarray) -> float:
    return -log_softmax(y + np.log(counts))[t]


def ldam_example(y: np.ndarray, t: int, counts: np.ndarray, max_margin: float, s: float) -> float:
    margins = counts**-0.25
    margins = margins * max_margin / margins.max()
    z = y.copy()
    z[t] -= margins[t]
    return -log_softmax(s * z)[t]
