"""Fixtures: real run records made once per session by the real command line, a results
folder that mixes them with hand-written edge cases, and one ``hem-bench leaderboard`` run
over it."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from hem_bench.cli import main
from tests.results.records import record, synthetic_records, write

#: the real runs: (task, loss, seed, extra flags); 8 runs of a few seconds each
REAL_RUNS = [
    (task, loss, seed, extra)
    for task, extra in (("ood", []), ("classify", ["--task-option", "corruptions=none"]))
    for loss in ("ce", "hem")
    for seed in (0, 1)
]
MALICIOUS = "<script>alert(1)</script>"


@dataclass
class CliResult:
    """What one in-process ``hem-bench`` call returned and printed."""

    code: int
    stdout: str
    stderr: str


def call(argv: list[str]) -> CliResult:
    """Run ``hem-bench ARGV`` in-process, capturing its output; the warnings filter and
    display that the CLI installs are restored afterwards."""
    out, err = io.StringIO(), io.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main(argv)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def real_results(tmp_path_factory) -> Path:
    """A results folder with real records: ood and classify, ce and hem, seeds 0 and 1,
    trained for one epoch by ``hem-bench run``."""
    folder = tmp_path_factory.mktemp("real")
    for task, loss, seed, extra in REAL_RUNS:
        argv = ["run", "--task", task, "--loss", loss, "--seed", str(seed), *extra]
        result = call([*argv, "--max-epochs", "1", "--no-progress", "--out", str(folder)])
        assert result.code == 0, result.stderr
    return folder


def real_records(folder: Path) -> list[dict]:
    """Every record.json under ``folder`` written by a real run."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*/record.json"))]


@dataclass
class Mixed:
    """The mixed results folder and the paths of its hand-written edge cases."""

    folder: Path
    failed: Path
    other_schema: Path
    invalid: Path
    malicious: Path
    synthetic: dict[str, Path]


@pytest.fixture(scope="session")
def mixed_results(real_results, tmp_path_factory) -> Mixed:
    """The real records (with their OOD scores) plus: a failed run, a record of another
    schema version, a file of invalid JSON, a copy of a real OOD record under a loss named
    like a script, and synthetic records of other tasks (see :mod:`tests.results.records`)."""
    folder = tmp_path_factory.mktemp("mixed")
    for run_dir in sorted(real_results.iterdir()):
        shutil.copytree(
            run_dir,
            folder / "real" / run_dir.name,
            ignore=shutil.ignore_patterns("checkpoints", "logs", "model.pt"),
        )
    ood = json.loads(next(real_results.glob("ood-digits-ce-seed0-*/record.json")).read_text())
    failed = record("ood", "digits", "focal", 0, {}, "auroc", status="failed", error="boom <b>")
    other = dict(ood, schema_version=0, loss="old-loss")
    evil = dict(ood, loss=MALICIOUS, run_id="evil")
    malicious = write(folder / "edge", "evil", evil)
    shutil.copytree(
        next(real_results.glob("ood-digits-ce-seed0-*")) / "scores", malicious.parent / "scores"
    )
    return Mixed(
        folder=folder,
        failed=write(folder / "edge", "failed", failed),
        other_schema=write(folder / "edge", "old", other),
        invalid=write(folder / "edge", "broken", '{"schema_version": 1, "status": '),
        malicious=malicious,
        synthetic=synthetic_records(folder / "synthetic"),
    )


@dataclass
class Board:
    """One ``hem-bench leaderboard`` run over the mixed folder."""

    out: Path
    result: CliResult
    mixed: Mixed


@pytest.fixture(scope="session")
def board(mixed_results, tmp_path_factory) -> Board:
    """``hem-bench leaderboard --results MIXED --out OUT`` with every format."""
    out = tmp_path_factory.mktemp("board")
    result = call(["leaderboard", "--results", str(mixed_results.folder), "--out", str(out)])
    assert result.code == 0, result.stderr
    return Board(out, result, mixed_results)
