"""Statistics of the leaderboard, in one place: confidence intervals over seeds, paired tests
(:func:`paired_test`, :func:`comparison`), Holm's correction for multiple comparisons, the
bootstrap of the generality ranking, fractional ranks (:func:`rank_values`) and the
Friedman test with the Nemenyi critical difference (:func:`critical_difference`, Demsar
2006, section 3.2.2: ``CD = q_alpha * sqrt(k (k + 1) / (6 N))`` for k losses and N
benchmarks, ``q_alpha`` the studentized range quantile for k groups and infinite degrees of
freedom over sqrt(2), ``scipy.stats.studentized_range``; the Friedman test is
``scipy.stats.friedmanchisquare`` of the same ranks).

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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

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


#: fewest paired seeds for a paired test
MIN_PAIRS = 2


#: fewest paired seeds for the Wilcoxon signed-rank test (exact two-sided p >= 2 / 2^n)
WILCOXON_MIN_PAIRS = 6


#: significance level of the verdicts
ALPHA = 0.05


def rank_values(values: pd.Series, higher_is_better: bool) -> pd.Series:
    """Rank 1 = best; ties get the average of the ranks they span (fractional ranking,
    ``scipy.stats.rankdata(method="average")``); NaN values get no rank."""
    from scipy.stats import rankdata

    ranks = pd.Series(math.nan, index=values.index, dtype=float)
    present = values.dropna()
    if len(present):
        keys = -present.to_numpy(float) if higher_is_better else present.to_numpy(float)
        ranks.loc[present.index] = rankdata(keys, method="average")
    return ranks


def paired_test(differences: np.ndarray) -> dict[str, float]:
    """Two-sided tests that the mean (t-test) or median (Wilcoxon) of the paired
    differences is zero; NaN where a test is not defined (fewer than :data:`MIN_PAIRS`
    pairs, constant differences, fewer than :data:`WILCOXON_MIN_PAIRS` for Wilcoxon).

    ``scipy.stats.ttest_1samp(d, 0)`` is the paired t-test ``ttest_rel(x, b)`` of
    ``d = x - b`` (the same statistic and p-value).
    """
    from scipy import stats

    out = {"t": math.nan, "t_pvalue": math.nan, "w": math.nan, "w_pvalue": math.nan}
    d = np.asarray(differences, dtype=float)
    if len(d) < MIN_PAIRS or np.all(d == d[0]):
        return out
    result = stats.ttest_1samp(d, 0.0)
    out["t"], out["t_pvalue"] = float(result.statistic), float(result.pvalue)
    if len(d) >= WILCOXON_MIN_PAIRS and np.any(d != 0):
        try:
            result = stats.wilcoxon(d)
            out["w"], out["w_pvalue"] = float(result.statistic), float(result.pvalue)
        except ValueError:  # pragma: no cover - scipy refuses some degenerate inputs
            pass
    return out


def verdict(n: int, mean: float, pvalue: float) -> str:
    """A few words on one comparison from its (Holm-corrected) p-value: too few seeds,
    better/worse (p < :data:`ALPHA`), or no significant difference."""
    if n < MIN_PAIRS:
        return f"too few seeds (n={n}; a test needs {MIN_PAIRS})"
    if math.isnan(pvalue):
        return "no test (the differences are all equal)"
    if pvalue < ALPHA:
        return f"{'better' if mean > 0 else 'worse'} (Holm p < {ALPHA})"
    return "no significant difference"


def paired_differences(
    rows: pd.DataFrame, loss: str, baseline: str, higher_is_better: bool
) -> tuple[list[int], np.ndarray]:
    """The seeds both ``loss`` and ``baseline`` (``loss`` column labels) have among
    ``rows`` (one protocol) and the signed headline differences on them (positive =
    ``loss`` better)."""
    values = rows.dropna(subset=["headline_value"]).pivot_table(
        index="seed", columns="loss", values="headline_value", aggfunc="first"
    )
    if loss not in values.columns or baseline not in values.columns:
        return [], np.array([], dtype=float)
    pair = values[[loss, baseline]].dropna()
    sign = 1.0 if higher_is_better else -1.0
    d = sign * (pair[loss].to_numpy(float) - pair[baseline].to_numpy(float))
    return [int(s) for s in pair.index], d


def comparison(
    rows: pd.DataFrame, loss: str, baseline: str, higher_is_better: bool
) -> dict[str, Any]:
    """One paired comparison of ``loss`` with ``baseline`` within one protocol: seeds,
    differences, their mean (the effect size), std and 95 % t-interval, and the paired
    tests (uncorrected p-values)."""
    seeds, d = paired_differences(rows, loss, baseline, higher_is_better)
    tests = paired_test(d)
    low, high = t_interval(d)
    return {
        "n": len(d),
        "seeds": seeds,
        "differences": [float(x) for x in d],
        "mean diff": float(d.mean()) if len(d) else math.nan,
        "std diff": float(d.std(ddof=1)) if len(d) > 1 else math.nan,
        "ci low": low,
        "ci high": high,
        "t": tests["t"],
        "t-test p": tests["t_pvalue"],
        "wilcoxon": tests["w"],
        "wilcoxon p": tests["w_pvalue"],
    }


@dataclass
class CriticalDifference:
    """The Nemenyi post-hoc comparison of mean ranks (Demsar 2006, section 3.2.2).

    ``losses`` and ``mean_ranks`` are sorted best first; the ranks are recomputed among the
    compared losses only (those run on every one of the ``benchmarks``); ``left_out`` are
    the losses missing on some benchmark. ``cliques`` are index pairs ``(i, j)`` (inclusive)
    of the maximal runs of losses whose mean ranks differ by less than ``cd``.
    """

    losses: list[str]
    mean_ranks: list[float]
    benchmarks: list[str]
    cd: float
    q_alpha: float
    friedman_p: float
    alpha: float
    left_out: list[str]
    cliques: list[tuple[int, int]]


def nemenyi_q(k: int, alpha: float = ALPHA) -> float:
    """The Nemenyi test's critical value ``q_alpha`` for ``k`` groups: the studentized range
    quantile (infinite degrees of freedom) over sqrt(2); 2.569 for k = 4 at alpha 0.05."""
    from scipy.stats import studentized_range

    return float(studentized_range.ppf(1.0 - alpha, k, np.inf) / math.sqrt(2.0))


def critical_difference(tables: list, alpha: float = ALPHA) -> CriticalDifference | None:
    """The critical-difference comparison of the losses run on every benchmark (``tables``:
    the leaderboard's :class:`~hem_bench.results.leaderboard.GroupTable` objects); None when
    fewer than two losses or two benchmarks remain. Only the main protocol of each task and
    data set counts, as in the overall ranking (another protocol, e.g. a learning-rate arm,
    names its losses by its settings)."""
    from scipy.stats import friedmanchisquare

    tables = [t for t in tables if getattr(t, "main", True)]
    if len(tables) < 2:
        return None
    present = [set(t.stats.index[t.stats[f"{t.headline} mean"].notna()]) for t in tables]
    every = set.intersection(*present)
    losses = sorted(every)
    if len(losses) < 2:
        return None
    ranks = pd.DataFrame(
        {
            t.label: rank_values(t.stats.loc[losses, f"{t.headline} mean"], t.higher_is_better)
            for t in tables
        }
    )
    mean = ranks.mean(axis=1).sort_values(kind="stable")
    k, n = len(losses), len(tables)
    q = nemenyi_q(k, alpha)
    cd = q * math.sqrt(k * (k + 1) / (6.0 * n))
    p = math.nan
    if k >= 3:
        with np.errstate(all="ignore"):
            p = float(friedmanchisquare(*ranks.loc[mean.index].to_numpy(float)).pvalue)
    values = mean.to_numpy(float)
    cliques: list[tuple[int, int]] = []
    for i in range(k):
        j = i
        while j + 1 < k and values[j + 1] - values[i] < cd:
            j += 1
        if j > i and (not cliques or j > cliques[-1][1]):
            cliques.append((i, j))
    all_losses = set().union(*present)
    return CriticalDifference(
        losses=list(mean.index),
        mean_ranks=[float(v) for v in values],
        benchmarks=[t.label for t in tables],
        cd=cd,
        q_alpha=q,
        friedman_p=p,
        alpha=alpha,
        left_out=sorted(all_losses - every),
        cliques=cliques,
    )
