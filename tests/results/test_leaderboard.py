"""The tables: statistics over seeds, ranks, and paired comparisons, checked against numpy
and scipy computed here independently."""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hem_bench.errors import ConfigError
from hem_bench.results.leaderboard import (
    build,
    group_tables,
    overall_table,
    paired_comparisons,
    rank_values,
)
from hem_bench.results.store import load_results
from tests.results.conftest import MALICIOUS, real_records
from tests.results.records import record, write


def summary_of(board) -> dict:
    """The leaderboard.json the command wrote."""
    return json.loads((board.out / "leaderboard.json").read_text())


def table_named(board, name: str) -> dict:
    """The benchmark table ``name`` of leaderboard.json."""
    (table,) = [t for t in summary_of(board)["tables"] if t["name"] == name]
    return table


def test_mean_std_and_n_over_seeds_match_numpy(board, real_results):
    """Mean, sample std (ddof=1) and n of every metric, recomputed with numpy from the real records."""
    values = defaultdict(list)
    for data in real_records(real_results):
        for key, value in data["metrics"].items():
            values[(data["task"], data["loss"], key)].append(value)
    for task in ("ood", "classify"):
        table = table_named(board, f"{task}-digits")
        for row in table["rows"]:
            if row["loss"] == MALICIOUS:  # the copy of ce's seed 0: one seed
                assert row["n"] == 1 and row["metrics"]["auroc"]["std"] is None
                continue
            assert row["n"] == 2
            for metric, got in row["metrics"].items():
                expected = np.asarray(values[(task, row["loss"], metric)])
                assert got["n"] == len(expected) == 2
                assert got["mean"] == pytest.approx(np.mean(expected), rel=1e-12)
                assert got["std"] == pytest.approx(np.std(expected, ddof=1), rel=1e-9)
    # the CSV holds the same numbers; the Markdown shows them as mean ± std
    with open(board.out / "classify-digits.csv") as handle:
        rows = {row["loss"]: row for row in csv.DictReader(handle)}
    acc = np.asarray(values[("classify", "ce", "acc")])
    assert float(rows["ce"]["acc mean"]) == pytest.approx(acc.mean(), rel=1e-12)
    assert float(rows["ce"]["acc std"]) == pytest.approx(acc.std(ddof=1), rel=1e-9)
    assert rows["ce"]["n"] == "2" and rows["ce"]["acc n"] == "2"
    markdown = (board.out / "leaderboard.md").read_text()
    assert f"{acc.mean():.4f} ± {acc.std(ddof=1):.4f}" in markdown


def test_each_task_shows_its_key_metrics_and_an_unknown_task_its_headline(board):
    """The key metrics of each task that the runs have, headline first; a task hem-bench does not know shows its headline only."""
    expected = {
        "classify-digits": ["acc", "nll", "ece", "brier"],  # no corruptions were run
        "ood-digits": ["auroc", "fpr95", "aupr_in", "aupr_out", "acc"],
        "adversarial-digits": ["robust_acc", "acc"],
        "continual-split-digits": ["avg_acc", "bwt", "forgetting"],
        "segmentation-digit-scenes": ["miou", "pixel_acc", "mean_class_acc", "dice"],
        "fewshot-digits": ["top5"],
    }
    tables = {t["name"]: t["metrics"] for t in summary_of(board)["tables"]}
    assert tables == expected


def test_ranks_respect_direction_and_share_ties(tmp_path):
    # benchmark A, higher is better: e 0.95, a 0.9, b 0.8, c 0.8, d 0.7
    #   -> ranks e 1, a 2, b 3.5, c 3.5 (tie: mean of ranks 3 and 4), d 5
    # benchmark B, lower is better (e not run): b 0.1, d 0.1, c 0.2, a 0.3
    #   -> ranks b 1.5, d 1.5 (tie), c 3, a 4
    # mean ranks: e 1, b 2.5, a 3, c 3.25, d 3.25
    """Ranks on a hand-made example with ties, one benchmark of each direction and a loss run on one only."""
    values_a = {"a": 0.9, "b": 0.8, "c": 0.8, "d": 0.7, "e": 0.95}
    values_b = {"a": 0.3, "b": 0.1, "c": 0.2, "d": 0.1}
    for loss, value in values_a.items():
        write(tmp_path, f"A-{loss}", record("taskA", "x", loss, 0, {"acc": value}, "acc"))
    for loss, value in values_b.items():
        data = record("taskB", "x", loss, 0, {"err": value}, "err", higher_is_better=False)
        write(tmp_path, f"B-{loss}", data)
    overall = overall_table(group_tables(load_results(tmp_path).frame)).set_index("loss")
    assert overall["taskA/x rank"].to_dict() == {"e": 1, "a": 2, "b": 3.5, "c": 3.5, "d": 5}
    assert overall["taskB/x rank"].dropna().to_dict() == {"b": 1.5, "d": 1.5, "c": 3, "a": 4}
    assert overall["mean rank"].to_dict() == {"e": 1.0, "b": 2.5, "a": 3.0, "d": 3.25, "c": 3.25}
    assert overall["benchmarks"].to_dict() == {"e": 1, "b": 2, "a": 2, "d": 2, "c": 2}
    # sorted by mean rank, ties by more benchmarks, then name
    assert list(overall.index) == ["e", "b", "a", "c", "d"]
    assert math.isnan(overall.at["e", "taskB/x err"])


def test_rank_values_is_fractional_ranking():
    """Ties share the mean of their ranks; NaN is not ranked."""
    values = pd.Series([0.9, 0.8, 0.8, 0.7, float("nan")], index=list("abcde"))
    assert rank_values(values, True).tolist()[:4] == [1, 2.5, 2.5, 4]
    assert rank_values(values, False).tolist()[:4] == [4, 2.5, 2.5, 1]
    assert math.isnan(rank_values(values, True)["e"])


def test_paired_comparison_matches_scipy(board, real_results):
    """Per-seed differences and the paired t-test p-value of hem against ce, from scipy called directly."""
    auroc = {
        (d["loss"], d["seed"]): d["headline"]["value"]
        for d in real_records(real_results)
        if d["task"] == "ood"
    }
    hem = np.array([auroc[("hem", 0)], auroc[("hem", 1)]])
    ce = np.array([auroc[("ce", 0)], auroc[("ce", 1)]])
    (row,) = [
        r
        for r in summary_of(board)["paired"]
        if r["benchmark"] == "ood/digits" and r["loss"] == "hem"
    ]
    assert row["baseline"] == "ce" and row["n"] == 2 and row["seeds"] == [0, 1]
    assert row["differences"] == pytest.approx((hem - ce).tolist(), rel=1e-12)
    assert row["mean diff"] == pytest.approx(np.mean(hem - ce), rel=1e-12)
    assert row["t-test p"] == pytest.approx(stats.ttest_rel(hem, ce).pvalue, rel=1e-9)
    assert row["wilcoxon p"] is None  # 2 pairs: too few for Wilcoxon
    assert not row["verdict"].startswith("too few")


def test_a_single_paired_seed_is_marked_too_few(board):
    """One paired seed: no test, and the tables say why."""
    (row,) = [r for r in summary_of(board)["paired"] if r["loss"] == MALICIOUS]
    assert row["n"] == 1 and row["t-test p"] is None
    assert row["verdict"].startswith("too few seeds")
    assert "too few seeds" in (board.out / "leaderboard.md").read_text()


def test_lower_is_better_differences_and_wilcoxon(tmp_path):
    """Lower-is-better headline: differences are baseline minus loss (positive = better); 8 pairs give a Wilcoxon p-value equal to scipy's."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.4, size=8)
    better = base - rng.uniform(0.0, 0.05, size=8)  # lower error than the baseline
    for seed in range(8):
        for loss, values in (("ce", base), ("new", better)):
            data = record("seg", "x", loss, seed, {"err": values[seed]}, "err", False)
            write(tmp_path, f"{loss}-{seed}", data)
    paired = paired_comparisons(load_results(tmp_path).frame, "ce")
    (row,) = paired.to_dict(orient="records")
    d = base - better
    assert row["differences"] == pytest.approx(d.tolist()) and row["mean diff"] > 0
    assert row["t-test p"] == pytest.approx(stats.ttest_rel(better, base).pvalue, rel=1e-9)
    assert row["wilcoxon p"] == pytest.approx(stats.wilcoxon(d).pvalue, rel=1e-9)
    assert row["verdict"].startswith("better")


def test_a_baseline_without_records_is_a_config_error(tmp_path):
    """A baseline with no records is refused, listing the losses that have some."""
    write(tmp_path, "a", record("ood", "digits", "hem", 0, {"auroc": 0.8}, "auroc"))
    with pytest.raises(ConfigError, match="baseline loss 'ce' has no records.*hem"):
        build(load_results(tmp_path).frame, baseline="ce")


def test_analysis_tables_from_records_with_analysis_metrics(tmp_path):
    """Mean, std and n of the analysis metrics (numpy by hand), a transfer accuracy that
    only some runs have, losses sorted by class separation, and no table without analysis."""
    values = {"ce": [0.40, 0.42, 0.47], "hem": [0.61, 0.58, 0.66]}
    for loss, separations in values.items():
        for seed, r2 in enumerate(separations):
            metrics = {"acc": 0.9 + seed / 100, "analysis/class_separation": r2}
            if seed < 2:
                metrics["analysis/transfer_acc"] = 0.5 - r2 / 10
            write(
                tmp_path, f"{loss}-{seed}", record("classify", "digits", loss, seed, metrics, "acc")
            )
    write(tmp_path, "ood", record("ood", "digits", "ce", 0, {"auroc": 0.9}, "auroc"))
    board = build(load_results(tmp_path).frame)
    (table,) = board.analysis
    assert table.losses() == ["hem", "ce"] and table.label == "analysis: classify/digits"
    for loss, separations in values.items():
        stats = table.stats.loc[loss]
        assert stats["analysis/class_separation mean"] == pytest.approx(np.mean(separations))
        assert stats["analysis/class_separation std"] == pytest.approx(np.std(separations, ddof=1))
        assert stats["analysis/transfer_acc n"] == 2
        expected = np.mean([0.5 - r2 / 10 for r2 in separations[:2]])
        assert stats["analysis/transfer_acc mean"] == pytest.approx(expected)
    assert "↑" not in "".join(table.display().columns)  # separation is no score to beat
    assert not any(m.startswith("analysis/") for t in board.tables for m in t.metrics)
    plain = tmp_path / "plain"
    write(plain, "ce-0", record("classify", "digits", "ce", 0, {"acc": 0.9}, "acc"))
    assert build(load_results(plain).frame).analysis == []


@pytest.mark.parametrize(
    "cpus, expected",
    [
        ([None, None], None),
        ([("AMD EPYC", "AVX2")] * 2, "On AMD EPYC (AVX2)."),
        ([None, ("AMD EPYC", "AVX2")], "On AMD EPYC (AVX2), as 2 of the 4 records say."),
        (
            [("Intel Xeon", "AVX512"), ("AMD EPYC", "AVX2")],
            "On 2 kinds of processor (AMD EPYC (AVX2); Intel Xeon (AVX512)): a run's metrics "
            "differ a little",
        ),
    ],
)
def test_the_findings_name_the_processors_the_records_ran_on(tmp_path, cpus, expected):
    """The same run trains to slightly other weights on a processor with other vector
    instructions: the findings say which processors the records come from, and warn when
    they are several (records without the fields say nothing)."""
    from hem_bench.results.findings import findings

    for seed, cpu in enumerate(cpus):
        for loss, acc in (("ce", 0.9), ("hem", 0.8)):
            env = {} if cpu is None else {"cpu": cpu[0], "cpu_capability": cpu[1]}
            write(
                tmp_path,
                f"{loss}-{seed}",
                record("classify", "digits", loss, seed, {"acc": acc + seed / 100}, "acc", env=env),
            )
    text = findings(build(load_results(tmp_path).frame))[0]
    if expected is None:
        assert " On " not in text, text
    else:
        assert expected in text, text
