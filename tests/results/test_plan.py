"""``hem-bench plan``: the seeds that would decide each undecided claim or comparison, from
the records, checked against the noncentral t computed here."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

from tests.results.conftest import call
from tests.results.records import record, write
from tests.results.test_families import BASE, HEADLINES, clamped, known, seeds_for


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan")
    for (task, loss, lr), numbers in known().items():
        dataset = "digit-scenes" if task == "segmentation" else "digits"
        for seed, value in enumerate(numbers):
            data = record(
                task, dataset, loss, seed, {HEADLINES[task]: float(value)}, HEADLINES[task]
            )
            data["config"] = {"lr": lr}
            write(folder, f"{task}-{loss}-{lr}-{seed}", data)
    return folder


def plan(*argv: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(["plan", *argv])


def test_plan_of_one_claim_against_the_noncentral_t(store):
    """The 3-seed arm of "HEM better than CE at segmentation": the seeds its observed
    effect needs for 80 % power at α/6 (the claims family of 5 it would join), by a loop
    over the noncentral t."""
    data = known()
    result = plan(
        "--results", str(store), "--claim", "better than CE at segmentation", "--format", "json"
    )
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)
    (row,) = rows
    assert (
        row["where"] == "segmentation/digit-scenes (lr=0.0003)" and row["family"] == "descriptive"
    )
    d = data[("segmentation", "hem", 0.0003)] - data[("segmentation", "ce", 0.0003)]
    # never fewer than make a t-test decidable there: 3 seeds, the arm's own, are not
    expected = clamped(seeds_for(d.mean() / d.std(ddof=1), 0.05 / 6), 6)
    assert row["seeds needed"] == str(expected) and row["n"] == 3
    # the null effect on imbalanced data would need more seeds than the cap
    result = plan("--results", str(store), "--claim", "imbalanced", "--format", "json")
    (row,) = json.loads(result.stdout)
    d = data[("imbalanced", "hem", 0.1)] - BASE
    assert seeds_for(d.mean() / d.std(ddof=1), 0.05 / 5) is None and row["seeds needed"] == "> 1000"


def test_plan_table_and_its_answers(store):
    """Every undecided test in a table with the families' sizes; a decided claim is named
    with its verdict; a text matching nothing is one line and exit code 2."""
    result = plan("--results", str(store))
    assert result.code == 0, result.stderr
    assert "claims family: 5 tests; exploratory family: 2 comparisons against ce" in result.stdout
    assert "focal vs ce" in result.stdout
    result = plan("--results", str(store), "--claim", "unknown-class rejection")
    assert result.code == 0
    assert "HEM better than CE at unknown-class rejection: holds" in result.stdout
    result = plan("--results", str(store), "--claim", "no such thing")
    assert result.code == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("hem-bench plan: error: --claim 'no such thing' matches no")
    assert len(result.stderr.strip().splitlines()) == 1


def test_plan_is_listed_and_imports_nothing_heavy():
    """``hem-bench --help`` lists plan; its options import no pandas, scipy or torch."""
    code = (
        "import sys, argparse, hem_bench.cli.plan as m; m.add_arguments(argparse.ArgumentParser()); "
        "print(sorted(x for x in ('pandas', 'scipy', 'torch', 'numpy') if x in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "hem_bench", "--help"], capture_output=True, text=True
    )
    assert listed.returncode == 0 and "plan" in listed.stdout
