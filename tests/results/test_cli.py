"""``hem-bench leaderboard``: the files it writes, what it prints, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import run_cli
from tests.results.conftest import call
from tests.results.records import record, write

TABLES = [
    "adversarial-digits",
    "classify-digits",
    "continual-split-digits",
    "fewshot-digits",
    "ood-digits",
    "segmentation-digit-scenes",
]


def test_every_output_is_written(board):
    """All formats by default: Markdown, CSV per table, JSON, HTML and the PNGs; the paths and the overall table are printed."""
    names = {p.relative_to(board.out).as_posix() for p in board.out.rglob("*") if p.is_file()}
    expected = {"leaderboard.md", "leaderboard.json", "report.html", "overall.csv"}
    expected |= {"paired-ce.csv", "protocols.csv", "ranks.csv", "claims.csv", "power.csv"}
    expected |= {f"{t}.csv" for t in TABLES}
    assert expected <= names
    assert {n for n in names if n not in expected} == {
        n for n in names if n.startswith("plots/") and n.endswith(".png")
    }
    stdout = board.result.stdout
    assert "mean rank" in stdout and "ood/digits auroc" in stdout
    for name in expected:
        assert str(board.out / name) in stdout


def test_the_overall_table_is_sorted_by_mean_rank(board):
    """The JSON overall table is in mean-rank order; ce ran on all six benchmarks."""
    overall = json.loads((board.out / "leaderboard.json").read_text())["overall"]
    ranks = [row["mean rank"] for row in overall]
    assert ranks == sorted(ranks)
    assert {row["loss"] for row in overall} >= {"ce", "hem"}
    ce = next(row for row in overall if row["loss"] == "ce")
    assert ce["benchmarks"] == 6


def test_formats_choose_the_outputs(mixed_results, tmp_path):
    """``--format csv,json`` (spaces and case tolerated) writes only those; ``--baseline`` names the paired CSV."""
    result = call(
        [
            "leaderboard",
            "--results",
            str(mixed_results.folder),
            "--out",
            str(tmp_path),
            "--format",
            "csv, JSON",
            "--baseline",
            "hem",
        ]
    )
    assert result.code == 0, result.stderr
    names = {p.name for p in tmp_path.rglob("*")}
    assert "paired-hem.csv" in names and "leaderboard.json" in names
    assert not names & {"report.html", "leaderboard.md", "plots"}


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "does not exist"),
        ("empty", "no run records"),
        ("format", "unknown --format 'pdf'; accepted: md, csv, html, json, png"),
        ("baseline", "baseline loss 'nope' has no records; losses with records: ce"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, case, message):
    """Bad input: exit code 2, one line naming the value, no traceback, nothing written."""
    results = tmp_path / "results"
    results.mkdir()
    if case in ("format", "baseline"):
        write(results, "a", record("ood", "digits", "ce", 0, {"auroc": 0.8}, "auroc"))
    argv = ["leaderboard", "--results", str(results), "--out", str(tmp_path / "out")]
    if case == "missing":
        argv[2] = str(tmp_path / "nowhere")
    if case == "format":
        argv += ["--format", "md,pdf"]
    if case == "baseline":
        argv += ["--baseline", "nope"]
    result = call(argv)
    assert result.code == 2
    assert result.stderr.startswith("hem-bench leaderboard: error: ")
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_command_is_listed_and_imports_nothing_heavy():
    """``hem-bench --help`` lists the command, and its module imports no pandas, matplotlib, scipy, numpy or torch."""
    listed = run_cli("--help")
    assert listed.returncode == 0 and "leaderboard" in listed.stdout
    code = (
        "import sys, hem_bench.cli.leaderboard as m, argparse; "
        "m.add_arguments(argparse.ArgumentParser()); "
        "print(sorted(x for x in ('pandas', 'matplotlib', 'torch', 'scipy', 'numpy') "
        "if x in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_without_the_default_baseline_the_rest_is_still_written(tmp_path):
    """No ``ce`` runs and no --baseline: a warning, no paired comparisons, every table."""
    results = tmp_path / "results"
    results.mkdir()
    for seed in (0, 1):
        write(
            results,
            f"h{seed}",
            record("ood", "digits", "hem", seed, {"auroc": 0.8 + seed / 10}, "auroc"),
        )
        write(results, f"f{seed}", record("ood", "digits", "focal", seed, {"auroc": 0.7}, "auroc"))
    result = call(["leaderboard", "--results", str(results), "--out", str(tmp_path / "out")])
    assert result.code == 0, result.stderr
    assert "baseline loss 'ce' has no records" in result.stderr
    assert (tmp_path / "out" / "overall.csv").is_file() and (
        tmp_path / "out" / "report.html"
    ).is_file()
    assert (
        "No loss shares a benchmark with the baseline"
        in (tmp_path / "out" / "leaderboard.md").read_text()
    )
