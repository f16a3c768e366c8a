"""ECE with Guo et al.'s bins, the reliability diagram on the same bins, and AUPR as average
precision, each against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from hem_bench.metrics.classification import expected_calibration_error, reliability_bins
from hem_bench.metrics.ood import ood_metrics


def guo_ece_loop(probs: np.ndarray, target: np.ndarray, n_bins: int = 15) -> float:
    """ECE from the definition, one bin at a time: bin k = ((k-1)/M, k/M]."""
    confidence, prediction = probs.max(1), probs.argmax(1)
    total = 0.0
    for k in range(1, n_bins + 1):
        lo, hi = (k - 1) / n_bins, k / n_bins
        inside = [i for i in range(len(target)) if lo < confidence[i] <= hi]
        if inside:
            acc = np.mean([prediction[i] == target[i] for i in inside])
            conf = np.mean([confidence[i] for i in inside])
            total += len(inside) / len(target) * abs(acc - conf)
    return total


def test_ece_worked_example():
    """3 examples at confidence 1.0 and 7 at sigmoid(3.2) = 0.9608, 9 of 10 correct: all
    ten lie in the top bin (14/15, 1]: ECE = |0.9 - 0.97258| = 0.0726 (a separate bin for 1.0,
    as torchmetrics has, would give 0.1274)."""
    logits = torch.tensor([[40.0, 0.0]] * 3 + [[3.2, 0.0]] * 7)
    target = torch.tensor([0, 0, 1] + [0] * 7)
    probs = logits.softmax(1)
    assert expected_calibration_error(probs, target).item() == pytest.approx(0.0726, abs=5e-5)
    bins = reliability_bins(probs, target)
    assert set(bins) == {"calibration/14/conf", "calibration/14/acc", "calibration/14/frac"}
    assert bins["calibration/14/acc"] == pytest.approx(0.9)


@pytest.mark.parametrize("seed", range(4))
def test_ece_and_reliability_bins_agree_with_the_loop(seed):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(500, 7, generator=gen, dtype=torch.float64) * (seed + 1)
    target = torch.randint(0, 7, (500,), generator=gen)
    probs = logits.softmax(1)
    expected = guo_ece_loop(probs.numpy(), target.numpy())
    assert expected_calibration_error(probs, target).item() == pytest.approx(expected, abs=1e-9)
    bins = reliability_bins(probs, target)
    from_bins = sum(
        bins[f"calibration/{k}/frac"]
        * abs(bins[f"calibration/{k}/acc"] - bins[f"calibration/{k}/conf"])
        for k in range(15)
        if f"calibration/{k}/frac" in bins
    )
    assert from_bins == pytest.approx(expected, abs=1e-9)


def test_aupr_is_average_precision():
    gen = np.random.default_rng(0)
    id_scores = gen.normal(0.0, 1.0, 300).round(1)  # rounded: ties, as real scores have
    ood_scores = gen.normal(1.0, 1.0, 200).round(1)
    m = ood_metrics(torch.from_numpy(id_scores), torch.from_numpy(ood_scores))
    y_ood = np.r_[np.zeros(300), np.ones(200)]
    s = np.r_[id_scores, ood_scores]
    assert m["aupr_out"] == pytest.approx(average_precision_score(y_ood, s), abs=1e-12)
    assert m["aupr_in"] == pytest.approx(average_precision_score(1 - y_ood, -s), abs=1e-12)
