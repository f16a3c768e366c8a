"""Statistics of the leaderboard: confidence intervals over seeds, Holm's correction for
multiple comparisons, and the bootstrap of the generality ranking.

- t-interval (Student 1908): for values ``x_1..x_n`` (one per seed),
  ``mean ± t_{0.975, n-1} * s / sqrt(n)`` with ``s`` the sample standard deviation
  (ddof=1) and ``t_{0.975, n-1}`` the 97.5 % quantile of Student's t with n - 1 degrees of
  freedom (``scipy.stats.t.ppf``). The same interval of the paired differences is the
  95 % confidence interval of the effect size (the mean paired difference). Undefined (NaN)
  for fewer than two values.
- Holm's step-down correction (Holm 1979, "A simple sequentially rejective multiple test
  procedure", Scand. J. Statist. 6): with the m p-values sorted ascending,
  ``p_(1) <= ... <= p_(m)``, the adjusted values are
  ``p~_(i) = min(1, max_{j <= i} (m - j + 1) * p_(j))``; a hypothesis is rejected at
  level alpha when its adjusted p-value is below alpha, which controls the family-wise
  error rate. Written here because scipy has no Holm correction
  (``scipy.stats.false_discovery_control`` is Benjamini-Hochberg, which controls another
  error rate) and statsmodels (``multipletests(method="holm")``) is not a dependency.
- Bootstrap of the mean rank (Efron & Tibshirani 1993, percentile interval): a replicate
  draws, for every benchmark independently, as many seeds as it has with replacement (the
  same draw for every loss of the benchmark, so that runs of one seed stay paired), takes
  each loss's mean headline over the drawn seeds, ranks the losses per benchmark
  (fractional ranks, 1 = best) and averages a loss's ranks over benchmarks. Over the
  replicates: the 2.5 and 97.5 percentiles of each loss's mean rank, and the probability
  that it has the best (lowest) mean rank, a tie for first counting ``1 / k`` to each of
  the ``k`` tied losses. The generator is numpy's ``default_rng(seed)``, so the result is
  reproducible.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np

#: confidence level of every interval
CONFIDENCE = 0.95
#: bootstrap replicates of the rank table, and the generator's seed
BOOTSTRAP_REPLICATES = 2000
BOOTSTRAP_SEED = 0


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The ``confidence`` t-interval of the mean of ``values`` (NaN dropped); (NaN, NaN)
    for fewer than two values. A constant sample gives the zero-width interval."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return math.nan, math.nan
    mean = float(x.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean - half, mean + half


def holm(pvalues) -> np.ndarray:
    """Holm-adjusted p-values, in the order given; NaN entries (no test) are left NaN and
    do not count in the family size m."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = len(present)
    if not m:
        return out
    order = present[np.argsort(p[present], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def _ranks(means: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Fractional ranks (1 = best) along the last axis; NaN stays unranked."""
    from scipy.stats import rankdata

    keys = -means if higher_is_better else means
    return rankdata(keys, axis=-1, method="average", nan_policy="omit")


def bootstrap_mean_ranks(
    benchmarks: list[tuple[np.ndarray, bool]],
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, np.ndarray]:
    """The bootstrap of the mean rank over ``benchmarks``: each is ``(values,
    higher_is_better)`` with ``values`` a (seeds x losses) array of headlines, NaN where a
    loss has no run of that seed; the losses (columns) are the same in every benchmark.

    Returns ``low`` and ``high`` (the percentile interval of each loss's mean rank),
    ``p_first`` (the probability of the best mean rank) and ``replicates`` (the
    replicates x losses mean ranks)."""
    rng = np.random.default_rng(seed)
    losses = benchmarks[0][0].shape[1] if benchmarks else 0
    total = np.zeros((replicates, losses))
    counted = np.zeros((replicates, losses))
    for values, higher in benchmarks:
        values = np.asarray(values, dtype=float)
        n = values.shape[0]
        draws = rng.integers(0, n, size=(replicates, n))
        sample = values[draws]  # replicates x n x losses
        with np.errstate(invalid="ignore"), warnings_off():
            means = np.nanmean(sample, axis=1)
        ranks = _ranks(means, higher)
        present = ~np.isnan(ranks)
        total += np.where(present, ranks, 0.0)
        counted += present
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_ranks = total / counted
    alpha = (1 - confidence) / 2
    with warnings_off():
        low = np.nanquantile(mean_ranks, alpha, axis=0)
        high = np.nanquantile(mean_ranks, 1 - alpha, axis=0)
    best = np.nanmin(np.where(np.isnan(mean_ranks), np.inf, mean_ranks), axis=1, keepdims=True)
    first = np.isclose(mean_ranks, best) & ~np.isnan(mean_ranks)
    share = first / np.maximum(first.sum(axis=1, keepdims=True), 1)
    return {
        "low": low,
        "high": high,
        "p_first": share.mean(axis=0),
        "replicates": mean_ranks,
    }


@contextlib.contextmanager
def warnings_off():
    """Silence numpy's warnings about all-NaN slices (a loss absent from a replicate's
    draw has no mean there, by design)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
