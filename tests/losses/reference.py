"""Independent per-example reference formulas in numpy (float64), one loop per example.

They follow the written definitions literally, so they share no code (and no tricks) with
the implementations under test.
"""

from __future__ import annotations

import math

import numpy as np


def hem_example(y: np.ndarray, t: int, margin: float) -> float:
    """HEM of one example, straight from the definition (Spratling & Schütt 2025)."""
    errors = [max(0.0, y[j] - y[t] + margin) for j in range(len(y)) if j != t]
    positive = [e for e in errors if e > 0]
    if not positive:
        return 0.0
    mean = sum(positive) / len(positive)
    high = [e for e in positive if e >= mean]
    return sum(high) / len(high)


def hem_grad_example(y: np.ndarray, t: int, margin: float) -> np.ndarray:
    """Gradient of HEM for one example: 1/|H| on H, -1 on the target, 0 elsewhere."""
    grad = np.zeros(len(y))
    errors = {j: max(0.0, y[j] - y[t] + margin) for j in range(len(y)) if j != t}
    positive = {j: e for j, e in errors.items() if e > 0}
    if not positive:
        return grad
    mean = sum(positive.values()) / len(positive)
    high = [j for j, e in positive.items() if e >= mean]
    for j in high:
        grad[j] = 1.0 / len(high)
    grad[t] = -1.0
    return grad


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
