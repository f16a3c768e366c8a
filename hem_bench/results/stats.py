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
- Bootstrap of the mean rank (Efron & Tibshirani 1993, percentile interval), two-level so
  that it accounts for the choice of benchmarks as well as of seeds: a replicate draws as
  many benchmarks as there are, with replacement, and for every drawn benchmark as many
  seeds as it has, with replacement (the same seed draw for every loss of that benchmark,
  so that runs of one seed stay paired); it takes each loss's mean headline over the drawn
  seeds, ranks the losses per drawn benchmark (fractional ranks, 1 = best) and averages a
  loss's ranks over the drawn benchmarks. Over the replicates: the 2.5 and 97.5
  percentiles of each loss's mean rank, and the probability that it has the best (lowest)
  mean rank, a tie for first counting ``1 / k`` to each of the ``k`` tied losses. The
  generator is numpy's ``default_rng(seed)``, so the result is reproducible. The interval
  says how far a loss's mean rank could move with other benchmarks and seeds like these;
  it is not a test between losses (overlap of two marginal intervals is not one): the
  Nemenyi comparison (:func:`critical_difference`) is the test of the ranks.
- Equivalence (:func:`equivalence_test`): the two one-sided tests of Schuirmann (1987)
  against the margin ``±Δ``, and the one-sided test that the difference lies beyond the
  margin on the estimate's side. The two possible decisions ("within the margin", "beyond
  it") share the level: each is made at ``α/2``, so the comparison's p-value is
  ``min(1, 2 min(p_TOST, p_beyond))`` and the chance of either wrong decision is at most
  α; at an uncorrected α of 0.05 "within" means the 95 % t-interval lies inside ``±Δ``
  (TOST at 2.5 % per side) and "beyond" that it lies wholly outside.
- Which tests enter a corrected family (:func:`admitted`): a test whose design cannot
  reach significance is shown descriptively, not added to the family (adding it only makes
  every other test of the family stricter). A paired t-test of n seeds in a family of m
  can be significant at Holm's first step only when its observed effect exceeds
  ``t_{1 - α/(2m), n-1} / sqrt(n)`` standard deviations of its differences
  (:func:`significance_threshold`); the design is *decidable* when that threshold is at
  most :data:`DECIDABLE_EFFECT`. An exact permutation test is decidable when its smallest
  attainable p-value times m is below α. The choice depends on n and m only, never on the
  outcome, so the family-wise error rate stays controlled.
- Power, the detectable effect and the seeds needed: :mod:`hem_bench.results.power`.
- Seed-unit tests of dependent measurements (:func:`seed_unit_test`,
  :func:`pair_jackknife_test`): when one value comes from each seed, a one-sample t-test
  over seeds; when a value comes from each *pair* of seeds (a network of seed s compared
  with one of seed s'), their mean is a U-statistic of the seeds, and its standard error
  is the leave-one-seed-out jackknife (Arvesen 1969, "Jackknifing U-statistics", Ann. Math.
  Statist. 40): ``Var = (S-1)/S sum_i (U_(-i) - mean_i U_(-i))^2`` over the S seeds, with a
  t-test of S - 1 degrees of freedom.
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
    resample_benchmarks: bool = True,
) -> dict[str, np.ndarray]:
    """The bootstrap of the mean rank over ``benchmarks``: each is ``(values,
    higher_is_better)`` with ``values`` a (seeds x losses) array of headlines, NaN where a
    loss has no run of that seed; the losses (columns) are the same in every benchmark.

    The draws, in this order from one generator: the benchmarks of every replicate
    (``replicates x B`` indices, when ``resample_benchmarks``; else every benchmark once),
    then for each drawn slot in turn and each benchmark in turn, the seeds of the
    replicates that drew that benchmark in that slot (``rows x n`` indices).

    Returns ``low`` and ``high`` (the percentile interval of each loss's mean rank),
    ``p_first`` (the probability of the best mean rank) and ``replicates`` (the
    replicates x losses mean ranks)."""
    rng = np.random.default_rng(seed)
    count = len(benchmarks)
    losses = benchmarks[0][0].shape[1] if benchmarks else 0
    if resample_benchmarks:
        chosen = rng.integers(0, count, size=(replicates, count))
    else:
        chosen = np.tile(np.arange(count), (replicates, 1))
    total = np.zeros((replicates, losses))
    counted = np.zeros((replicates, losses))
    for slot in range(count):
        for b, (values, higher) in enumerate(benchmarks):
            rows = np.flatnonzero(chosen[:, slot] == b)
            if not len(rows):
                continue
            values = np.asarray(values, dtype=float)
            n = values.shape[0]
            draws = rng.integers(0, n, size=(len(rows), n))
            with np.errstate(invalid="ignore"), warnings_off():
                means = np.nanmean(values[draws], axis=1)  # rows x losses
            ranks = _ranks(means, higher)
            present = ~np.isnan(ranks)
            total[rows] += np.where(present, ranks, 0.0)
            counted[rows] += present
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


# -- equivalence ---------------------------------------------------------------------------


def equivalence_test(differences, margin: float) -> dict[str, Any]:
    """Whether the mean of the paired ``differences`` lies within ``±margin`` (module
    docstring): ``p_tost`` (Schuirmann's two one-sided tests: the larger of their
    p-values), ``p_beyond`` (one-sided, beyond the margin on the estimate's side), ``p``
    (``min(1, 2 min(p_tost, p_beyond))``, the comparison's p-value in a family) and
    ``decision``: ``within`` or ``beyond``, the one ``p`` stands for. Constant differences
    decide by their value (p 0 or 1); fewer than two give NaN."""
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    out = {"p_tost": math.nan, "p_beyond": math.nan, "p": math.nan, "decision": ""}
    if len(d) < MIN_PAIRS or not margin > 0:
        return out
    mean, df = float(d.mean()), len(d) - 1
    se = float(d.std(ddof=1)) / math.sqrt(len(d))
    if se == 0:
        p_tost = 0.0 if abs(mean) < margin else 1.0
        p_beyond = 0.0 if abs(mean) > margin else 1.0
    else:
        p_tost = max(
            float(stats.t.sf((mean + margin) / se, df)),  # H0: difference <= -margin
            float(stats.t.cdf((mean - margin) / se, df)),  # H0: difference >= +margin
        )
        p_beyond = float(stats.t.sf((abs(mean) - margin) / se, df))  # H0: |difference| <= margin
    decision = "within" if p_tost <= p_beyond else "beyond"
    out.update(
        p_tost=p_tost,
        p_beyond=p_beyond,
        p=min(1.0, 2.0 * min(p_tost, p_beyond)),
        decision=decision,
    )
    return out


# -- which tests a family holds --------------------------------------------------------------

#: a t-test whose design could declare significant, at Holm's first step, only an observed
#: effect above this many standard deviations of its per-seed differences is shown
#: descriptively and kept out of its family. With 5 seeds the threshold is 3.2 standard
#: deviations in a family of 24 and 3.7 in one of 42; with 3 seeds it is 12.6 and 16.7,
#: and with 4 seeds 5.0 in a family of 24: such a test spends the family's level without a
#: realistic chance to reject (the spread of its differences is estimated from two or three
#: degrees of freedom)
DECIDABLE_EFFECT = 5.0


@dataclass(frozen=True)
class Design:
    """What a test's chance to reach significance depends on, known before its outcome:
    ``kind`` ``t`` (a t-test of ``n`` values, n - 1 degrees of freedom) or ``exact`` (a
    permutation test whose smallest attainable two-sided p-value is ``p_min``)."""

    kind: str
    n: int = 0
    p_min: float = 0.0

    def decidable(self, m: int, alpha: float = ALPHA) -> bool:
        """Whether the test can be significant at Holm's first step in a family of m."""
        if self.kind == "exact":
            return self.p_min * m < alpha
        return self.n >= MIN_PAIRS and significance_threshold(self.n, alpha / m) <= DECIDABLE_EFFECT

    def largest_family(self, alpha: float = ALPHA, limit: int = 10**6) -> int:
        """The largest family size m at which the test is decidable (0: none)."""
        if not self.decidable(1, alpha):
            return 0
        low, high = 1, limit
        while low < high:  # decidable is monotone in m
            middle = (low + high + 1) // 2
            if self.decidable(middle, alpha):
                low = middle
            else:
                high = middle - 1
        return low


def significance_threshold(n: int, level: float) -> float:
    """The smallest standardized effect (|mean| / sd) that a two-sided one-sample t-test of
    ``n`` values declares significant at ``level``: ``t_{1-level/2, n-1} / sqrt(n)``."""
    from scipy import stats

    if n < MIN_PAIRS:
        return math.inf
    return float(stats.t.ppf(1.0 - level / 2.0, n - 1) / math.sqrt(n))


def admitted(designs: list[Design | None], alpha: float = ALPHA) -> list[bool]:
    """Which of the candidate tests enter the corrected family (None: no test): the
    designs grouped by how large a family each tolerates (:meth:`Design.largest_family`),
    the most tolerant group first, each group added while the family it makes is no
    larger than every member tolerates. Depends on the designs only, never on outcomes."""
    tolerance = [d.largest_family(alpha) if d is not None else 0 for d in designs]
    keep = [False] * len(designs)
    size = 0
    for level in sorted({t for t in tolerance if t > 0}, reverse=True):
        members = [i for i, t in enumerate(tolerance) if t == level]
        if size + len(members) > level:
            break
        size += len(members)
        for i in members:
            keep[i] = True
    return keep


#: exact permutation p-values for Spearman's rho up to this many points (8! = 40320)
EXACT_SPEARMAN = 8


def spearman_test(x, y) -> dict[str, Any]:
    """Spearman's ρ of ``x`` and ``y`` and its two-sided p-value: exact (every pairing,
    ``scipy.stats.permutation_test``) up to :data:`EXACT_SPEARMAN` points, so that its
    smallest attainable value ``2 / n!`` is known (``design``), else scipy's t
    approximation (``spearmanr``)."""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    rho = float(stats.spearmanr(x, y).statistic)
    if n <= EXACT_SPEARMAN:
        result = stats.permutation_test(
            (x,),
            lambda a: stats.spearmanr(a, y).statistic,
            permutation_type="pairings",
            n_resamples=math.inf,
            alternative="two-sided",
        )
        p = float(result.pvalue)
        design = Design("exact", n=n, p_min=min(1.0, 2.0 / math.factorial(n)))
    else:
        p = float(stats.spearmanr(x, y).pvalue)
        design = Design("t", n=n - 1)  # the t approximation: n - 2 degrees of freedom
    return {"rho": rho, "p": p, "n": n, "design": design}


# -- tests with the seed as the unit -----------------------------------------------------------


def seed_unit_test(values) -> dict[str, Any]:
    """A two-sided one-sample t-test that the mean of one value per seed is zero: ``n``,
    ``mean``, ``sd``, the 95 % t-interval (``ci low``, ``ci high``) and ``p``."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    low, high = t_interval(v)
    p = math.nan
    if len(v) >= MIN_PAIRS and np.ptp(v) > 0:
        p = float(stats.ttest_1samp(v, 0.0).pvalue)
    return {
        "n": len(v),
        "mean": float(v.mean()) if len(v) else math.nan,
        "sd": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
        "ci low": low,
        "ci high": high,
        "p": p,
    }


def pair_jackknife_test(values: dict[tuple[Any, Any], float]) -> dict[str, Any]:
    """A two-sided test that the mean of values measured on pairs of seeds (``{(s, s'):
    value}``, each unordered pair once) is zero, with the seed as the unit: the mean over
    pairs and its leave-one-seed-out jackknife standard error (module docstring), t with
    S - 1 degrees of freedom. ``n`` is the number of seeds S; NaN below three seeds."""
    from scipy import stats

    pairs = {tuple(sorted(k)): float(v) for k, v in values.items() if not math.isnan(v)}
    seeds = sorted({s for pair in pairs for s in pair})
    out = {"n": len(seeds), "pairs": len(pairs), "mean": math.nan, "se": math.nan}
    out.update({"ci low": math.nan, "ci high": math.nan, "p": math.nan})
    if not pairs:
        return out
    out["mean"] = float(np.mean(list(pairs.values())))
    if len(seeds) < 3:
        return out
    left_out = []
    for seed in seeds:
        rest = [v for pair, v in pairs.items() if seed not in pair]
        if not rest:
            return out
        left_out.append(float(np.mean(rest)))
    s = len(seeds)
    loo = np.asarray(left_out)
    se = math.sqrt((s - 1) / s * float(((loo - loo.mean()) ** 2).sum()))
    out["se"] = se
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, s - 1)) * se
    out["ci low"], out["ci high"] = out["mean"] - half, out["mean"] + half
    if se > 0:
        out["p"] = float(2.0 * stats.t.sf(abs(out["mean"]) / se, s - 1))
    return out
