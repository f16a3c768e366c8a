"""``hem-bench analyze`` on real runs: two losses trained on six digit classes (the four
others held out for transfer), then the analysis, its files and the updated records."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import pytest

from hem_bench.cli import main

TRAIN = [
    "run",
    "--task",
    "classify",
    "--task-option",
    "classes=0-5",
    "--task-option",
    "corruptions=none",
    "--max-epochs",
    "2",
    "--no-progress",
    "--seed",
    "0",
]
LOSSES = ("ce", "hem")


def records(folder: Path) -> dict[str, dict]:
    found = {}
    for path in folder.glob("*/record.json"):
        record = json.loads(path.read_text())
        found[record["loss"]] = record
    return found


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    results = tmp_path_factory.mktemp("runs")
    for loss in LOSSES:
        assert main([*TRAIN, "--loss", loss, "--out", str(results)]) == 0
    before = copy.deepcopy(records(results))
    out = results / "report"
    args = ["analyze", "--results", str(results), "--out", str(out), "--write-records"]
    assert main(args) == 0
    return results, out, before, records(results)


def test_summary_has_sane_separation_and_transfer(analysed):
    _, out, _, _ = analysed
    summary = rows(out / "summary.csv")
    assert sorted(r["loss"] for r in summary) == sorted(LOSSES)
    for row in summary:
        assert -1.0 < float(row["class_separation"]) <= 1.0
        assert -1.0 < float(row["class_separation_train"]) <= 1.0
        transfer = float(row["transfer_acc"])
        assert 0.0 <= transfer <= 1.0
        assert float(row["transfer_chance"]) == pytest.approx(0.25)  # 4 held-out classes
        assert transfer > 0.5  # well above chance after two epochs on the other six
    assert "class_separation" in (out / "summary.md").read_text()


def test_cka_tables(analysed):
    _, out, _, after = analysed
    layers = after["ce"]["analysis"]["layers"]
    assert layers[-2:] == ["features", "logits"] and len(layers) >= 4
    between = rows(out / "cka_between.csv")
    assert {(r["loss_a"], r["loss_b"]) for r in between} == {
        ("ce", "ce"),
        ("ce", "hem"),
        ("hem", "hem"),
    }
    for row in between:
        value = float(row["cka"])
        assert -1e-9 <= value <= 1 + 1e-9
        if row["loss_a"] == row["loss_b"]:  # a loss with itself, at every layer
            assert value == pytest.approx(1.0, abs=1e-9)
    assert {r["layer"] for r in between} == set(layers)
    within = rows(out / "cka_within.csv")
    assert len(within) == len(LOSSES) * len(layers) ** 2
    for row in within:
        assert -1e-9 <= float(row["cka"]) <= 1 + 1e-9
        if row["layer_a"] == row["layer_b"]:
            assert float(row["cka"]) == pytest.approx(1.0, abs=1e-9)
    cross = rows(out / "cka_cross.csv")
    assert len(cross) == len(layers) ** 2
    report = json.loads((out / "analysis.json").read_text())
    (group,) = report["groups"].values()
    assert group["losses"] == ["ce", "hem"] and group["layers"] == layers


def test_heatmaps_are_written(analysed):
    _, out, _, _ = analysed
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    names = {p.name for p in folder.glob("*.png")}
    assert {
        "cka_within_ce.png",
        "cka_within_hem.png",
        "cka_between_losses.png",
        "cka_ce_vs_hem.png",
        "separation_vs_transfer.png",
    } <= names
    for name in names:
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_records_gain_the_analysis_and_nothing_else_changes(analysed):
    _, out, before, after = analysed
    summary = {r["loss"]: r for r in rows(out / "summary.csv")}
    for loss in LOSSES:
        old, new = before[loss], after[loss]
        assert set(new) == set(old) | {"analysis"}
        for key in old:
            if key != "metrics":
                assert new[key] == old[key], key
        added = set(new["metrics"]) - set(old["metrics"])
        assert added == {"analysis/class_separation", "analysis/transfer_acc"}
        assert all(new["metrics"][k] == v for k, v in old["metrics"].items())
        analysis = new["analysis"]
        assert new["metrics"]["analysis/class_separation"] == analysis["class_separation"]
        assert new["metrics"]["analysis/transfer_acc"] == analysis["transfer_acc"]
        assert analysis["class_separation"] == pytest.approx(
            float(summary[loss]["class_separation"])
        )
        other = "hem" if loss == "ce" else "ce"
        assert set(analysis["cka_to"]) == {other}
        assert set(analysis["cka_to"][other]) == set(analysis["layers"])
        assert analysis["transfer"]["classes"] == [6, 7, 8, 9]
    assert after["ce"]["analysis"]["cka_to"]["hem"] == after["hem"]["analysis"]["cka_to"]["ce"]


def test_bad_input_exits_with_code_2(analysed, tmp_path, capsys):
    results, _, _, _ = analysed
    assert main(["analyze", "--results", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["analyze", "--results", str(tmp_path)]) == 2
    assert "no completed runs of task 'classify'" in capsys.readouterr().err
    assert main(["analyze", "--results", str(results), "--task", "ood"]) == 2
    assert "completed runs found for: classify" in capsys.readouterr().err
    assert main(["analyze", "--results", str(results), "--losses", "ce,focall"]) == 2
    err = capsys.readouterr().err
    assert "'focall'" in err and "Losses with runs: ce, hem" in err


def test_a_run_without_held_out_classes_has_no_transfer(tmp_path):
    args = ["run", "--task", "classify", "--task-option", "corruptions=none"]
    args += ["--max-epochs", "1", "--no-progress", "--loss", "ce", "--out", str(tmp_path)]
    assert main(args) == 0
    (path,) = tmp_path.glob("*/record.json")
    written = path.read_bytes()
    assert main(["analyze", "--results", str(tmp_path), "--no-plots", "--format", "json"]) == 0
    (summary,) = rows(tmp_path / "analysis" / "summary.csv")
    assert summary["transfer_acc"] == "" and "held-out" in summary["note"]
    assert path.read_bytes() == written  # without --write-records the record is only read
    analyze = ["analyze", "--results", str(tmp_path), "--no-plots", "--write-records"]
    assert main([*analyze, "--format", "json"]) == 0
    (record,) = records(tmp_path).values()
    assert "analysis/transfer_acc" not in record["metrics"]
    assert record["metrics"]["analysis/class_separation"] == pytest.approx(
        float(summary["class_separation"])
    )
    assert record["analysis"]["transfer_acc"] is None
    assert -1.0 < record["metrics"]["analysis/class_separation"] <= 1.0


def test_the_leaderboard_shows_the_analysis_of_real_runs(analysed, tmp_path):
    results, _, _, after = analysed
    out = tmp_path / "board"
    assert main(["leaderboard", "--results", str(results), "--out", str(out)]) == 0
    summary = json.loads((out / "leaderboard.json").read_text())
    (table,) = summary["analysis"]
    assert table["name"] == "analysis-classify-digits" and table["benchmark"].startswith("analysis")
    assert table["metrics"] == ["analysis/class_separation", "analysis/transfer_acc", "acc"]
    by_loss = {row["loss"]: row["metrics"] for row in table["rows"]}
    for loss, record in after.items():
        for key in ("analysis/class_separation", "analysis/transfer_acc", "acc"):
            assert by_loss[loss][key]["mean"] == pytest.approx(record["metrics"][key])
            assert by_loss[loss][key]["n"] == 1
    separation = [row["metrics"]["analysis/class_separation"]["mean"] for row in table["rows"]]
    assert separation == sorted(separation, reverse=True)
    csv_rows = rows(out / "analysis-classify-digits.csv")
    assert [r["loss"] for r in csv_rows] == [row["loss"] for row in table["rows"]]
    assert "## Representation analysis" in (out / "leaderboard.md").read_text()
    assert 'id="analysis"' in (out / "report.html").read_text()
    # the regular benchmark table is unchanged by the analysis
    (regular,) = summary["tables"]
    assert not any(m.startswith("analysis/") for m in regular["metrics"])
