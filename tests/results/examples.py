"""Checks every committed example (``results/example/``, ``results/mnist/``) passes: its
records are its preset's runs as the code makes them now, complete and of this version; its
tables, Markdown, report and plots are what the leaderboard makes of its records; the
numbers between its README's markers are generated from them."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd

import hem_bench
from hem_bench.results.leaderboard import build, key_metrics
from hem_bench.results.markdown import markdown_document
from hem_bench.results.record import SCHEMA_VERSION
from hem_bench.results.store import load_results
from hem_bench.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]


def stale(folder: Path) -> str:
    name = folder.relative_to(ROOT)
    return f"{name} is out of date: regenerate it with the commands in {name}/README.md"


def load_records(runs: Path) -> list[dict]:
    paths = sorted(runs.glob("*/record.json"))
    assert paths, f"no records under {runs}"
    return [json.loads(p.read_text()) for p in paths]


def load_board(runs: Path):
    results = load_results(runs, warn=False)
    return results, build(results.frame, baseline="ce", baseline_required=False)


def check_runs_are_the_preset(records: list[dict], configs: list, folder: Path) -> None:
    """The records are exactly the preset's runs (by run id: a hash of every resolved
    setting)."""
    expected = {c.run_id: c for c in configs}
    found = {r["run_id"]: r for r in records}
    missing = sorted(
        f"{c.task}/{c.loss}/seed{c.seed}/lr{c.lr}" for k, c in expected.items() if k not in found
    )
    extra = sorted(
        f"{r['task']}/{r['loss']}/seed{r['seed']}/lr{r['config']['lr']}"
        for k, r in found.items()
        if k not in expected
    )
    assert not missing and not extra, (
        f"{stale(folder)} (preset runs without a record: {missing[:5]}; records not in the "
        f"preset: {extra[:5]})"
    )


def check_records_complete(records: list[dict], folder: Path) -> None:
    """Completed, of this schema and version, with the task's key metrics; every ood run
    keeps the detector scores the report's ROC curves are drawn from."""
    for r in records:
        where = f"{r['task']}/{r['loss']}/seed{r['seed']}"
        assert r["status"] == "completed", where
        assert r["schema_version"] == SCHEMA_VERSION, (
            f"{stale(folder)} ({where}: schema {r['schema_version']})"
        )
        assert r["env"]["hem_bench"] == hem_bench.__version__, (
            f"{stale(folder)} ({where}: hem-bench {r['env']['hem_bench']})"
        )
        empty = {f"group/{g}/acc" for g, classes in (r.get("groups") or {}).items() if not classes}
        missing = [
            m
            for m in key_metrics(r["task"])
            if m not in r["metrics"] and m != r["headline"]["name"] and m not in empty
        ]  # a frequency group without classes (MNIST-LT has no "few" class) has no accuracy
        assert not missing, f"{stale(folder)} ({where} lacks the key metrics {missing})"
        assert r["metrics"][r["headline"]["name"]] == r["headline"]["value"]
        if r["task"] == "ood":
            name = f"{r['task']}-{r['dataset']}-{r['loss']}-seed{r['seed']}-{r['run_id'][:8]}"
            assert (folder / "runs" / name / "scores" / "ood_scores.npz").is_file(), name


def check_tables(folder: Path, board_pair, n: int) -> None:
    """The committed CSV tables and leaderboard.md are what the leaderboard code makes of
    the committed records today."""
    results, board = board_pair
    assert results.counts()["used"] == n and not results.skipped
    expected = {
        "overall.csv": board.overall.to_csv(index=False),
        "paired-ce.csv": board.paired_numeric().to_csv(index=False),
    }
    for table in board.tables:
        expected[f"{table.name}.csv"] = table.numeric().to_csv(index=False)
    for name, text in expected.items():
        path = folder / name
        assert path.is_file(), f"{stale(folder)} ({name} is missing)"
        try:  # numbers to 1e-9: the last digit of a float may differ between pandas versions
            pd.testing.assert_frame_equal(
                pd.read_csv(path), pd.read_csv(io.StringIO(text)), rtol=1e-9, atol=1e-12
            )
        except AssertionError as exc:
            raise AssertionError(f"{stale(folder)} ({name} differs: {exc})") from None
    committed = (folder / "leaderboard.md").read_text()
    header = committed.splitlines()[2]
    runs = (folder / "runs").relative_to(ROOT)
    assert header.startswith(f"Aggregated {n} run records of {n} found under {runs}"), header
    assert committed == markdown_document(board, header), (
        f"{stale(folder)} (leaderboard.md differs)"
    )


def check_report_and_versions(folder: Path, records: list[dict], board, commands) -> None:
    """The report names every loss and holds images; the README holds the commands that
    made the example, the versions of the records and the date of the last one."""
    html = (folder / "report.html").read_text()
    for loss in board.losses:
        assert f">{loss}<" in html
    assert "<img" in html and "data:image/png;base64," in html
    readme = (folder / "README.md").read_text()
    for command in commands:
        assert command in readme, command
    env = records[0]["env"]
    for package in ("python", "torch", "lightning", "hem_bench"):
        versions = {r["env"][package] for r in records}
        assert versions == {env[package]}, (
            f"records made with several {package} versions: {versions}"
        )
        assert re.search(rf"\b{re.escape(env[package])}\b", readme), (
            f"README lacks {package} {env[package]}"
        )
    dates = sorted(r["finished_at"][:10] for r in records)
    assert dates[-1] in readme, f"README lacks the date {dates[-1]}"


def between(text: str, start: str, end: str) -> str:
    assert start in text and end in text, f"README lacks the markers {start} ... {end}"
    return text[text.index(start) + len(start) : text.index(end)].strip()


def check_readme_markers(folder: Path, board) -> None:
    """Every number of the README's findings and claims is what the leaderboard makes of
    the records now (the blocks between the markers are written by ``hem-bench
    leaderboard --format md``)."""
    from hem_bench.results.markdown import (
        CLAIMS_END,
        CLAIMS_START,
        FINDINGS_END,
        FINDINGS_START,
        claims_section,
        findings_section,
    )

    readme = (folder / "README.md").read_text()
    expected = "\n".join(findings_section(board)[1:]).strip()
    assert between(readme, FINDINGS_START, FINDINGS_END) == expected, (
        f"{stale(folder)} (the README's findings differ)"
    )
    expected = "\n".join(claims_section(board)).strip()
    assert between(readme, CLAIMS_START, CLAIMS_END) == expected, (
        f"{stale(folder)} (the README's claims differ)"
    )


def metric(records: list[dict], task: str, loss: str, key: str, lr_main: bool = True) -> list:
    """``key`` of the runs of ``task`` and ``loss`` by seed (at the recipe's learning rate,
    unless ``lr_main`` is false)."""
    rows = [r for r in records if r["task"] == task and r["loss"] == loss]
    if lr_main:
        rows = [r for r in rows if r["config"]["lr"] == get_task(task).recipe(r["dataset"]).lr]
    return [r["metrics"][key] for r in sorted(rows, key=lambda r: r["seed"])]


def runs_by_seed(
    records: list[dict], task: str, loss: str, seeds: list[int], folder: Path, buffer=None
) -> list[dict]:
    """The records of ``task`` and ``loss``, by seed, which must be ``seeds`` (continual:
    those with the recipe's replay buffer, or with ``buffer``)."""
    rows = [r for r in records if r["task"] == task and r["loss"] == loss]
    if task == "continual":
        default = get_task("continual").options.model_fields["buffer"].default
        wanted = default if buffer is None else buffer
        rows = [r for r in rows if r["config"]["task_options"]["buffer"] == wanted]
    rows = sorted(rows, key=lambda r: r["seed"])
    assert [r["seed"] for r in rows] == seeds, f"{stale(folder)} ({task}/{loss}: {rows})"
    return rows


def continual_shortfalls(
    replay: list[dict], plain: list[dict], diagonal: float, bwt: float
) -> list[str]:
    """Where continual runs with replay fall short, seed by seed: an experience not learnt
    to ``diagonal`` right after training on it, backward transfer above ``bwt`` (no
    forgetting to speak of), or an average accuracy not above the run without replay
    (``plain``, the same seed)."""
    short = []
    for r, fine_tuned in zip(replay, plain):
        for i, row in enumerate(r["accuracy_matrix"]):
            if row[i] < diagonal:
                short.append(f"continual seed {r['seed']} experience {i}: {row[i]:.3f}")
        if r["metrics"]["bwt"] > bwt:
            short.append(f"continual seed {r['seed']} bwt {r['metrics']['bwt']:.3f}")
        if r["metrics"]["avg_acc"] <= fine_tuned["metrics"]["avg_acc"]:
            short.append(f"continual seed {r['seed']}: replay no better than fine-tuning")
    return short
