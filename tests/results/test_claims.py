"""The papers' claims, re-tested: verdicts from Holm-corrected paired tests on stores made
so that each verdict is known, and the table in the Markdown and the README."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from scipy import stats

from hem_bench.results.claims import hem_claims
from hem_bench.results.kornblith import LAYERS, NOT_MEASURED
from hem_bench.results.leaderboard import build
from hem_bench.results.markdown import CLAIMS_END, CLAIMS_START
from hem_bench.results.stats import holm
from hem_bench.results.store import RecordWarning, load_results
from tests.results.conftest import call
from tests.results.records import record, write

SEEDS = 5
HEADLINES = {
    "ood": "auroc",
    "adversarial": "robust_acc",
    "imbalanced": "balanced_acc",
    "continual": "avg_acc",
    "segmentation": "miou",
    "classify": "acc",
}
NOISE = np.array([0.003, -0.002, 0.001, -0.004, 0.002])
WIDE = np.array([0.08, -0.09, 0.07, -0.06, 0.01])


def values() -> dict[tuple[str, str, float], np.ndarray]:
    """(task, loss, lr) -> per-seed headlines, built so that each claim's verdict is known."""
    base = np.array([0.80, 0.82, 0.81, 0.79, 0.83])
    out = {}
    for task in HEADLINES:
        out[(task, "ce", 0.1)] = base.copy()
    # HEM vs CE: better on ood (holds), worse on adversarial (does not hold), no clear
    # difference on imbalanced (inconclusive), as accurate on classify (holds)
    out[("ood", "hem", 0.1)] = base + 0.05 + NOISE
    out[("adversarial", "hem", 0.1)] = base - 0.1 + NOISE
    out[("imbalanced", "hem", 0.1)] = base + WIDE
    out[("classify", "hem", 0.1)] = base + NOISE
    out[("continual", "hem", 0.1)] = base + 0.1 + NOISE
    # segmentation: hem better at the recipe's lr, worse at lr/10
    out[("segmentation", "hem", 0.1)] = base + 0.06 + NOISE
    out[("segmentation", "ce", 0.01)] = base - 0.1
    out[("segmentation", "hem", 0.01)] = base - 0.2 + NOISE
    # LogitNorm as good as HEM on ood (within ±0.02: holds); no continual runs
    out[("ood", "logitnorm", 0.1)] = out[("ood", "hem", 0.1)] + NOISE[::-1] / 3
    # dice: poorer than hem on every task where it ran, but better on segmentation
    for task in HEADLINES:
        if task != "continual":
            out[(task, "dice", 0.1)] = out[(task, "hem", 0.1)] - 0.1 + NOISE[::-1]
    out[("segmentation", "dice", 0.1)] = out[("segmentation", "hem", 0.1)] + 0.1 + NOISE[::-1]
    return out


@pytest.fixture
def store(tmp_path):
    for (task, loss, lr), numbers in values().items():
        dataset = "digit-scenes" if task == "segmentation" else "digits"
        config = {"lr": lr}
        for seed, value in enumerate(numbers):
            data = record(
                task, dataset, loss, seed, {HEADLINES[task]: float(value)}, HEADLINES[task]
            )
            data["config"] = config
            write(tmp_path, f"{task}-{loss}-{lr}-{seed}", data)
    return tmp_path


def board_of(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordWarning)
        return build(load_results(folder).frame)


def test_verdicts_follow_the_corrected_tests(store):
    """Each claim's verdict is the one the store was made for; missing runs are
    inconclusive, and Kornblith et al.'s claims say they were not measured."""
    claims = board_of(store).claims.set_index("claim")["holds here?"].to_dict()
    assert claims == {
        "HEM better than CE at unknown-class rejection": "holds",
        "HEM better than CE at adversarial robustness": "does not hold",
        "HEM better than CE on imbalanced data": "inconclusive",
        "HEM better than CE at continual learning": "holds",
        "HEM better than CE at segmentation": "holds",
        "HEM as accurate as CE on clean data": "holds",
        "LogitNorm as good as HEM at unknown-class rejection": "holds",
        "LogitNorm poorer than HEM at continual learning": "inconclusive",
        "LogitNorm poorer than HEM at segmentation": "inconclusive",
        "logit-adjusted better than HEM on imbalanced data": "inconclusive",
        "logit-adjusted poorer than HEM at unknown-class rejection": "inconclusive",
        "logit-adjusted poorer than HEM at segmentation": "inconclusive",
        "Dice poorer than HEM on every task": "does not hold",
        "objectives that improve accuracy separate the classes more": "inconclusive",
        "more class separation, less transferable features": "inconclusive",
        LAYERS: "inconclusive",
    }


def _equivalence_p(d: np.ndarray, margin: float) -> float:
    """The equivalence decision's p-value by hand: twice the smaller of TOST's p (the larger
    of its two one-sided p-values) and the one-sided p beyond the margin."""
    se = d.std(ddof=1) / np.sqrt(len(d))
    df = len(d) - 1
    p_tost = max(
        1 - stats.t.cdf((d.mean() + margin) / se, df), stats.t.cdf((d.mean() - margin) / se, df)
    )
    p_beyond = 1 - stats.t.cdf((abs(d.mean()) - margin) / se, df)
    return min(1.0, 2 * min(p_tost, p_beyond))


def test_holm_family_is_every_test_of_the_table(store):
    """The p-value shown for a claim is its paired t-test (scipy) Holm-corrected over
    every test of the table, the lr/10 segmentation tests included; "as good as" enters
    with its equivalence p-value (margin: a quarter of the reference's error rate for
    accuracy, 0.01 for AUROC)."""
    data = values()
    raw = []
    for claim in hem_claims():
        for task in claim.tasks:
            for lr in (0.1, 0.01) if task == "segmentation" else (0.1,):
                a, b = data.get((task, claim.a, lr)), data.get((task, claim.b, lr))
                if a is None or b is None:
                    continue
                if claim.relation == "equal":
                    margin = 0.25 * (1 - b.mean()) if task == "classify" else 0.01
                    p = _equivalence_p(a - b, margin)
                else:
                    p = stats.ttest_rel(a, b).pvalue
                raw.append(((claim.text, task, lr), p))
    corrected = dict(zip([k for k, _ in raw], holm([p for _, p in raw])))
    board = board_of(store)
    # 6 HEM-CE + 1 at lr/10 + 1 LogitNorm + 5 Dice (no continual run)
    assert board.claims.attrs["family"] == board.claims_family == len(raw) == 13
    shown = board.claims.set_index("claim")["what the grid shows"]
    text = shown["HEM better than CE at unknown-class rejection"]
    expected = corrected[("HEM better than CE at unknown-class rejection", "ood", 0.1)]
    assert f"Holm p={expected:.3g}" in text
    d = data[("ood", "hem", 0.1)] - data[("ood", "ce", 0.1)]
    assert f"= {d.mean():+.4f} [" in text and "n=5" in text
    text = shown["HEM as accurate as CE on clean data"]
    expected = corrected[("HEM as accurate as CE on clean data", "classify", 0.1)]
    assert (
        f"equivalence p={dict(raw)[('HEM as accurate as CE on clean data', 'classify', 0.1)]:.3g}"
        in text
    )
    assert f"Holm p={expected:.3g}" in text
    # segmentation: the verdict at the recipe's lr and at lr/10 are both stated
    segmentation = shown["HEM better than CE at segmentation"]
    assert re.search(r"at recipe lr 0\.1: .* → holds", segmentation)
    assert re.search(r"at lr 0\.01: .* → does not hold", segmentation)
    assert (
        "continual: logitnorm and hem not both run"
        in shown["LogitNorm poorer than HEM at continual learning"]
    )
    assert shown["more class separation, less transferable features"] == NOT_MEASURED


#: Kornblith et al.'s synthetic study: 6 losses x 5 seeds, 3 layers
K_LOSSES = ["ce", "sigmoid-ce", "focal", "hem-plus", "label-smoothing", "logitnorm"]
K_SEEDS = range(5)
K_LAYERS = ["conv1", "conv2", "fc"]


def _cka_between(seed: int, a: str, b: str) -> dict[str, float]:
    """Same-seed CKA between two losses' networks: high at the first layer, lower at the
    last, varying with the seed and the pair (a function symmetric in a and b)."""
    pair = (K_LOSSES.index(a) + K_LOSSES.index(b)) / 100
    return {"conv1": 0.95 - seed / 100 + pair / 10, "conv2": 0.8, "fc": 0.4 + seed / 50 + pair}


def _cka_across(s: int, t: int, a: str, b: str) -> dict[str, float]:
    """CKA between loss a's network of seed s and loss b's of seed t: one loss across seeds
    stays alike at the last layer (0.7 + ...), different losses do not (0.45 + ...)."""
    pair = (K_LOSSES.index(a) + K_LOSSES.index(b)) / 200
    if a == b:
        return {"conv1": 0.96, "conv2": 0.85, "fc": 0.7 + (s * 7 + t * 3) % 5 / 50 + pair}
    return {"conv1": 0.95, "conv2": 0.8, "fc": 0.45 + (s + 2 * t) % 3 / 40 + pair}


def _kornblith_store(folder):
    separation = dict(zip(K_LOSSES, [0.30, 0.50, 0.35, 0.45, 0.40, 0.55]))
    acc = dict(zip(K_LOSSES, [0.90, 0.95, 0.91, 0.94, 0.92, 0.96]))
    transfer = dict(zip(K_LOSSES, [0.70, 0.55, 0.66, 0.60, 0.63, 0.50]))
    for seed in K_SEEDS:
        for loss in K_LOSSES:
            metrics = {
                "acc": acc[loss] + seed / 1000,
                "analysis/class_separation": separation[loss] + seed / 1000,
                "analysis/transfer_acc": transfer[loss] - seed / 1000,
            }
            data = record("classify", "digits", loss, seed, metrics, "acc")
            data["analysis"] = {
                "label": loss,
                "layers": K_LAYERS,
                "cka_to": {o: _cka_between(seed, loss, o) for o in K_LOSSES if o != loss},
                "cka_other_seeds": {
                    str(t): {
                        o: _cka_across(*((seed, t, loss, o) if seed < t else (t, seed, o, loss)))
                        for o in K_LOSSES
                    }
                    for t in K_SEEDS
                    if t != seed
                },
            }
            write(folder, f"{loss}-{seed}", data)
    return separation, acc, transfer


def test_kornblith_claims_from_analysis_records(tmp_path):
    """With analyze's results in the records: Spearman correlations across losses (exact
    permutation p, scipy), and the CKA claim with the seed as the unit, both parts checked
    against a hand computation: per seed, the mean over loss pairs of first - last layer,
    a one-sample t-test over seeds; per pair of seeds, one loss's CKA across the seeds minus
    different losses' at the last layer, averaged over pairs, the leave-one-seed-out
    jackknife standard error, t with S - 1 degrees of freedom; Holm over the family of 4."""
    from itertools import combinations, permutations

    separation, acc, transfer = _kornblith_store(tmp_path)
    board = board_of(tmp_path)
    claims = board.claims.set_index("claim")
    # Spearman: exact two-sided p over every permutation (6! = 720), by a loop
    x = [separation[k] for k in K_LOSSES]
    y = [acc[k] for k in K_LOSSES]
    rho = stats.spearmanr(x, y).statistic
    perms = [stats.spearmanr(x, list(p)).statistic for p in permutations(y)]
    p_rho = min(
        1.0,
        2 * min(np.mean(np.array(perms) >= rho - 1e-12), np.mean(np.array(perms) <= rho + 1e-12)),
    )
    # the CKA claim, part 1: the seed as the unit
    drops = []
    for seed in K_SEEDS:
        pairs = [_cka_between(seed, a, b) for a, b in combinations(K_LOSSES, 2)]
        drops.append(np.mean([v["conv1"] - v["fc"] for v in pairs]))
    p_drop = stats.ttest_1samp(drops, 0.0).pvalue
    # part 2: per seed pair, same-loss minus different-loss CKA at the last layer
    gaps = {}
    for s, t in combinations(K_SEEDS, 2):
        same = np.mean([_cka_across(s, t, a, a)["fc"] for a in K_LOSSES])
        other = np.mean(
            [_cka_across(s, t, a, b)["fc"] for a in K_LOSSES for b in K_LOSSES if a != b]
        )
        gaps[(s, t)] = same - other
    mean_gap = np.mean(list(gaps.values()))
    left_out = [np.mean([v for k, v in gaps.items() if i not in k]) for i in K_SEEDS]
    S = len(K_SEEDS)
    se = np.sqrt((S - 1) / S * np.sum((np.array(left_out) - np.mean(left_out)) ** 2))
    p_gap = 2 * stats.t.sf(abs(mean_gap) / se, S - 1)
    p_transfer = None
    x_t = [transfer[k] for k in K_LOSSES]
    perms_t = [stats.spearmanr(x, list(p)).statistic for p in permutations(x_t)]
    rho_t = stats.spearmanr(x, x_t).statistic
    p_transfer = min(
        1.0,
        2
        * min(
            np.mean(np.array(perms_t) >= rho_t - 1e-12), np.mean(np.array(perms_t) <= rho_t + 1e-12)
        ),
    )
    corrected = holm([p_rho, p_transfer, p_drop, p_gap])
    assert board.claims_family == 4
    row = claims.loc["objectives that improve accuracy separate the classes more"]
    text = row["what the grid shows"]
    assert f"ρ(separation, accuracy) = {rho:+.2f} over 6 losses" in text
    assert f"exact p={p_rho:.3g}, Holm p={corrected[0]:.3g}" in text
    assert row["holds here?"] == ("holds" if corrected[0] < 0.05 else "inconclusive")
    row = claims.loc["more class separation, less transferable features"]
    assert "ρ(separation, transfer) = -1.00" in row["what the grid shows"]
    assert row["holds here?"] == "holds" and corrected[1] < 0.05
    text = claims.at[LAYERS, "what the grid shows"]
    assert f"first layer − fc = {np.mean(drops):+.3f}" in text
    assert f"n=5 seeds, p={p_drop:.3g}, Holm p={corrected[2]:.3g}" in text
    found = re.search(
        r"at the fc, one loss − different losses = ([+-][\d.]+) .*\(10 seed pairs, jackknife "
        r"over seeds\), p=([\d.e+-]+), Holm p=([\d.e+-]+)",
        text,
    )
    assert found, text
    assert float(found.group(1)) == pytest.approx(mean_gap, abs=6e-4)
    assert float(found.group(2)) == pytest.approx(p_gap, rel=5e-3)
    assert float(found.group(3)) == pytest.approx(corrected[3], rel=5e-3)
    assert corrected[2] < 0.05 and corrected[3] < 0.05
    assert claims.at[LAYERS, "holds here?"] == "holds"


def test_a_pair_jackknife_matches_a_loop():
    """The jackknife test of values on seed pairs against the formula, by a loop."""
    from hem_bench.results.stats import pair_jackknife_test

    values = {(0, 1): 0.3, (0, 2): 0.1, (1, 2): 0.25, (0, 3): 0.2, (1, 3): 0.05, (2, 3): 0.15}
    result = pair_jackknife_test(values)
    loo = [np.mean([v for k, v in values.items() if i not in k]) for i in range(4)]
    se = np.sqrt(3 / 4 * sum((x - np.mean(loo)) ** 2 for x in loo))
    assert result["mean"] == pytest.approx(np.mean(list(values.values())))
    assert result["se"] == pytest.approx(se)
    assert result["p"] == pytest.approx(2 * stats.t.sf(result["mean"] / se, 3))
    half = stats.t.ppf(0.975, 3) * se
    assert (result["ci low"], result["ci high"]) == pytest.approx(
        (result["mean"] - half, result["mean"] + half)
    )
    assert np.isnan(pair_jackknife_test({(0, 1): 0.3})["p"])  # two seeds: no jackknife


def test_the_claims_reach_the_markdown_and_the_readme(store, tmp_path):
    """``--format md``: the claims section in leaderboard.md, and the table written
    between the markers of README.md in the output folder (the rest kept)."""
    out = tmp_path / "out"
    out.mkdir()
    readme = out / "README.md"
    readme.write_text(f"# Example\n\nbefore\n\n{CLAIMS_START}\nold\n{CLAIMS_END}\n\nafter\n")
    result = call(["leaderboard", "--results", str(store), "--out", str(out), "--format", "md"])
    assert result.code == 0, result.stderr
    markdown = (out / "leaderboard.md").read_text()
    assert "## The papers' claims, re-tested" in markdown
    assert "| claim | source | what the grid shows | holds here? |" in markdown
    text = readme.read_text()
    assert text.startswith("# Example\n\nbefore\n\n" + CLAIMS_START)
    assert text.endswith(CLAIMS_END + "\n\nafter\n") and "\nold\n" not in text
    assert "| HEM better than CE at adversarial robustness | Spratling" in text
    assert str(readme) in result.stdout
    result = call(["leaderboard", "--results", str(store), "--out", str(out), "--format", "json"])
    data = json.loads((out / "leaderboard.json").read_text())
    assert data["claims_family"] == 13 and len(data["claims"]) == 16
    assert data["exploratory_family"] == data["family"]
    assert data["claims"][0]["holds here?"] == "holds"
    # run again: the same README (the markers stay, the table is replaced, not repeated)
    call(["leaderboard", "--results", str(store), "--out", str(out), "--format", "md"])
    assert readme.read_text() == text
