"""The committed Fashion-MNIST example in ``results/fashion-mnist/`` (the ``mnist`` preset's
classification tasks, unchanged, on Fashion-MNIST, seeds 0-2) is complete and up to date;
its baseline trains to a level the Fashion-MNIST literature calls sensible for a small
network, and its README's statements hold for its records."""

from __future__ import annotations

import pytest

from hem_bench.presets import preset_grid
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
)

FASHION = ROOT / "results" / "fashion-mnist"
RUNS = FASHION / "runs"
#: the preset's classification tasks (its segmentation set is made of MNIST digits)
TASKS = ["classify", "ood", "adversarial", "imbalanced", "continual"]
SEEDS = [0, 1, 2]
LOSSES = ["ce", "hem", "hem-plus", "logitnorm", "logit-adjusted", "dice", "focal"]

#: the level cross-entropy must reach on every seed: the plain two-convolution networks of
#: Fashion-MNIST's benchmark table (Xiao et al. 2017's repository) reach 0.876-0.916
CE_ACCURACY = 0.875
#: each continual experience learnt right after training on it, then forgotten
CE_CONTINUAL_DIAGONAL, CE_CONTINUAL_BWT = 0.9, -0.1


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> list:
    """The example's runs, resolved against a folder holding Fashion-MNIST's and MNIST's
    files, as the data folder of the records did (MNIST is then the far-OOD set; the run
    ids do not depend on the folder)."""
    from tests.tasks.test_mnist_real import write_mnist

    folder = tmp_path_factory.mktemp("data")
    write_mnist(folder, "FashionMNIST")
    write_mnist(folder, "MNIST")
    return preset_grid(
        "mnist",
        TASKS,
        seeds=SEEDS,
        datasets=["fashion-mnist"],
        settings={"data_dir": str(folder)},
    )


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return load_records(RUNS)


@pytest.fixture(scope="module")
def board():
    return load_board(RUNS)


def _runs(records: list[dict], task: str, loss: str, buffer: int | None = None) -> list[dict]:
    return runs_by_seed(records, task, loss, SEEDS, FASHION, buffer)


def _per_seed(records: list[dict], task: str, loss: str, key: str) -> list[float]:
    return [r["metrics"][key] for r in _runs(records, task, loss)]


def test_the_records_are_the_preset_on_fashion_mnist(records, configs):
    check_runs_are_the_preset(records, configs, FASHION)
    assert {c.dataset for c in configs} == {"fashion-mnist"}
    ood = {c.task_options.get("ood_sets") for c in configs if c.task == "ood"}
    assert ood == {"mnist"}, ood


def test_the_records_are_complete_and_of_this_version(records):
    check_records_complete(records, FASHION)
    assert {r["dataset"] for r in records} == {"fashion-mnist"}
    assert {r["config"]["threads"] for r in records} == {1}


@pytest.mark.example
def test_cross_entropy_trains_to_a_sensible_level_on_every_seed(records):
    short = []
    for r in _runs(records, "classify", "ce"):
        if r["metrics"]["acc"] < CE_ACCURACY:
            short.append(f"classify seed {r['seed']} acc {r['metrics']['acc']:.4f}")
    replay, plain = _runs(records, "continual", "ce"), _runs(records, "continual", "ce", 0)
    short += continual_shortfalls(replay, plain, CE_CONTINUAL_DIAGONAL, CE_CONTINUAL_BWT)
    assert not short, f"cross-entropy is below a sensible level: {'; '.join(short)}"


def test_the_committed_tables_are_what_the_leaderboard_makes_of_the_records(board, configs):
    check_tables(FASHION, board, len(configs))


def test_the_report_and_the_readme_describe_this_example(records, board):
    commands = (
        "hem-bench sweep --preset mnist --datasets fashion-mnist --tasks "
        "classify,ood,adversarial,imbalanced,continual --seeds 0,1,2 --data-dir DIR "
        "--workers 2 --no-progress --out results/fashion-mnist/runs",
        "hem-bench leaderboard --results results/fashion-mnist/runs --out results/fashion-mnist",
    )
    check_report_and_versions(FASHION, records, board[1], commands)


def test_the_readme_numbers_are_generated_from_the_records(board):
    check_readme_markers(FASHION, board[1])


def test_the_readme_states_the_levels_the_tests_check():
    text = " ".join((FASHION / "README.md").read_text().split())
    assert (
        f"accuracy at least {CE_ACCURACY} on every seed; each continual experience learnt to "
        f"{CE_CONTINUAL_DIAGONAL}, backward transfer at most {CE_CONTINUAL_BWT} and replay "
        "above fine-tuning"
    ) in text


def test_the_readme_statements_hold_for_the_records(records):
    """Every statement of the README's prose outside the generated blocks, against the
    records (and, for what it says of MNIST, against the MNIST example's)."""
    from tests.results.test_example_mnist import RUNS as MNIST_RUNS

    def each(task, loss, key):
        return _per_seed(records, task, loss, key)

    # clean accuracy: ce at the level checked above; hem and logit-adjusted within half a
    # point of ce on every seed; logitnorm and dice more than a point below it
    ce_acc = each("classify", "ce", "acc")
    for loss in ("hem", "logit-adjusted"):
        assert all(abs(a - c) < 0.005 for a, c in zip(each("classify", loss, "acc"), ce_acc))
    for loss in ("logitnorm", "dice"):
        assert all(c - a > 0.01 for a, c in zip(each("classify", loss, "acc"), ce_acc)), loss
    # hem-plus equals hem where the classes are equally frequent, and only there
    for task in ("classify", "ood", "adversarial", "continual"):
        for hem, plus in zip(_runs(records, task, "hem"), _runs(records, task, "hem-plus")):
            assert hem["metrics"] == plus["metrics"], (task, hem["seed"])
    hem, plus = _runs(records, "imbalanced", "hem"), _runs(records, "imbalanced", "hem-plus")
    assert all(a["metrics"] != b["metrics"] for a, b in zip(hem, plus))
    # calibration: hem's ECE more than five times ce's on every seed; logitnorm's the largest
    ece = {loss: each("classify", loss, "ece") for loss in LOSSES}
    assert all(h > 5 * c for h, c in zip(ece["hem"], ece["ce"]))
    for seed in range(len(SEEDS)):
        assert max(ece, key=lambda loss: ece[loss][seed]) == "logitnorm"
    # unknown classes: no loss reaches 0.8 on any seed; each varies by more than 0.1 between
    # seeds; MNIST told apart by Mahalanobis (> 0.94) far better than by MSP (< 0.9)
    for loss in LOSSES:
        auroc = each("ood", loss, "auroc")
        assert max(auroc) < 0.8 and max(auroc) - min(auroc) > 0.1, (loss, auroc)
        assert min(each("ood", loss, "mahalanobis/mnist/auroc")) > 0.94, loss
        assert max(each("ood", loss, "msp/mnist/auroc")) < 0.9, loss
    # adversarial: ce below 0.2 at the headline budget, where on MNIST it keeps 0.2-0.8;
    # between 0.2 and 0.8 at 0.04; hem within 0.02 of ce; nothing left at 0.3
    headlines = {
        (r["attacks"]["headline"]["attack"], r["attacks"]["headline"]["eps"])
        for r in records
        if r["task"] == "adversarial"
    }
    assert headlines == {("pgd", "0.06")}, headlines
    assert all(v < 0.2 for v in each("adversarial", "ce", "robust_acc"))
    mnist_ce = [
        r["metrics"]["robust_acc"]
        for r in load_records(MNIST_RUNS)
        if r["task"] == "adversarial" and r["loss"] == "ce"
    ]
    assert mnist_ce and all(0.2 <= v <= 0.8 for v in mnist_ce)
    assert all(0.2 <= v <= 0.8 for v in each("adversarial", "ce", "robust_acc/pgd/0.04"))
    ce_robust = each("adversarial", "ce", "robust_acc")
    assert all(
        abs(h - c) < 0.02 for h, c in zip(each("adversarial", "hem", "robust_acc"), ce_robust)
    )
    assert all(max(each("adversarial", loss, "robust_acc/pgd/0.3")) < 0.01 for loss in LOSSES)
    auto = "robust_acc/autoattack/0.06"
    assert all(
        h < c for h, c in zip(each("adversarial", "hem", auto), each("adversarial", "ce", auto))
    )
    # imbalanced: logit-adjusted best on every seed; hem-plus above hem; dice, logitnorm < 0.5
    balanced = {loss: each("imbalanced", loss, "balanced_acc") for loss in LOSSES}
    for seed in range(len(SEEDS)):
        assert max(balanced, key=lambda loss: balanced[loss][seed]) == "logit-adjusted"
        assert balanced["hem-plus"][seed] > balanced["hem"][seed]
    assert max(balanced["dice"] + balanced["logitnorm"]) < 0.5

    # continual: hem and hem-plus learn every experience (>= 0.85 right after); dice only
    # the first; logitnorm leaves the second unlearnt on seeds 0 and 1
    def diagonal(r):
        return [row[i] for i, row in enumerate(r["accuracy_matrix"])]

    for loss in ("hem", "hem-plus"):
        assert all(min(diagonal(r)) >= 0.85 for r in _runs(records, "continual", loss))
    assert all(
        diagonal(r)[0] > 0.9 and max(diagonal(r)[1:]) < 0.05
        for r in _runs(records, "continual", "dice")
    )
    logitnorm = [diagonal(r)[1] for r in _runs(records, "continual", "logitnorm")]
    assert logitnorm[0] < 0.05 and logitnorm[1] < 0.05 and logitnorm[2] > 0.05, logitnorm
