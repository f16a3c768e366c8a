"""A task is one file: a plugin defines a small task (its Options, headline, key metrics,
DataModule and LightningModule) and ``run``, ``sweep``, ``leaderboard`` and ``tasks`` all
handle it with no other change; installed packages register tasks through the entry-point
group ``hem_bench.tasks``. Also: a failure leaves the same failed record under ``run`` and
under ``sweep``."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.helpers import run_cli

#: a top-k accuracy task on the embedded digits, in one file
TOPK_TASK = textwrap.dedent(
    '''
    """Top-k accuracy on the embedded digits: a task from a plugin file."""
    import torch

    from hem_bench.recipes import RECIPES
    from hem_bench.tasks import Metric, Task, TaskOptions, option, register_task
    from hem_bench.tasks.base import ClassificationTask, classification_datamodule


    class TopKOptions(TaskOptions):
        k: int = option(2, "how many of the highest logits may hold the label", ">= 1", ge=1)
        fail: bool = option(False, "raise while training (a failing run)", "true or false")


    class TopKModule(ClassificationTask):
        def training_step(self, batch, batch_idx):
            if self.options.fail:
                raise RuntimeError("planted failure")
            return super().training_step(batch, batch_idx)

        def summarize(self):
            from hem_bench.metrics.classification import accuracy

            test = self.gathered("test")
            top = test["logits"].topk(self.options.k, dim=1).indices
            hit = (top == test["labels"].view(-1, 1)).any(1).float()
            return {"topk_acc": hit.mean().item(), "acc": accuracy(test["logits"], test["labels"])}


    def _data(config):
        return classification_datamodule(config)


    TOPK = register_task(
        Task(
            name="topk",
            summary="top-k accuracy of the embedded digits",
            kind="classification",
            default_dataset="digits",
            options=TopKOptions,
            recipes={"digits": RECIPES["digits"]},
            headline=Metric("topk_acc"),
            key_metrics=(Metric("acc"),),
            metrics="topk_acc (the label among the k highest logits), acc",
            datamodule=_data,
            module=lambda: TopKModule,
        )
    )
    '''
)

QUICK = ["--max-epochs", "1", "--threads", "1", "--no-progress"]


def _records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("record.json"))]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("plugin") / "topk.py"
    path.write_text(TOPK_TASK)
    return path


def test_tasks_lists_and_describes_the_plugin_task(plugin):
    proc = run_cli("tasks", "--plugin", str(plugin))
    assert proc.returncode == 0, proc.stderr
    line = next(row for row in proc.stdout.splitlines() if row.startswith("topk "))
    assert "topk_acc ↑" in line and "top-k accuracy" in line
    proc = run_cli("tasks", "topk", "--plugin", str(plugin))
    assert proc.returncode == 0, proc.stderr
    flat = " ".join(proc.stdout.split())
    assert "headline: topk_acc (higher is better); key metrics: acc ↑" in flat
    assert "how many of the highest logits may hold the label" in flat
    assert "type int, default 2, accepts: >= 1" in flat
    assert "type bool, default false, accepts: true or false" in flat
    rows = json.loads(run_cli("tasks", "--format", "json", "--plugin", str(plugin)).stdout)
    assert {r["task"] for r in rows} >= {"topk", "classify", "ood"}


def test_run_resolves_validates_and_summarises_the_plugin_task(plugin, tmp_path):
    for k in ("1", "10"):
        out = tmp_path / f"k{k}"
        proc = run_cli(
            "run", "--plugin", str(plugin), "--task", "topk", "--task-option", f"k={k}",
            *QUICK, "--out", str(out),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        (record,) = _records(out)
        assert record["status"] == "completed" and record["task"] == "topk"
        assert record["config"]["task_options"] == {"k": int(k), "fail": False}
        assert record["headline"] == {
            "name": "topk_acc",
            "value": record["metrics"]["topk_acc"],
            "higher_is_better": True,
        }
        # the summary shows the headline, then the task's key metrics
        assert "topk_acc (headline)" in proc.stdout and "│ acc" in proc.stdout
        if k == "1":  # top-1 accuracy is the accuracy, computed by the suite's metric
            assert record["metrics"]["topk_acc"] == pytest.approx(record["metrics"]["acc"])
            assert 0.1 < record["metrics"]["acc"] < 1.0
        else:  # every label is among the 10 logits of 10 classes
            assert record["metrics"]["topk_acc"] == 1.0
    proc = run_cli(
        "run", "--plugin", str(plugin), "--task", "topk", "--task-option", "k=0",
        *QUICK, "--out", str(tmp_path / "bad"),
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "hem-bench run: error: task option k=0: Input should be greater than or equal to 1 "
        "(accepts: >= 1)"
    )
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").rglob("*.json"))


def test_sweep_and_leaderboard_handle_the_plugin_task(plugin, tmp_path):
    out = tmp_path / "grid"
    proc = run_cli(
        "sweep", "--plugin", str(plugin), "--tasks", "topk", "--losses", "ce,hem",
        "--seeds", "0,1", "--task-option", "k=3", "--max-epochs", "1", "--threads", "1",
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = _records(out)
    assert len(records) == 4 and {r["status"] for r in records} == {"completed"}
    assert {r["config"]["task_options"]["k"] for r in records} == {3}
    board = tmp_path / "board"
    proc = run_cli(
        "leaderboard", "--plugin", str(plugin), "--results", str(out), "--out", str(board),
        "--format", "csv,md",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "unknown task" not in proc.stderr
    markdown = "\n".join(p.read_text() for p in board.rglob("*.md"))
    assert "topk_acc" in markdown
    # the benchmark's table shows the task's key metric beside its headline, and the mean
    # headline of each loss is the mean of its runs' values
    import csv

    tables = {p.name: p for p in board.rglob("*.csv")}
    path = next(p for name, p in tables.items() if name.startswith("topk"))
    with open(path, newline="") as handle:
        rows = {row[next(iter(row))]: row for row in csv.DictReader(handle)}
    columns = list(next(iter(rows.values())))
    assert any(c.startswith("topk_acc") for c in columns)
    assert any(c.startswith("acc") for c in columns)  # the key metric
    mean_column = next(c for c in columns if c.startswith("topk_acc") and "mean" in c)
    for loss in ("ce", "hem"):
        values = [r["metrics"]["topk_acc"] for r in records if r["loss"] == loss]
        assert float(rows[loss][mean_column]) == pytest.approx(sum(values) / len(values))


def _comparable(record: dict) -> dict:
    """A record without what differs between two attempts: times, timings, env."""
    return {
        k: v
        for k, v in record.items()
        if k not in ("started_at", "finished_at", "timings", "env", "config")
    } | {"config": {k: v for k, v in record["config"].items() if k != "out"}}


@pytest.mark.parametrize("where", ["training", "building"])
def test_run_and_sweep_leave_the_same_failed_record(plugin, tmp_path, where):
    source = plugin.read_text()
    if where == "building":  # the DataModule factory fails: before training starts
        source = source.replace(
            "def _data(config):\n", "def _data(config):\n    raise RuntimeError('no data')\n"
        )
    failing = tmp_path / "failing.py"
    failing.write_text(source)
    option = ["--task-option", "fail=true"] if where == "training" else []
    run_out, sweep_out = tmp_path / "run", tmp_path / "sweep"
    proc = run_cli(
        "run", "--plugin", str(failing), "--task", "topk", *option, *QUICK,
        "--out", str(run_out),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    proc = run_cli(
        "sweep", "--plugin", str(failing), "--tasks", "topk", "--losses", "ce", "--seeds", "0",
        *option, "--max-epochs", "1", "--threads", "1", "--out", str(sweep_out),
    )  # fmt: skip
    assert proc.returncode != 0 or "failed" in proc.stdout + proc.stderr
    (from_run,) = _records(run_out)
    (from_sweep,) = _records(sweep_out)
    assert from_run["status"] == "failed"
    message = "RuntimeError: planted failure" if where == "training" else "RuntimeError: no data"
    assert from_run["error"] == message
    assert _comparable(from_run) == _comparable(from_sweep)
    assert set(from_run["timings"]) == set(from_sweep["timings"])
    for out in (run_out, sweep_out):
        (log,) = out.rglob("error.log")
        assert message.split(": ")[1] in log.read_text()


def test_entry_point_task_from_an_installed_distribution(tmp_path):
    package = tmp_path / "hembench_topk_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(TOPK_TASK.replace('name="topk"', 'name="ep-topk"'))
    dist_info = tmp_path / "hembench_topk_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hembench_topk_plugin\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[hem_bench.tasks]\nep-topk = hembench_topk_plugin:TOPK\n"
        "broken = hembench_topk_plugin:Missing\n"
    )
    (dist_info / "RECORD").write_text("")
    env = {"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = run_cli("tasks", "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = {r["task"]: r for r in json.loads(proc.stdout)}
    assert rows["ep-topk"]["headline"] == "topk_acc (higher is better)"
    assert rows["ep-topk"]["options"] == {"k": 2, "fail": False}
    assert "could not load task plugin 'broken'" in proc.stderr and "classify" in rows
    proc = run_cli("run", "--task", "ep-topk", *QUICK, "--out", str(tmp_path / "out"), env=env)
    assert proc.returncode == 0, proc.stderr
    (record,) = _records(tmp_path / "out")
    assert record["task"] == "ep-topk" and 0 < record["headline"]["value"] <= 1
