"""The power of the leaderboard's tests: what a design could detect, and how many seeds an
observed effect would need, so that every undecided verdict says whether the grid could
have decided it.

Power (:func:`t_power`, Student's noncentral t, ``scipy.stats.nct``): for a two-sided
one-sample t-test of n values at level a and a true standardized effect d (mean over the
standard deviation of the differences), ``P(|T| > t_{1-a/2, n-1})`` with T noncentral t
of n - 1 degrees of freedom and noncentrality ``d sqrt(n)``. The *detectable effect*
(:func:`detectable_effect`) is the d at which the power is :data:`POWER`; *seeds needed*
(:func:`seeds_needed`) the smallest n at which an effect d has that power. The level is
Holm's first step ``α/m`` (Bonferroni), a conservative figure for every test of the
family. For an equivalence test the power of TOST at ``α/(2m)`` per side is
``P(T_2 < -t) - P(T_1 <= t)`` (a lower bound; the noncentral t approximation of the
two tests), and beyond the margin a one-sided power. Spearman's ρ: Fisher's z with the
variance ``1.06 / (n - 3)`` of Fieller, Hartley & Pearson (1957).

Written here because no maintained library among the suite's dependencies offers these
(statsmodels' ``TTestPower`` is not a dependency); every figure comes from scipy's
noncentral t, t and normal distributions.
"""

from __future__ import annotations

import math

from hem_bench.results.stats import EXACT_SPEARMAN, MIN_PAIRS, Design

#: the largest number of seeds (or losses) a seeds-needed figure reports; beyond: None
MAX_SEEDS = 1000
#: the power of the detectable-effect and seeds-needed figures
POWER = 0.8


def t_power(effect: float, n: int, level: float) -> float:
    """The power of a two-sided one-sample t-test of ``n`` values at ``level`` against a
    true standardized effect ``effect`` (noncentral t; module docstring)."""
    from scipy import stats

    if n < MIN_PAIRS:
        return math.nan
    df, nc = n - 1, abs(effect) * math.sqrt(n)
    critical = stats.t.ppf(1.0 - level / 2.0, df)
    return _tail(critical, df, nc) + _below(-critical, df, nc)


def _tail(x: float, df: int, nc: float) -> float:
    """``P(T > x)`` for T noncentral t; scipy's value, or where it fails (NaN, far in a
    tail) the normal approximation ``P(Z > x - nc)``, accurate there."""
    from scipy import stats

    value = float(stats.nct.sf(x, df, nc))
    return value if math.isfinite(value) else float(stats.norm.sf(x - nc))


def _below(x: float, df: int, nc: float) -> float:
    """``P(T <= x)`` for T noncentral t (see :func:`_tail`)."""
    from scipy import stats

    value = float(stats.nct.cdf(x, df, nc))
    return value if math.isfinite(value) else float(stats.norm.cdf(x - nc))


def detectable_effect(n: int, level: float, power: float = POWER) -> float:
    """The standardized effect a two-sided t-test of ``n`` values at ``level`` detects with
    probability ``power`` (NaN for fewer than two values)."""
    from scipy.optimize import brentq

    if n < MIN_PAIRS:
        return math.nan
    high = 1.0
    while t_power(high, n, level) < power:
        high *= 2.0
    return float(brentq(lambda d: t_power(d, n, level) - power, 0.0, high, xtol=1e-10))


def seeds_needed(effect: float, level: float, power: float = POWER) -> int | None:
    """The fewest seeds at which a two-sided t-test at ``level`` detects a true
    standardized effect ``effect`` with probability ``power``; None when more than
    :data:`MAX_SEEDS` (or no effect) would be needed."""
    if not effect or math.isnan(effect):
        return None
    return _fewest(lambda n: t_power(effect, n, level) >= power)


def fewest_decidable(level: float, kind: str = "t") -> int:
    """The fewest seeds (``kind`` ``t``) or points of an exact Spearman test (``exact``)
    whose design can be significant at ``level`` (:meth:`~hem_bench.results.stats.Design.decidable`
    in a family of one at that level): a seeds-needed figure is never below it, since a
    design under it is shown descriptively whatever it observes."""
    if kind == "exact":
        n = 2
        while n <= EXACT_SPEARMAN and not Design("exact", n, 2.0 / math.factorial(n)).decidable(
            1, level
        ):
            n += 1
        return n
    return _fewest(lambda n: Design("t", n).decidable(1, level)) or MAX_SEEDS + 1


def _fewest(enough) -> int | None:
    """The smallest n in 2..MAX_SEEDS with ``enough(n)`` (monotone), else None."""
    if not enough(MAX_SEEDS):
        return None
    low, high = MIN_PAIRS, MAX_SEEDS
    while low < high:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle + 1
    return low


def equivalence_power(effect: float, margin: float, n: int, level: float) -> float:
    """The power of the equivalence decision of :func:`equivalence_test` made at ``level``
    (each one-sided test at ``level / 2``) for a true standardized difference ``effect``
    and a margin of ``margin`` standard deviations: TOST's power when ``|effect| <
    margin``, else the power of the test beyond the margin."""
    from scipy import stats

    if n < MIN_PAIRS:
        return math.nan
    df, root = n - 1, math.sqrt(n)
    critical = stats.t.ppf(1.0 - level / 2.0, df)
    if abs(effect) < margin:
        upper = _below(-critical, df, (abs(effect) - margin) * root)
        lower = _below(critical, df, (abs(effect) + margin) * root)
        return max(0.0, upper - lower)
    return _tail(critical, df, (abs(effect) - margin) * root)


def equivalence_seeds_needed(
    effect: float, margin: float, level: float, power: float = POWER
) -> int | None:
    """The fewest seeds at which :func:`equivalence_power` reaches ``power``; None when
    more than :data:`MAX_SEEDS` would be needed (an effect on the margin never decides)."""
    if math.isnan(effect) or abs(effect) == margin:
        return None
    return _fewest(lambda n: equivalence_power(effect, margin, n, level) >= power)


#: Fieller, Hartley & Pearson (1957): var(atanh(Spearman's rho)) ~ 1.06 / (n - 3)
SPEARMAN_VARIANCE = 1.06


def spearman_detectable(n: int, level: float, power: float = POWER) -> float:
    """The |ρ| a two-sided Spearman test of ``n`` points at ``level`` detects with
    probability ``power`` (Fisher's z; NaN for fewer than 4 points)."""
    from scipy import stats

    if n < 4:
        return math.nan
    z = stats.norm.ppf(1.0 - level / 2.0) + stats.norm.ppf(power)
    return float(math.tanh(z * math.sqrt(SPEARMAN_VARIANCE / (n - 3))))


def spearman_points_needed(rho: float, level: float, power: float = POWER) -> int | None:
    """The fewest points (losses) at which a Spearman test at ``level`` detects a true
    ``rho`` with probability ``power``; None beyond :data:`MAX_SEEDS` or for ρ = 0."""
    from scipy import stats

    if not rho or math.isnan(rho) or abs(rho) >= 1:
        return None if not rho or math.isnan(rho) else 4
    z = stats.norm.ppf(1.0 - level / 2.0) + stats.norm.ppf(power)
    n = math.ceil(3 + SPEARMAN_VARIANCE * (z / math.atanh(abs(rho))) ** 2)
    return max(n, 4) if n <= MAX_SEEDS else None
