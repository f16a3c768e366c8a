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
    continual_shortfalls,
    load_board,
    load_records,
    runs_by_seed,
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
def configs(tmp_path_factory) -> list:
    """The mnist preset's runs, resolved against a folder holding MNIST's four files (the
    run ids do not depend on the folder; the far-OOD sets would, and it holds no other
    member of the family, as the data folder of the records held none)."""
    from tests.tasks.test_mnist_real import write_mnist

    folder = tmp_path_factory.mktemp("data")
    write_mnist(folder, "MNIST")
    return preset_grid("mnist", settings={"data_dir": str(folder)})


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return load_records(RUNS)


@pytest.fixture(scope="module")
def board():
    return load_board(RUNS)


def _ce(records: list[dict], task: str, buffer: int | None = None) -> list[dict]:
    """Cross-entropy's records of ``task`` at the recipe's settings, by seed (continual: with
    the recipe's replay buffer, or with ``buffer``)."""
    return runs_by_seed(records, task, "ce", SEEDS, MNIST, buffer)


def test_the_records_are_the_mnist_preset_as_it_is_now(records, configs):
    check_runs_are_the_preset(records, configs, MNIST)


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
    short += continual_shortfalls(replay, plain, CE_CONTINUAL_DIAGONAL, CE_CONTINUAL_BWT)
    assert not short, f"cross-entropy is below its floor: {'; '.join(short)}"


def test_the_committed_tables_are_what_the_leaderboard_makes_of_the_records(board, configs):
    check_tables(MNIST, board, len(configs))


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


def test_the_project_readme_leads_with_the_mnist_example(configs):
    readme = (ROOT / "README.md").read_text()
    first = readme.index("results/mnist")
    assert first < readme.index("results/example"), "the README must lead with real images"
    assert first < readme.index("## Quickstart")
    preset = PRESETS["mnist"]
    lead = " ".join(readme[first - 200 : first + 400].split())
    assert f"{len(configs)} runs" in lead
    assert f"{len(preset['losses'])} losses × {len(preset['seeds'])} seeds per task" in lead


def test_the_readme_states_the_floors_the_tests_check():
    """The floors the example README states are the ones checked above."""
    text = " ".join((MNIST / "README.md").read_text().split())
    floors = {task: floor for task, (_, floor) in CE_FLOORS.items()}
    assert (
        f"accuracy {floors['classify']}; MSP AUROC {floors['ood']} on the unknown digits; "
        f"balanced accuracy {floors['imbalanced']}; PGD robust accuracy between "
        f"{CE_ROBUST_RANGE[0]} and {CE_ROBUST_RANGE[1]} at the headline budget; each continual "
        f"experience learnt to {CE_CONTINUAL_DIAGONAL}, backward transfer at most "
        f"{CE_CONTINUAL_BWT} and replay above fine-tuning; mIoU {floors['segmentation']}"
    ) in text


def _per_seed(records: list[dict], task: str, loss: str, key: str) -> list[float]:
    """``key`` of the main protocol's runs of ``task`` and ``loss``, by seed."""
    buffer = get_task("continual").options.model_fields["buffer"].default
    rows = [
        r
        for r in records
        if r["task"] == task
        and r["loss"] == loss
        and (task != "continual" or r["config"]["task_options"]["buffer"] == buffer)
    ]
    return [r["metrics"][key] for r in sorted(rows, key=lambda r: r["seed"])]


def test_the_readme_statements_hold_for_the_records(records):
    """Every statement of the README's prose outside the generated blocks, against the
    records."""
    losses = PRESETS["mnist"]["losses"]

    def mean(task, loss, key):
        values = _per_seed(records, task, loss, key)
        assert len(values) == len(SEEDS), (task, loss, key)
        return sum(values) / len(values)

    # clean accuracy: every loss within half a point of ce's
    ce_acc = mean("classify", "ce", "acc")
    assert all(abs(mean("classify", loss, "acc") - ce_acc) < 0.005 for loss in losses)
    # adversarial: hem and hem-plus above ce on every seed at the headline budget; at
    # Madry et al.'s 0.3 every loss keeps almost nothing
    ce_robust = _per_seed(records, "adversarial", "ce", "robust_acc")
    for loss in ("hem", "hem-plus"):
        ours = _per_seed(records, "adversarial", loss, "robust_acc")
        assert all(a > b for a, b in zip(ours, ce_robust)), loss
    assert all(mean("adversarial", loss, "robust_acc/pgd/0.3") < 0.01 for loss in losses)
    # and under AutoAttack at the headline budget
    ce_auto = _per_seed(records, "adversarial", "ce", "robust_acc/autoattack/0.06")
    for loss in ("hem", "hem-plus"):
        ours = _per_seed(records, "adversarial", loss, "robust_acc/autoattack/0.06")
        assert len(ours) == len(SEEDS) and all(a > b for a, b in zip(ours, ce_auto)), loss
    # unknown classes: ce's MSP AUROC above hem's and hem-plus's on every seed
    ce_auroc = _per_seed(records, "ood", "ce", "auroc")
    for loss in ("hem", "hem-plus"):
        assert all(c > h for c, h in zip(ce_auroc, _per_seed(records, "ood", loss, "auroc")))
    # noise: MSP's AUROC is 0 on seeds 1-3 for ce, logit-adjusted, dice and focal (every
    # noise image more confident than every test digit) and above 0.95 on seeds 0 and 4;
    # Mahalanobis separates noise for ce on every seed, not for hem and hem-plus
    for loss in ("ce", "logit-adjusted", "dice", "focal"):
        for noise in ("uniform", "gaussian"):
            msp = _per_seed(records, "ood", loss, f"msp/{noise}/auroc")
            assert [round(v, 2) for v in msp[1:4]] == [0.0, 0.0, 0.0], (loss, noise, msp)
            assert min(msp[0], msp[4]) > 0.95, (loss, noise, msp)
    for noise in ("uniform", "gaussian"):
        assert min(_per_seed(records, "ood", "ce", f"mahalanobis/{noise}/auroc")) > 0.99
        for loss in ("hem", "hem-plus"):
            assert min(_per_seed(records, "ood", loss, f"mahalanobis/{noise}/auroc")) < 0.7
    # imbalanced: logit-adjusted best on every seed; dice and logitnorm below 0.45
    by_loss = {loss: _per_seed(records, "imbalanced", loss, "balanced_acc") for loss in losses}
    for seed in range(len(SEEDS)):
        assert max(by_loss, key=lambda loss: by_loss[loss][seed]) == "logit-adjusted"
    assert max(by_loss["dice"] + by_loss["logitnorm"]) < 0.45
    # continual: dice learns only the first experience; hem and hem-plus, in one pass,
    # leave experiences unlearnt (at most 0.6 right after training on them) on seeds 1-4
    for r in records:
        if r["task"] != "continual":
            continue
        diagonal = [row[i] for i, row in enumerate(r["accuracy_matrix"])]
        if r["loss"] == "dice":
            assert max(diagonal[1:]) < 0.05, diagonal
        if r["loss"] in ("hem", "hem-plus") and r["seed"] >= 1:
            assert min(diagonal) <= 0.6, (r["loss"], r["seed"], diagonal)
    # segmentation: hem above ce on every seed; logit-adjusted the lowest on every seed
    miou = {loss: _per_seed(records, "segmentation", loss, "miou") for loss in losses}
    assert all(h > c for h, c in zip(miou["hem"], miou["ce"]))
    for seed in range(len(SEEDS)):
        assert min(miou, key=lambda loss: miou[loss][seed]) == "logit-adjusted"


def test_the_readme_describes_the_recipes_of_the_records(records):
    """The figures of the README's prose on the recipes, against the records."""
    from hem_bench.losses import loss_info

    readme = " ".join((MNIST / "README.md").read_text().split())
    epochs = {r["config"]["max_epochs"] for r in records}
    assert f"trained for {min(epochs)}-{max(epochs)} epochs" in readme
    assert {r["model"] for r in records if r["task"] != "segmentation"} == {"mnist-fast"}
    assert f"τ = {loss_info('logitnorm').params['tau']}" in readme
    assert ", ".join(PRESETS["mnist"]["losses"]) in readme and "seeds 0-4" in readme


def test_the_readme_reads_the_claims_as_the_leaderboard_does(board):
    """The prose's reading of the claims (hem above ce on segmentation on every seed, yet
    the claim undecided) is the claims table's."""
    claims = board[1].claims.set_index("claim")["holds here?"]
    assert claims["HEM better than CE at segmentation"] == "inconclusive"
    readme = (MNIST / "README.md").read_text()
    assert "(the claim below is inconclusive)" in readme
