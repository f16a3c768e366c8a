"""The committed MNIST example in ``results/mnist/`` (the ``mnist`` preset on the real MNIST)
is complete and up to date, and its baseline trained: cross-entropy reaches every floor of
the preset on every seed (the benchmark measures the losses, not training cut short)."""

from __future__ import annotations

import pytest

from hem_bench.presets import PRESETS, preset_grid
from hem_bench.tasks import get_task
from tests.results.examples import (
    ROOT,
    check_readme_markers,
    check_records_complete,
    check_report_and_versions,
    check_runs_are_the_preset,
    check_tables,
    load_board,
    load_records,
    stale,
)

MNIST = ROOT / "results" / "mnist"
RUNS = MNIST / "runs"
SEEDS = PRESETS["mnist"]["seeds"]

#: what cross-entropy must reach on every seed, at the recipe's settings: (metric, floor)
CE_FLOORS = {
    "classify": ("acc", 0.99),
    "ood": ("auroc", 0.95),  # MSP's AUROC against the 4 unknown digit classes
    "imbalanced": ("balanced_acc", 0.90),
    "segmentation": ("miou", 0.75),
}
#: the adversarial headline budget must leave cross-entropy's robust accuracy mid-way, so
#: that the benchmark can rank the losses
CE_ROBUST_RANGE = (0.2, 0.8)
#: continual: each experience learnt right after training on it, then forgotten
CE_CONTINUAL_DIAGONAL, CE_CONTINUAL_BWT = 0.97, -0.1


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return load_records(RUNS)


@pytest.fixture(scope="module")
def board():
    return load_board(RUNS)


def _ce(records: list[dict], task: str, buffer: int | None = None) -> list[dict]:
    """Cross-entropy's records of ``task`` at the recipe's settings, by seed (continual: with
    the recipe's replay buffer, or with ``buffer``)."""
    rows = [r for r in records if r["task"] == task and r["loss"] == "ce"]
    if task == "continual":
        default = get_task("continual").options.model_fields["buffer"].default
        wanted = default if buffer is None else buffer
        rows = [r for r in rows if r["config"]["task_options"]["buffer"] == wanted]
    rows = sorted(rows, key=lambda r: r["seed"])
    assert [r["seed"] for r in rows] == SEEDS, f"{stale(MNIST)} ({task}: seeds {rows})"
    return rows


def test_the_records_are_the_mnist_preset_as_it_is_now(records):
    check_runs_are_the_preset(records, preset_grid("mnist"), MNIST)


def test_the_records_are_complete_and_of_this_version(records):
    check_records_complete(records, MNIST)
    assert {r["dataset"] for r in records} == {"mnist", "mnist-scenes"}
    assert {r["config"]["threads"] for r in records} == {1}


@pytest.mark.example
def test_cross_entropy_reaches_every_floor_on_every_seed(records):
    short = []
    for task, (key, floor) in CE_FLOORS.items():
        for r in _ce(records, task):
            if r["metrics"][key] < floor:
                short.append(f"{task} seed {r['seed']} {key} {r['metrics'][key]:.4f} < {floor}")
    low, high = CE_ROBUST_RANGE
    for r in _ce(records, "adversarial"):
        value = r["metrics"]["robust_acc"]
        if not low <= value <= high:
            short.append(f"adversarial seed {r['seed']} robust_acc {value:.4f} not in {low}-{high}")
    replay, plain = _ce(records, "continual"), _ce(records, "continual", buffer=0)
    for r, fine_tuned in zip(replay, plain):
        for i, row in enumerate(r["accuracy_matrix"]):
            if row[i] < CE_CONTINUAL_DIAGONAL:
                short.append(f"continual seed {r['seed']} experience {i}: {row[i]:.3f}")
        if r["metrics"]["bwt"] > CE_CONTINUAL_BWT:
            short.append(f"continual seed {r['seed']} bwt {r['metrics']['bwt']:.3f}")
        if r["metrics"]["avg_acc"] <= fine_tuned["metrics"]["avg_acc"]:
            short.append(f"continual seed {r['seed']}: replay no better than fine-tuning")
    assert not short, f"cross-entropy is below its floor: {'; '.join(short)}"


def test_the_committed_tables_are_what_the_leaderboard_makes_of_the_records(board):
    check_tables(MNIST, board, len(preset_grid("mnist")))


def test_the_report_and_the_readme_describe_this_example(records, board):
    commands = (
        "hem-bench sweep --preset mnist --data-dir DIR --workers 2 --no-progress "
        "--out results/mnist/runs",
        "hem-bench leaderboard --results results/mnist/runs --out results/mnist",
    )
    check_report_and_versions(MNIST, records, board[1], commands)


def test_every_plot_is_in_the_example(board):
    from hem_bench.results.plots import all_plots

    results, tables = board[0], board[1].tables
    names = {plot.name for plot in all_plots(results.frame, tables)}
    assert {
        "critical-difference",
        "reliability-classify-mnist",
        "acc-matrix-continual-mnist",
        "roc-ood-mnist",
        "robust-adversarial-mnist-pgd",
    } <= names
    for name in names:
        assert (MNIST / "plots" / f"{name}.png").is_file(), f"{stale(MNIST)} (plots/{name}.png)"


def test_the_readme_numbers_are_generated_from_the_records(board):
    check_readme_markers(MNIST, board[1])


def test_the_project_readme_leads_with_the_mnist_example():
    readme = (ROOT / "README.md").read_text()
    first = readme.index("results/mnist")
    assert first < readme.index("results/example"), "the README must lead with real images"
    assert first < readme.index("## Quickstart")
    preset = PRESETS["mnist"]
    lead = " ".join(readme[first - 200 : first + 400].split())
    assert f"{len(preset_grid('mnist'))} runs" in lead
    assert f"{len(preset['losses'])} losses × {len(preset['seeds'])} seeds per task" in lead
