"""A task owns its extras: a plugin task with a lower-is-better key metric, an artefact,
summary notes and a report section of its own gets them everywhere, through the task object
alone (no generic module knows the task): the saved file, the notes under the run summary,
the report's arrow and bold mark read from its ``Metric`` and its section in the page.

The plugin is written as the built-in tasks are: one file with its Options, its part of the
LightningModule (a ``TaskModule``), its hooks and its registration.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_cli
from tests.results.records import record, write

#: a task on the embedded digits whose key metric is an error rate (lower is better)
ERROR_TASK = textwrap.dedent(
    '''
    """Error rate on the embedded digits, with every extra a task can have."""
    from hem_bench.recipes import RECIPES
    from hem_bench.tasks import Metric, Task, TaskModule, TaskOptions, option, register_task


    class ErrorOptions(TaskOptions):
        scale: float = option(1.0, "factor on the saved probabilities", "> 0", gt=0)


    def make_datamodule(config):
        from hem_bench.tasks.base import classification_datamodule

        return classification_datamodule(config)


    class ErrorTask(TaskModule):
        def summarize(self):
            test = self.gathered("test")
            probs = test["logits"].softmax(1)
            error = (test["logits"].argmax(1) != test["labels"]).float().mean().item()
            self.artifacts["probabilities"] = {
                "test": (probs * self.options.scale).numpy(),
                "labels": test["labels"].numpy(),
            }
            return {"acc": 1.0 - error, "error": error}


    def summary_notes(metrics):
        return [f"error {metrics['error']:.4f}: the share of test digits misread"]


    def report_section(view):
        from hem_bench.results.html import escape

        return (
            f'<div id="error-section">error task section: {len(view.runs)} runs of '
            f"{escape(', '.join(view.losses))}</div>"
        )


    ERROR = register_task(
        Task(
            name="errtask",
            summary="error rate of the embedded digits",
            kind="classification",
            default_dataset="digits",
            options=ErrorOptions,
            recipes={"digits": RECIPES["digits"]},
            headline=Metric("acc"),
            key_metrics=(Metric("error", higher_is_better=False),),
            metrics="acc, error",
            datamodule=make_datamodule,
            module=ErrorTask,
            summary_notes=summary_notes,
            report_section=report_section,
        )
    )
    '''
)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("plugin") / "errtask.py"
    path.write_text(ERROR_TASK)
    return path


def test_a_run_saves_the_tasks_artefact_and_prints_its_notes(plugin, tmp_path):
    proc = run_cli(
        "run", "--plugin", str(plugin), "--task", "errtask", "--task-option", "scale=2",
        "--max-epochs", "1", "--threads", "1", "--no-progress", "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (path,) = tmp_path.rglob("record.json")
    metrics = json.loads(path.read_text())["metrics"]
    assert metrics["acc"] + metrics["error"] == pytest.approx(1.0)
    assert f"error {metrics['error']:.4f}: the share of test digits misread" in proc.stdout
    with np.load(path.parent / "scores" / "probabilities.npz") as saved:
        probs, labels = saved["test"], saved["labels"]
    # the saved probabilities (times scale=2) give the recorded error rate
    assert probs.sum(axis=1) == pytest.approx(np.full(len(probs), 2.0), abs=1e-4)
    assert (probs.argmax(1) != labels).mean() == pytest.approx(metrics["error"], abs=1e-6)


def test_the_report_reads_the_tasks_direction_and_section(plugin, tmp_path):
    """The report marks the error column lower-is-better, lists the loss with the lower
    error first, bolds nothing in the benchmark's table, and holds the task's section."""
    results = tmp_path / "runs"
    for seed in range(5):
        for loss, error, step in (("ce", 0.30, 0.001), ("hem", 0.10, 0.003)):
            error += step * seed  # differences that vary by seed: a t-test can decide them
            metrics = {"acc": 1.0 - error, "error": error}
            write(
                results, f"{loss}-{seed}", record("errtask", "digits", loss, seed, metrics, "acc")
            )
    proc = run_cli(
        "leaderboard", "--plugin", str(plugin), "--results", str(results),
        "--out", str(tmp_path / "board"), "--format", "html",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "board" / "report.html").read_text()
    table = re.search(r'<table id="t-errtask-digits".*?</table>', page, re.S).group(0)
    headers = re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)
    error_header = next(h for h in headers if ">error" in h)
    assert 'title="lower is better"' in error_header and "error ↓" in error_header
    rows = {
        re.search(r"<td[^>]*>(?:<a [^>]*>)?([a-z]+)", row).group(1): row
        for row in re.findall(r"<tr>(<td.*?)</tr>", table, re.S)
    }
    cells = {
        loss: re.findall(r'<td class="([^"]*)"[^>]*>([^<]*)</td>', row)
        for loss, row in rows.items()
    }
    error_cell = {
        loss: next(c for c in row if c[1].startswith(("0.10", "0.30")))
        for loss, row in cells.items()
    }
    # the losses are listed best first by the headline (hem: higher accuracy, lower error);
    # nothing in a benchmark's table is bold (significance is the paired table's to say)
    assert list(rows)[0] == "hem" and error_cell["hem"][1] < error_cell["ce"][1]
    assert not any("best" in css for row in cells.values() for css, _ in row)
    assert '<div id="error-section">error task section: 10 runs of hem, ce</div>' in page
