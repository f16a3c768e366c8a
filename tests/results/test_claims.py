"""The papers' claims, re-tested: verdicts from Holm-corrected paired tests on stores made
so that each verdict is known, and the table in the Markdown and the README."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from scipy import stats

from hem_bench.results.claims import NOT_MEASURED, hem_claims
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
        "the losses' networks differ only in the last layers": "inconclusive",
    }


def test_holm_family_is_every_test_of_the_table(store):
    """The p-value shown for a claim is its paired t-test (scipy) Holm-corrected over
    every test of the table, the lr/10 segmentation tests included."""
    data = values()
    raw = []
    for claim in hem_claims():
        for task in claim.tasks:
            for lr in (0.1, 0.01) if task == "segmentation" else (0.1,):
                a, b = data.get((task, claim.a, lr)), data.get((task, claim.b, lr))
                if a is not None and b is not None:
                    raw.append(((claim.text, task, lr), stats.ttest_rel(a, b).pvalue))
    corrected = dict(zip([k for k, _ in raw], holm([p for _, p in raw])))
    board = board_of(store)
    # 6 HEM-CE + 1 at lr/10 + 1 LogitNorm + 5 Dice (no continual run)
    assert board.claims.attrs["family"] == len(raw) == 13
    shown = board.claims.set_index("claim")["what the grid shows"]
    text = shown["HEM better than CE at unknown-class rejection"]
    expected = corrected[("HEM better than CE at unknown-class rejection", "ood", 0.1)]
    assert f"Holm p={expected:.3g}" in text
    d = data[("ood", "hem", 0.1)] - data[("ood", "ce", 0.1)]
    assert f"= {d.mean():+.4f} [" in text and "n=5" in text
    # segmentation: the verdict at the recipe's lr and at lr/10 are both stated
    segmentation = shown["HEM better than CE at segmentation"]
    assert re.search(r"at recipe lr 0\.1: .* → holds", segmentation)
    assert re.search(r"at lr 0\.01: .* → does not hold", segmentation)
    assert (
        "continual: logitnorm and hem not both run"
        in shown["LogitNorm poorer than HEM at continual learning"]
    )
    assert shown["more class separation, less transferable features"] == NOT_MEASURED


def test_kornblith_claims_from_analysis_records(tmp_path):
    """With analyze's results in the records: Spearman correlations across losses (scipy)
    and the CKA at the first against the last layer."""
    separation = {"ce": 0.30, "hem": 0.45, "focal": 0.35, "dice": 0.50}
    acc = {"ce": 0.90, "hem": 0.94, "focal": 0.91, "dice": 0.95}
    transfer = {"ce": 0.70, "hem": 0.60, "focal": 0.66, "dice": 0.55}
    losses = sorted(separation)
    for seed in range(3):
        for loss in losses:
            metrics = {
                "acc": acc[loss] + seed / 1000,
                "analysis/class_separation": separation[loss] + seed / 1000,
                "analysis/transfer_acc": transfer[loss] - seed / 1000,
            }
            data = record("classify", "digits", loss, seed, metrics, "acc")
            data["analysis"] = {
                "label": loss,
                "layers": ["conv1", "conv2", "fc"],
                "cka_to": {
                    other: {"conv1": 0.95 - seed / 100, "conv2": 0.8, "fc": 0.4 + seed / 50}
                    for other in losses
                    if other != loss
                },
            }
            write(tmp_path, f"{loss}-{seed}", data)
    claims = board_of(tmp_path).claims.set_index("claim")
    rho = stats.spearmanr([separation[k] for k in losses], [acc[k] for k in losses])
    row = claims.loc["objectives that improve accuracy separate the classes more"]
    assert (
        f"ρ(separation, accuracy) = {rho.statistic:+.2f} over 4 losses"
        in row["what the grid shows"]
    )
    assert row["holds here?"] == "holds"
    row = claims.loc["more class separation, less transferable features"]
    assert "ρ(separation, transfer) = -1.00" in row["what the grid shows"]
    assert row["holds here?"] == "holds"
    row = claims.loc["the losses' networks differ only in the last layers"]
    # 6 pairs x 3 seeds; first layer CKA 0.95 - s/100, last 0.4 + s/50
    first = np.mean([0.95 - s / 100 for s in range(3)])
    last = np.mean([0.4 + s / 50 for s in range(3)])
    assert (
        f"first layer {first:.3f}, last layer {last:.3f} (mean over 18"
        in row["what the grid shows"]
    )
    assert row["holds here?"] == "holds"


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
    assert data["claims"][0]["holds here?"] == "holds"
    # run again: the same README (the markers stay, the table is replaced, not repeated)
    call(["leaderboard", "--results", str(store), "--out", str(out), "--format", "md"])
    assert readme.read_text() == text
