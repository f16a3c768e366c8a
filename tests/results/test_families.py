"""The family policy on records with known effects: a large effect, a null effect, an
equivalent pair, a non-equivalent pair and a 3-seed arm. Every verdict, family size, Holm
p-value and power figure is checked against an independent computation (scipy's
distributions, loops written from the formulas), and no comparison has two verdicts."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from hem_bench.results.leaderboard import build
from hem_bench.results.report import render
from hem_bench.results.store import RecordWarning, load_results
from tests.results.records import record, write
from tests.results.test_report import Tables

ALPHA = 0.05
BASE = np.array([0.80, 0.82, 0.81, 0.79, 0.83])
NOISE = np.array([0.003, -0.002, 0.001, -0.004, 0.002])
NULL = np.array([0.010, -0.012, 0.004, -0.006, 0.003])
#: the segmentation recipe's learning rate (the main protocol) and a tenth of it (the arm)
RECIPE, ARM = 0.003, 0.0003
HEADLINES = {
    "ood": "auroc",
    "imbalanced": "balanced_acc",
    "classify": "acc",
    "segmentation": "miou",
}


def known() -> dict[tuple[str, str, float], np.ndarray]:
    """(task, loss, lr) -> per-seed headlines with known effects."""
    out = {
        (task, "ce", RECIPE if task == "segmentation" else 0.1): BASE.copy() for task in HEADLINES
    }
    out[("ood", "hem", 0.1)] = BASE + 0.05 + NOISE  # large effect
    out[("imbalanced", "hem", 0.1)] = BASE + NULL  # null effect
    out[("classify", "hem", 0.1)] = BASE + NOISE / 2  # equivalent to ce
    out[("ood", "logitnorm", 0.1)] = out[("ood", "hem", 0.1)] - 0.1 + NOISE[::-1]  # not
    out[("ood", "focal", 0.1)] = BASE + NULL[::-1]  # exploratory, null
    out[("segmentation", "hem", RECIPE)] = BASE + 0.06 + NOISE
    # the 3-seed arm at lr/10
    out[("segmentation", "ce", ARM)] = BASE[:3] - 0.2
    out[("segmentation", "hem", ARM)] = BASE[:3] - 0.1 + NOISE[:3]
    out[("segmentation", "focal", ARM)] = BASE[:3] - 0.15 + NULL[:3]
    out[("segmentation", "dice", ARM)] = BASE[:3] - 0.12 + NOISE[2::-1]
    return out


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    folder = tmp_path_factory.mktemp("known")
    for (task, loss, lr), numbers in known().items():
        dataset = "digit-scenes" if task == "segmentation" else "digits"
        for seed, value in enumerate(numbers):
            data = record(
                task, dataset, loss, seed, {HEADLINES[task]: float(value)}, HEADLINES[task]
            )
            data["config"] = {"lr": lr}
            write(folder, f"{task}-{loss}-{lr}-{seed}", data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordWarning)
        results = load_results(folder)
    return build(results.frame), results


# -- independent computations ----------------------------------------------------------------


def threshold(n: int, m: int) -> float:
    """The observed standardized effect a t-test of n values needs at Holm's first step."""
    return stats.t.ppf(1 - ALPHA / (2 * m), n - 1) / math.sqrt(n)


def fewest(m: int) -> int:
    """The fewest seeds whose t-test can be significant at Holm's first step of a family of
    m (threshold <= 5 sd), by scanning."""
    return min(n for n in range(2, 1001) if threshold(n, m) <= 5.0)


def clamped(needed: int | None, m: int) -> int | None:
    """A seeds-needed figure raised to the fewest seeds decidable in a family of m."""
    return needed and max(needed, fewest(m))


def family_of(ns: list[int]) -> list[bool]:
    """By brute force over the sets closed under "more seeds first": the largest set whose
    every member could be significant (threshold <= 5 sd) at the set's size."""
    best: set[int] = set()
    for k in sorted(set(ns), reverse=True):
        members = {i for i, n in enumerate(ns) if n >= k}
        if all(threshold(ns[i], len(members)) <= 5.0 for i in members) and len(members) > len(best):
            best = members
    return [i in best for i in range(len(ns))]


def holm_loop(p: list[float]) -> list[float]:
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


def power(d: float, n: int, level: float) -> float:
    """Two-sided one-sample t-test power from the noncentral t."""
    crit = stats.t.ppf(1 - level / 2, n - 1)
    nc = d * math.sqrt(n)
    # the lower tail is ~0 for these effects; scipy returns NaN for some of its values
    return stats.nct.sf(crit, n - 1, nc) + np.nan_to_num(stats.nct.cdf(-crit, n - 1, nc))


def detectable(n: int, level: float) -> float:
    """The effect with 80 % power, by bisection."""
    low, high = 0.0, 50.0
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if power(middle, n, level) < 0.8 else (low, middle)
    return (low + high) / 2


def seeds_for(d: float, level: float) -> int | None:
    for n in range(2, 1001):
        if power(abs(d), n, level) >= 0.8:
            return n
    return None


def equivalence(d: np.ndarray, margin: float) -> tuple[float, str]:
    se, df = d.std(ddof=1) / math.sqrt(len(d)), len(d) - 1
    tost = max(stats.t.sf((d.mean() + margin) / se, df), stats.t.cdf((d.mean() - margin) / se, df))
    beyond = stats.t.sf((abs(d.mean()) - margin) / se, df)
    return min(1.0, 2 * min(tost, beyond)), "within" if tost <= beyond else "beyond"


# -- the tests -----------------------------------------------------------------------------------


def test_claims_family_verdicts_and_power(board):
    """Five decidable claim tests (n = 5) and a 3-seed arm kept out of the family (in a
    family of 6, three seeds need an observed effect of 12 sd); Holm over the five; the
    verdicts; the power of the undecided null effect."""
    board, _ = board
    data = known()
    tests = {
        "ood": ("p", data[("ood", "hem", 0.1)] - data[("ood", "ce", 0.1)]),
        "imbalanced": ("p", data[("imbalanced", "hem", 0.1)] - BASE),
        "segmentation": ("p", data[("segmentation", "hem", RECIPE)] - BASE),
        "arm": ("p", data[("segmentation", "hem", ARM)] - data[("segmentation", "ce", ARM)]),
        "classify": ("eq", data[("classify", "hem", 0.1)] - BASE, 0.25 * (1 - BASE.mean())),
        "logitnorm": (
            "eq",
            data[("ood", "logitnorm", 0.1)] - data[("ood", "hem", 0.1)],
            0.01,
        ),
    }
    keys = list(tests)
    admitted = family_of([len(tests[k][1]) for k in keys])
    assert admitted == [k != "arm" for k in keys]
    assert threshold(3, 6) > 5 > threshold(5, 5)
    raw = {}
    for k, item in tests.items():
        raw[k] = (
            stats.ttest_1samp(item[1], 0).pvalue
            if item[0] == "p"
            else equivalence(item[1], item[2])[0]
        )
    members = [k for k, a in zip(keys, admitted) if a]
    corrected = dict(zip(members, holm_loop([raw[k] for k in members])))
    assert board.claims_family == len(members) == 5
    parts = {p.protocol + "|" + p.claim: p for p in board.claim_parts if p.test is not None}
    ood = parts["ood/digits|HEM better than CE at unknown-class rejection"].test
    assert ood.corrected == pytest.approx(corrected["ood"]) and ood.verdict == "holds"
    null = parts["imbalanced/digits|HEM better than CE on imbalanced data"].test
    assert (
        null.corrected == pytest.approx(corrected["imbalanced"]) and null.verdict == "inconclusive"
    )
    level = ALPHA / 5
    sd = (data[("imbalanced", "hem", 0.1)] - BASE).std(ddof=1)
    assert null.power["level"] == pytest.approx(level)
    assert null.power["detectable sd"] == pytest.approx(detectable(5, level), abs=1e-6)
    assert null.power["detectable"] == pytest.approx(detectable(5, level) * sd, abs=1e-6)
    observed = (data[("imbalanced", "hem", 0.1)] - BASE).mean() / sd
    assert null.power["needed"] == clamped(seeds_for(observed, level), 5)
    seg = parts["segmentation/digit-scenes|HEM better than CE at segmentation"].test
    assert seg.verdict == "holds" and seg.corrected == pytest.approx(corrected["segmentation"])
    arm = parts["segmentation/digit-scenes (lr=0.0003)|HEM better than CE at segmentation"]
    assert arm.test.status == "descriptive" and math.isnan(arm.test.corrected)
    assert arm.test.p == pytest.approx(raw["arm"]) and not arm.counts
    assert arm.test.power["level"] == pytest.approx(ALPHA / 6)  # the family it would join
    assert arm.test.power["detectable sd"] == pytest.approx(detectable(3, ALPHA / 6), abs=1e-6)
    # however large its effect, the arm would need the seeds that make it decidable there
    arm_d = tests["arm"][1]
    arm_needed = seeds_for(arm_d.mean() / arm_d.std(ddof=1), ALPHA / 6)
    assert arm.test.power["needed"] == clamped(arm_needed, 6) > 3
    eq = parts["classify/digits|HEM as accurate as CE on clean data"].test
    assert eq.p == pytest.approx(raw["classify"]) and eq.corrected == pytest.approx(
        corrected["classify"]
    )
    assert eq.verdict == "holds"
    neq = parts["ood/digits|LogitNorm as good as HEM at unknown-class rejection"].test
    assert equivalence(tests["logitnorm"][1], 0.01)[1] == "beyond"
    assert neq.corrected == pytest.approx(corrected["logitnorm"]) and neq.verdict == "does not hold"
    verdicts = board.claims.set_index("claim")["holds here?"]
    assert verdicts["HEM better than CE at unknown-class rejection"] == "holds"
    assert verdicts["HEM better than CE on imbalanced data"] == "inconclusive"
    assert verdicts["HEM better than CE at segmentation"] == "holds"  # the arm does not count
    assert verdicts["HEM as accurate as CE on clean data"] == "holds"
    assert verdicts["LogitNorm as good as HEM at unknown-class rejection"] == "does not hold"
    text = board.claims.set_index("claim").at[
        "HEM better than CE on imbalanced data", "what the grid shows"
    ]
    assert f"80 % power only for ±{detectable(5, level) * sd:.4f}" in text
    needed = clamped(seeds_for(observed, level), 5)
    assert f"would need {needed or 'more than 1000'} seeds" in text


def test_exploratory_family_and_power(board):
    """Against ce: logitnorm and focal on ood (n = 5) form the exploratory family; focal and
    dice in the 3-seed arm are descriptive (a family of 4 would need 12 sd from them), their
    power judged in that family of every candidate (4, not 3: the two are kept out
    together), their seeds needed never below what makes them decidable there; the
    comparisons that are claims keep the claims' verdicts and are not in it."""
    board, _ = board
    data = known()
    paired = board.paired.set_index(["benchmark", "loss"])
    candidates = {
        ("ood/digits", "logitnorm"): data[("ood", "logitnorm", 0.1)] - BASE,
        ("ood/digits", "focal"): data[("ood", "focal", 0.1)] - BASE,
        ("segmentation/digit-scenes (lr=0.0003)", "dice(lr=0.0003)"): data[
            ("segmentation", "dice", ARM)
        ]
        - data[("segmentation", "ce", ARM)],
        ("segmentation/digit-scenes (lr=0.0003)", "focal(lr=0.0003)"): data[
            ("segmentation", "focal", ARM)
        ]
        - data[("segmentation", "ce", ARM)],
    }
    keys = list(candidates)
    admitted = family_of([len(v) for v in candidates.values()])
    assert admitted == [True, True, False, False] and board.family == 2
    raw = [stats.ttest_1samp(candidates[k], 0).pvalue for k in keys[:2]]
    corrected = holm_loop(raw)
    for key, value in zip(keys[:2], corrected):
        assert paired.loc[key, "holm p"] == pytest.approx(value)
        assert paired.loc[key, "family"] == "exploratory"
    assert paired.loc[keys[0], "verdict"] == "worse (Holm p < 0.05)"
    assert paired.loc[keys[1], "verdict"] == "no significant difference"
    d = candidates[keys[1]]
    level = ALPHA / 2
    assert paired.loc[keys[1], "detectable sd"] == pytest.approx(detectable(5, level), abs=1e-6)
    expected = seeds_for(d.mean() / d.std(ddof=1), level)
    expected = clamped(expected, 2)
    needed = paired.loc[keys[1], "seeds needed"]
    assert needed == expected or (expected is None and math.isnan(needed))
    for key in keys[2:]:
        assert paired.loc[key, "verdict"].startswith("descriptive (n=3")
        assert math.isnan(paired.loc[key, "holm p"]) and not paired.loc[key, "family"]
        assert paired.loc[key, "detectable sd"] == pytest.approx(detectable(3, ALPHA / 4), abs=1e-6)
        d = candidates[key]
        expected = seeds_for(d.mean() / d.std(ddof=1), ALPHA / 4)
        needed = paired.loc[key, "seeds needed"]
        assert (expected is None and math.isnan(needed)) or needed == clamped(expected, 4)
    for key in (("ood/digits", "hem"), ("imbalanced/digits", "hem"), ("classify/digits", "hem")):
        assert paired.loc[key, "family"] == "claims" and paired.loc[key, "verdict"].startswith(
            "claim"
        )


def test_no_comparison_has_two_verdicts(board):
    """Every comparison that is a claim shows, in the paired tables (data, Markdown and the
    page), the claim part's corrected p-value and verdict; each (benchmark, loss) appears
    once; and the page's claims and paired tables agree."""
    board, results = board
    paired = board.paired
    assert not paired.duplicated(["benchmark", "loss"]).any()
    claimed = {
        (p.protocol, frozenset(p.losses)): p
        for p in board.claim_parts
        if p.test is not None and p.protocol
    }
    seen = 0
    for row in paired.to_dict(orient="records"):
        losses = frozenset((row["loss"].split("(")[0], row["baseline"].split("(")[0]))
        part = claimed.get((row["benchmark"], losses))
        if part is None:
            assert row["family"] in ("exploratory", "")
            continue
        seen += 1
        assert row["verdict"].endswith(f": {part.test.verdict}")
        assert part.claim in row["verdict"]
        same = math.isnan(row["holm p"]) and math.isnan(part.test.corrected)
        assert same or row["holm p"] == pytest.approx(part.test.corrected)
    assert seen == 5
    page = Tables(render(board, results))
    details = page.by_id("paired-details")
    columns = [c[0] for c in details[0]]
    assert columns.index("mean diff") < columns.index("95% CI") < columns.index("t-test p")
    assert columns.index("t-test p") < columns.index("Holm p") < columns.index("verdict")
    verdict = {
        (r[columns.index("benchmark")][0], r[0][0]): r[columns.index("verdict")][0]
        for r in details[1:]
    }
    assert verdict[("ood/digits", "hem")].endswith(": holds")
    assert verdict[("classify/digits", "hem")].endswith(": holds")
    claims = {r[0][0]: r[3][0] for r in page.by_id("claims-table")[1:]}
    assert claims["HEM better than CE at unknown-class rejection"] == "holds"
    markdown_rows = board.paired_display().set_index(["benchmark", "loss"])
    assert markdown_rows.loc[("ood/digits", "hem"), "verdict"].startswith("claim")


def test_matrix_marks_only_significant_cells_and_main_benchmarks(board):
    """The paired matrix has a column per main benchmark only (no blank lr arm), and a star
    (bold, coloured) exactly where the comparison is significant in its family."""
    board, results = board
    rows = Tables(render(board, results)).by_id("paired-matrix")
    labels = [t.label for t in board.tables if t.main]
    header = [c[0] for c in rows[0]][1:]
    assert not any("lr=" in h for h in header)
    columns = [next(label for label in labels if h.startswith(label)) for h in header]
    significant = {
        (r["loss"], r["benchmark"]): r["test"] == "t-test"
        and bool(r["family"])
        and r["holm p"] < ALPHA
        for r in board.paired.to_dict(orient="records")
    }
    stars = 0
    for row in rows[1:]:
        for label, cell in zip(columns, row[1:]):
            key = (row[0][0], label)
            if key in significant:
                assert ("*" in cell[0]) == significant[key], key
                stars += "*" in cell[0]
    assert stars == 3  # hem on ood and segmentation (claims), logitnorm on ood


def test_design_thresholds_by_hand():
    """The admission thresholds, the attainable p of an exact test, and the largest family
    a design tolerates, against scipy directly."""
    from hem_bench.results.stats import Design

    assert Design("t", n=5).decidable(42) and threshold(5, 42) == pytest.approx(3.68, abs=0.01)
    assert not Design("t", n=3).decidable(24) and threshold(3, 24) == pytest.approx(12.63, abs=0.01)
    assert Design("t", n=3).largest_family() == max(m for m in range(1, 50) if threshold(3, m) <= 5)
    exact = Design("exact", p_min=2 / math.factorial(7))
    assert exact.largest_family() == max(
        m for m in range(1, 500) if 2 / math.factorial(7) * m < ALPHA
    )
    assert not Design("exact", p_min=2 / math.factorial(4)).decidable(1)  # 4 points: p >= 1/12
