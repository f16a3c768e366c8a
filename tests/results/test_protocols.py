"""Protocols: runs of different settings are never averaged, ranked or tested together;
each protocol is named by the settings that distinguish it, and the learning-rate
sensitivity table puts protocols that differ only in lr side by side."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy import stats

from hem_bench.results.leaderboard import build
from hem_bench.results.store import RecordWarning, load_results
from hem_bench.tasks import get_task
from tests.results.conftest import call
from tests.results.records import record, write


def run(folder, name, task, loss, seed, value, config, headline="acc", dataset="digits", **kw):
    """Write one record of ``task`` whose headline is ``value``, trained with ``config``."""
    data = record(task, dataset, loss, seed, {headline: value}, headline, **kw)
    data["config"] = dict(config)
    data["run_id"] = f"{name}-{seed}"
    return write(folder, f"{name}-{seed}", data)


def load(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordWarning)
        return load_results(folder)


LINEAR = {"head": "linear", "max_epochs": 30, "lr": 0.05}
COSINE = {"head": "cosine", "max_epochs": 30, "lr": 0.05}
CE_LINEAR = [0.90, 0.92, 0.91]
CE_COSINE = [0.70, 0.74, 0.73]
HEM_LINEAR = [0.93, 0.94, 0.96]


@pytest.fixture
def head_store(tmp_path):
    """The representation-study case: ce and hem with the linear head, and ce with the
    cosine head, three seeds each, on classify/digits."""
    for seed in range(3):
        run(tmp_path, "ce-linear", "classify", "ce", seed, CE_LINEAR[seed], LINEAR)
        run(tmp_path, "ce-cosine", "classify", "ce", seed, CE_COSINE[seed], COSINE)
        run(tmp_path, "hem-linear", "classify", "hem", seed, HEM_LINEAR[seed], LINEAR)
    return tmp_path


def test_a_cosine_head_run_is_its_own_protocol_and_never_the_baseline(head_store):
    """The linear-head ce run is kept (not dropped as a duplicate), the cosine-head run is
    labelled ce(head=cosine), and the paired test of hem uses the linear ce."""
    results = load(head_store)
    assert results.counts()["duplicate"] == 0 and len(results.frame) == 9
    board = build(results.frame)
    assert [t.label for t in board.tables] == ["classify/digits", "classify/digits (head=cosine)"]
    main, cosine = board.tables
    assert main.main and not cosine.main
    assert main.losses() == ["hem", "ce"] and cosine.losses() == ["ce(head=cosine)"]
    assert main.stats.at["ce", "acc mean"] == pytest.approx(np.mean(CE_LINEAR))
    assert cosine.stats.at["ce(head=cosine)", "acc mean"] == pytest.approx(np.mean(CE_COSINE))
    # the paired test: hem against the linear ce, seed by seed
    (row,) = board.paired.to_dict(orient="records")
    assert (row["loss"], row["baseline"], row["benchmark"]) == ("hem", "ce", "classify/digits")
    expected = np.subtract(HEM_LINEAR, CE_LINEAR)
    assert row["differences"] == pytest.approx(expected.tolist())
    assert row["t-test p"] == pytest.approx(stats.ttest_rel(HEM_LINEAR, CE_LINEAR).pvalue)
    # the overall ranking holds the main protocol only; the cosine ce is not ranked with it
    assert list(board.overall["loss"]) == ["hem", "ce"]
    assert list(board.overall_display()["benchmarks"]) == ["1/1", "1/1"]
    assert [c for c in board.overall.columns if c.endswith("rank")] == [
        "classify/digits rank",
        "mean rank",
    ]
    # the protocols table names both and what distinguishes them
    protocols = board.protocols.set_index("protocol")
    assert protocols.at["classify/digits (head=cosine)", "distinguished by"] == "head=cosine"
    assert protocols.at["classify/digits", "distinguished by"] == ""
    assert protocols["runs"].to_dict() == {
        "classify/digits": 6,
        "classify/digits (head=cosine)": 3,
    }
    assert protocols.at["classify/digits (head=cosine)", "differs from the recipe"] == (
        "head=cosine"
    )


def test_runs_of_1_and_30_epochs_are_not_averaged_or_ranked_together(tmp_path):
    """Two epoch budgets: two tables, means over each protocol's own runs; the recipe's
    30 epochs is the main protocol even where the 1-epoch one has more losses."""
    one = {"max_epochs": 1, "lr": 0.05}
    thirty = {"max_epochs": 30, "lr": 0.05}
    values = {
        ("ce", 1): [0.5, 0.6],
        ("hem", 1): [0.4, 0.45],
        ("focal", 1): [0.3, 0.35],
        ("ce", 30): [0.95, 0.97],
        ("hem", 30): [0.96, 0.99],
    }
    for (loss, epochs), numbers in values.items():
        for seed, value in enumerate(numbers):
            config = one if epochs == 1 else thirty
            run(tmp_path, f"{loss}-{epochs}", "ood", loss, seed, value, config, headline="auroc")
    board = build(load(tmp_path).frame)
    labels = [t.label for t in board.tables]
    assert labels == ["ood/digits", "ood/digits (max_epochs=1)"]
    main, short = board.tables
    for (loss, epochs), numbers in values.items():
        table, name = (main, loss) if epochs == 30 else (short, f"{loss}(max_epochs=1)")
        assert table.stats.at[name, "auroc mean"] == pytest.approx(np.mean(numbers))
        assert table.stats.at[name, "auroc n"] == 2
    assert set(board.overall["loss"]) == {"ce", "hem"}
    assert board.overall.set_index("loss")["ood/digits rank"].to_dict() == {"hem": 1, "ce": 2}
    # paired comparisons within each protocol, against that protocol's ce
    pairs = {(r["benchmark"], r["loss"], r["baseline"]) for _, r in board.paired.iterrows()}
    assert pairs == {
        ("ood/digits", "hem", "ce"),
        ("ood/digits (max_epochs=1)", "focal(max_epochs=1)", "ce(max_epochs=1)"),
        ("ood/digits (max_epochs=1)", "hem(max_epochs=1)", "ce(max_epochs=1)"),
    }


def test_the_same_experiment_twice_is_a_duplicate_but_another_protocol_is_not(tmp_path):
    """A repeat of the same protocol, loss and seed is left out (the later one kept); the
    same loss and seed under another learning rate is another experiment."""
    early = record("ood", "digits", "ce", 0, {"auroc": 0.6}, "auroc", config={"lr": 0.05})
    late = record(
        "ood",
        "digits",
        "ce",
        0,
        {"auroc": 0.9},
        "auroc",
        config={"lr": 0.05},
        finished_at="2025-02-01T00:00:00+00:00",
    )
    other = record("ood", "digits", "ce", 0, {"auroc": 0.7}, "auroc", config={"lr": 0.005})
    write(tmp_path, "a", early)
    write(tmp_path, "b", late)
    write(tmp_path, "c", other)
    with pytest.warns(RecordWarning, match="skipped 1 record repeating an experiment"):
        frame = load_results(tmp_path).frame
    assert sorted(frame["headline_value"]) == [0.7, 0.9]
    assert set(frame["protocol"]) == {"ood/digits", "ood/digits (lr=0.005)"}


#: the segmentation recipe's learning rate (the main protocol's) and a tenth of it
RECIPE_LR = get_task("segmentation").recipe("digit-scenes").lr
LOW_LR = float(f"{RECIPE_LR / 10:.6g}")  # as the embedded preset's arm
SEG_LRS = (RECIPE_LR, LOW_LR)
SEG = {
    ("ce", RECIPE_LR): [0.60, 0.62, 0.64, 0.61],
    ("hem", RECIPE_LR): [0.66, 0.69, 0.70, 0.68],
    ("dice", RECIPE_LR): [0.50, 0.55, 0.52, 0.51],
    ("ce", LOW_LR): [0.40, 0.42, 0.41, 0.43],
    ("hem", LOW_LR): [0.39, 0.43, 0.40, 0.42],
    ("dice", LOW_LR): [0.45, 0.47, 0.44, 0.49],
}
HIGH, LOW = f"lr={RECIPE_LR:g}", f"lr={LOW_LR:g}"


@pytest.fixture
def lr_store(tmp_path):
    """Segmentation at the recipe's lr and at lr/10, three losses, four seeds."""
    for (loss, lr), values in SEG.items():
        for seed, value in enumerate(values):
            config = {"lr": lr}
            run(
                tmp_path,
                f"{loss}-{lr}",
                "segmentation",
                loss,
                seed,
                value,
                config,
                headline="miou",
                dataset="digit-scenes",
            )
    return tmp_path


def test_learning_rate_sensitivity_table(lr_store):
    """Protocols that differ only in lr: one sensitivity table, each loss's mean, std, n
    and rank at each lr (recipe first), from numpy here."""
    board = build(load(lr_store).frame)
    (item,) = board.sensitivity
    assert item.lrs == [RECIPE_LR, LOW_LR] and item.headline == "miou"
    assert item.protocols == ["segmentation/digit-scenes", f"segmentation/digit-scenes ({LOW})"]
    table = item.table.set_index("loss")
    for (loss, lr), values in SEG.items():
        assert table.at[loss, f"lr={lr:g} mean"] == pytest.approx(np.mean(values))
        assert table.at[loss, f"lr={lr:g} std"] == pytest.approx(np.std(values, ddof=1))
        assert table.at[loss, f"lr={lr:g} n"] == 4
    assert table[f"{HIGH} rank"].to_dict() == {"ce": 2, "dice": 3, "hem": 1}
    assert table[f"{LOW} rank"].to_dict() == {"ce": 2, "dice": 1, "hem": 3}
    shown = item.display().set_index("loss")
    assert shown.at["hem", f"miou ↑ at {HIGH}"].endswith("(rank 1)")
    # only the recipe's lr is in the generality ranking
    assert [c for c in board.overall.columns if c.endswith(" rank")] == [
        "segmentation/digit-scenes rank",
        "mean rank",
    ]


def test_no_sensitivity_table_when_protocols_differ_in_more_than_lr(tmp_path):
    """lr and epochs both differ: two protocols, no learning-rate table."""
    for seed in (0, 1):
        for loss in ("ce", "hem"):
            run(tmp_path, f"{loss}-a", "ood", loss, seed, 0.9, {"lr": 0.05, "max_epochs": 30})
            run(tmp_path, f"{loss}-b", "ood", loss, seed, 0.8, {"lr": 0.005, "max_epochs": 3})
    board = build(load(tmp_path).frame)
    assert len(board.tables) == 2 and board.sensitivity == []
    assert board.tables[1].label == "ood/digits (lr=0.005, max_epochs=3)"


def test_the_command_writes_protocols_and_sensitivity(lr_store, tmp_path):
    """``hem-bench leaderboard``: the Markdown lists the protocols and the sensitivity
    table; the CSVs and the JSON hold them too."""
    out = tmp_path / "out"
    result = call(["leaderboard", "--results", str(lr_store), "--out", str(out)])
    assert result.code == 0, result.stderr
    markdown = (out / "leaderboard.md").read_text()
    assert "## Protocols" in markdown and f"| segmentation/digit-scenes ({LOW}) | no | {LOW}" in (
        markdown
    )
    assert "## Learning-rate sensitivity" in markdown
    assert "1 protocol(s) besides the main ones, not ranked with them: " in result.stdout
    assert f"segmentation/digit-scenes ({LOW})" in result.stdout
    assert "learning-rate sensitivity, segmentation/digit-scenes:" in result.stdout
    assert (out / "lr-sensitivity-segmentation-digit-scenes.csv").is_file()
    data = json.loads((out / "leaderboard.json").read_text())
    assert [p["protocol"] for p in data["protocols"]] == [
        "segmentation/digit-scenes",
        f"segmentation/digit-scenes ({LOW})",
    ]
    assert data["sensitivity"][0]["lrs"] == [RECIPE_LR, LOW_LR]


def test_real_records_split_only_where_a_setting_differs(real_results, tmp_path):
    """Real records (ood and classify, ce and hem, two seeds) plus a real ce run with the
    cosine head: three protocols, the cosine one distinguished by its head only (paths,
    devices and the like are no part of a protocol)."""
    import shutil

    folder = tmp_path / "runs"
    shutil.copytree(real_results, folder, ignore=shutil.ignore_patterns("*.pt", "logs"))
    argv = ["run", "--task", "classify", "--loss", "ce", "--head", "cosine", "--seed", "0"]
    argv += ["--task-option", "corruptions=none", "--max-epochs", "1", "--no-progress"]
    result = call([*argv, "--out", str(tmp_path / "elsewhere")])
    assert result.code == 0, result.stderr
    shutil.copytree(tmp_path / "elsewhere", folder / "cosine")
    board = build(load(folder).frame)
    protocols = board.protocols.set_index("protocol")
    assert list(protocols.index) == [
        "classify/digits",
        "classify/digits (head=cosine)",
        "ood/digits",
    ]
    assert protocols["runs"].tolist() == [4, 1, 4]
    assert protocols.at["classify/digits (head=cosine)", "distinguished by"] == "head=cosine"
    cosine = next(t for t in board.tables if not t.main)
    assert cosine.losses() == ["ce(head=cosine)"]
    classify = next(t for t in board.tables if t.label == "classify/digits")
    records = [json.loads(p.read_text()) for p in real_results.glob("classify-*/record.json")]
    ce = [r["headline"]["value"] for r in records if r["loss"] == "ce"]
    assert classify.stats.at["ce", "acc mean"] == pytest.approx(np.mean(ce))


def test_a_frame_made_without_protocol_columns_gets_them_from_its_model():
    """A frame built by hand (task, dataset, model, loss, seed, headline): one protocol per
    (task, dataset, model); two models of one task are two protocols, the one with more
    losses main."""
    import pandas as pd

    from hem_bench.results.leaderboard import group_tables

    rows = [
        {
            "task": "classify",
            "dataset": "x",
            "model": model,
            "loss": loss,
            "seed": 0,
            "headline": "acc",
            "headline_value": value,
            "higher_is_better": True,
        }
        for model, loss, value in (
            ("m1", "ce", 0.9),
            ("m1", "hem", 0.8),
            ("m2", "ce", 0.7),
        )
    ]
    frame = pd.DataFrame(rows)
    tables = group_tables(frame)
    assert [t.label for t in tables] == ["classify/x", "classify/x (model=m2)"]
    assert tables[1].losses() == ["ce(model=m2)"] and "protocol" not in frame.columns


def test_a_protocol_of_several_code_versions_is_flagged(tmp_path):
    """Runs of one protocol made at two commits: the protocols table names both versions
    with their run counts, and the Markdown and the page flag the protocol; runs of one
    version per protocol but two across protocols get the milder note."""
    from hem_bench.results.leaderboard import build
    from hem_bench.results.markdown import markdown_document
    from hem_bench.results.report import render
    from hem_bench.results.store import load_results
    from tests.results.records import record, write

    for seed in range(3):
        for loss in ("ce", "hem"):
            data = record("ood", "digits", loss, seed, {"auroc": 0.8 + seed / 100}, "auroc")
            commit = "a" * 40 if seed < 2 else "b" * 40
            data["env"] = {"hem_bench": "0.1.0", "git_commit": commit, "git_dirty": seed == 0}
            write(tmp_path / "mixed", f"{loss}-{seed}", data)
            data = record("classify", "digits", loss, seed, {"acc": 0.9 + seed / 100}, "acc")
            data["env"] = {"hem_bench": "0.1.0", "git_commit": "c" * 40}
            write(tmp_path / "mixed", f"c-{loss}-{seed}", data)
    results = load_results(tmp_path / "mixed")
    board = build(results.frame)
    versions = board.protocols.set_index("protocol")["code versions"]
    assert versions["ood/digits"] == "0.1.0@aaaaaaa (2); 0.1.0@aaaaaaa+dirty (2); 0.1.0@bbbbbbb (2)"
    assert versions["classify/digits"] == "0.1.0@ccccccc (6)"
    assert "**Mixed code versions:** the runs of ood/digits" in markdown_document(board, "")
    assert "Mixed code versions:</b> the runs of ood/digits" in render(board, results)
    one_each = tmp_path / "one-each"
    for path in (tmp_path / "mixed").rglob("record.json"):
        data = json.loads(path.read_text())
        if data["task"] == "ood":
            data["env"] = {"hem_bench": "0.1.0", "git_commit": "a" * 40}
        write(one_each, path.parent.name, data)
    results = load_results(one_each)
    page = render(build(results.frame), results)
    assert "Several code versions:</b>" in page and "0.1.0@aaaaaaa, 0.1.0@ccccccc" in page
