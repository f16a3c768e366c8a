"""The statistics: t-intervals, Holm's correction, the bootstrap of the ranking, and their
use in the leaderboard, checked against hand-computed values and scipy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from hem_bench.results.leaderboard import build
from hem_bench.results.stats import bootstrap_mean_ranks, holm, t_interval
from hem_bench.results.store import RecordWarning, load_results
from tests.results.records import record, write


def test_t_interval_by_hand():
    """[1, 2, 3, 4]: mean 2.5, s = sqrt(5/3), t(0.975, 3) = 3.182446305284263 (table)."""
    low, high = t_interval([1, 2, 3, 4])
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2
    assert low == pytest.approx(2.5 - half, rel=1e-12)
    assert high == pytest.approx(2.5 + half, rel=1e-12)
    assert all(math.isnan(v) for v in t_interval([0.5]))
    assert t_interval([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3))
    assert t_interval([1.0, float("nan"), 3.0]) == pytest.approx(
        stats.t.interval(0.95, 1, loc=2.0, scale=stats.sem([1.0, 3.0]))
    )


def test_holm_by_hand():
    """p = 0.01, 0.04, 0.03, 0.005 (m = 4). Sorted: 0.005, 0.01, 0.03, 0.04, times
    4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04; running maximum: 0.02, 0.03, 0.06, 0.06."""
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # capped at 1: 0.5 x 2 = 1.0, then max(1.0, 0.6) = 1.0
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    # NaN (no test) stays NaN and is not counted: m = 2
    out = holm([float("nan"), 0.02, 0.04])
    assert math.isnan(out[0]) and out[1:] == pytest.approx([0.04, 0.04])
    assert holm([]).shape == (0,)
    # ties keep their order and get the same adjusted value
    assert holm([0.01, 0.01, 0.2]) == pytest.approx([0.03, 0.03, 0.2])


def _naive_bootstrap(benchmarks, replicates, seed, resample_benchmarks=True):
    """The bootstrap of the mean rank as a plain loop over the same draws: the benchmarks of
    every replicate, then for each slot and each benchmark the seeds of the replicates that
    drew it there."""
    rng = np.random.default_rng(seed)
    count = len(benchmarks)
    if resample_benchmarks:
        chosen = rng.integers(0, count, size=(replicates, count))
    else:
        chosen = np.tile(np.arange(count), (replicates, 1))
    seeds = {}  # (replicate, slot) -> drawn seed indices
    for slot in range(count):
        for b, (values, _) in enumerate(benchmarks):
            rows = [r for r in range(replicates) if chosen[r, slot] == b]
            draws = rng.integers(0, values.shape[0], size=(len(rows), values.shape[0]))
            for r, draw in zip(rows, draws):
                seeds[(r, slot)] = draw
    losses = benchmarks[0][0].shape[1]
    out = np.zeros((replicates, losses))
    for r in range(replicates):
        ranks = [[] for _ in range(losses)]
        for slot in range(count):
            values, higher = benchmarks[chosen[r, slot]]
            draw = seeds[(r, slot)]
            means = []
            for j in range(losses):
                picked = [values[i, j] for i in draw if not math.isnan(values[i, j])]
                means.append(sum(picked) / len(picked) if picked else math.nan)
            present = [j for j in range(losses) if not math.isnan(means[j])]
            for j in present:
                better = sum(
                    1 for k in present if (means[k] > means[j] if higher else means[k] < means[j])
                )
                equal = sum(1 for k in present if means[k] == means[j])
                ranks[j].append(better + (equal + 1) / 2)
        out[r] = [sum(x) / len(x) if x else math.nan for x in ranks]
    return out


def test_bootstrap_matches_a_plain_loop_and_is_reproducible():
    """Two benchmarks (one lower-is-better, one with a missing run): the replicates' mean
    ranks equal a plain loop's over the same draws; the same seed gives the same result."""
    a = np.array([[0.9, 0.8, 0.85], [0.88, 0.9, 0.8], [0.91, 0.86, 0.87], [0.9, 0.9, 0.7]])
    b = np.array([[0.2, 0.3, 0.25], [0.22, 0.21, np.nan], [0.3, 0.2, 0.4], [0.1, 0.3, 0.2]])
    benches = [(a, True), (b, False)]
    got = bootstrap_mean_ranks(benches, replicates=300, seed=7)
    expected = _naive_bootstrap(benches, 300, 7)
    fixed = bootstrap_mean_ranks(benches, replicates=300, seed=7, resample_benchmarks=False)
    assert fixed["replicates"] == pytest.approx(_naive_bootstrap(benches, 300, 7, False))
    # redrawing the benchmarks as well widens the intervals (here: each loss's)
    assert np.all(got["high"] - got["low"] >= fixed["high"] - fixed["low"] - 1e-12)
    assert got["replicates"] == pytest.approx(expected)
    assert got["low"] == pytest.approx(np.quantile(expected, 0.025, axis=0))
    assert got["high"] == pytest.approx(np.quantile(expected, 0.975, axis=0))
    best = expected.min(axis=1, keepdims=True)
    first = np.isclose(expected, best)
    assert got["p_first"] == pytest.approx((first / first.sum(axis=1, keepdims=True)).mean(0))
    assert sum(got["p_first"]) == pytest.approx(1.0)
    again = bootstrap_mean_ranks(benches, replicates=300, seed=7)
    assert again["replicates"] == pytest.approx(got["replicates"])


def test_a_loss_best_on_every_seed_is_surely_first():
    """A loss better on every seed of every benchmark ranks first in every replicate."""
    values = np.array([[0.9, 0.5, 0.4], [0.95, 0.6, 0.3], [0.92, 0.4, 0.45]])
    got = bootstrap_mean_ranks([(values, True), (values, True)], replicates=200)
    assert got["low"][0] == got["high"][0] == 1.0
    assert got["p_first"].tolist() == pytest.approx([1.0, 0.0, 0.0])


def load(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordWarning)
        return load_results(folder).frame


VALUES = {
    ("ood", "ce"): [0.80, 0.82, 0.81, 0.79],
    ("ood", "hem"): [0.86, 0.87, 0.88, 0.86],
    ("ood", "focal"): [0.81, 0.81, 0.83, 0.80],
    ("classify", "ce"): [0.95, 0.96, 0.97, 0.95],
    ("classify", "hem"): [0.955, 0.962, 0.968, 0.957],
    ("classify", "focal"): [0.94, 0.95, 0.95, 0.93],
}


@pytest.fixture
def board(tmp_path):
    headline = {"ood": "auroc", "classify": "acc"}
    for (task, loss), values in VALUES.items():
        for seed, value in enumerate(values):
            data = record(task, "digits", loss, seed, {headline[task]: value}, headline[task])
            write(tmp_path, f"{task}-{loss}-{seed}", data)
    return build(load(tmp_path))


def test_benchmark_tables_have_t_intervals(board):
    """Each loss's headline mean with scipy's 95 % t-interval over its seeds."""
    for table in board.tables:
        for loss in table.losses():
            values = VALUES[(table.task, loss)]
            low, high = stats.t.interval(
                0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values)
            )
            assert table.stats.at[loss, f"{table.headline} ci low"] == pytest.approx(low)
            assert table.stats.at[loss, f"{table.headline} ci high"] == pytest.approx(high)
        assert "95% CI" in table.display().columns


def test_paired_comparisons_are_holm_corrected_over_the_exploratory_family(board):
    """Four comparisons (hem, focal x ood, classify): scipy's paired t-test p-values, the
    effect size and its t-interval; hem against ce are claims (better at rejection, as
    accurate on clean data) and keep the claims' verdicts; focal's two are the exploratory
    family, Holm-corrected by hand over the two."""
    paired = board.paired.set_index(["benchmark", "loss"])
    assert board.family == 2 and len(paired) == 4
    raw = {}
    for task in ("ood", "classify"):
        for loss in ("hem", "focal"):
            x, b = np.array(VALUES[(task, loss)]), np.array(VALUES[(task, "ce")])
            raw[(f"{task}/digits", loss)] = stats.ttest_rel(x, b).pvalue
            row = paired.loc[(f"{task}/digits", loss)]
            d = x - b
            assert row["mean diff"] == pytest.approx(d.mean())
            low, high = stats.t.interval(0.95, 3, loc=d.mean(), scale=stats.sem(d))
            assert (row["ci low"], row["ci high"]) == pytest.approx((low, high))
            assert row["t-test p"] == pytest.approx(raw[(f"{task}/digits", loss)])
    # Holm by hand over focal's two: sort, multiply by m - i, running maximum, cap at 1
    keys = sorted([k for k in raw if k[1] == "focal"], key=raw.get)
    running, expected = 0.0, {}
    for i, key in enumerate(keys):
        running = max(running, min(1.0, (2 - i) * raw[key]))
        expected[key] = running
    for key, value in expected.items():
        assert paired.loc[key, "holm p"] == pytest.approx(value)
        assert paired.loc[key, "family"] == "exploratory"
        word = paired.loc[key, "verdict"]
        if value < 0.05:
            assert word.startswith("better" if paired.loc[key, "mean diff"] > 0 else "worse")
        else:
            assert word == "no significant difference"
    claims = board.claims.set_index("claim")["holds here?"]
    for key, claim in (
        (("ood/digits", "hem"), "HEM better than CE at unknown-class rejection"),
        (("classify/digits", "hem"), "HEM as accurate as CE on clean data"),
    ):
        assert paired.loc[key, "family"] == "claims"
        assert paired.loc[key, "verdict"] == f"claim “{claim}”: {claims[claim]}"
    assert claims["HEM better than CE at unknown-class rejection"] == "holds"


def test_the_ranking_carries_its_bootstrap_interval(board):
    """Mean ranks (hem 1.5, ce 2.0... by hand) with intervals that contain them, and the
    probabilities of ranking first summing to 1."""
    ranks = board.ranks.set_index("loss")
    # ood: hem 1, focal 2, ce 3; classify: hem 1, ce 2, focal 3
    assert ranks["mean rank"].to_dict() == {"hem": 1.0, "focal": 2.5, "ce": 2.5}
    assert (ranks["rank ci low"] <= ranks["mean rank"]).all()
    assert (ranks["rank ci high"] >= ranks["mean rank"]).all()
    assert ranks["p(first)"].sum() == pytest.approx(1.0)
    assert ranks.at["hem", "p(first)"] > 0.5
    # the overall table carries the same interval (and the report shows it)
    overall = board.overall.set_index("loss")
    assert overall["mean rank CI low"].to_dict() == ranks["rank ci low"].to_dict()
    assert overall["mean rank CI high"].to_dict() == ranks["rank ci high"].to_dict()
    assert overall["p(first)"].to_dict() == ranks["p(first)"].to_dict()
    shown = board.overall_display().set_index("loss")
    assert shown.at["hem", "mean rank CI low"] == f"{ranks.at['hem', 'rank ci low']:.2f}"
