"""Wall time of each task's default run, ``hem-bench run --task T --loss L``, imports included
(a fresh process), on this machine.

Targets: the README's main job (ood, hem) at most 60 s, goal 30 s; adversarial and
imbalanced defaults at most 90 s each (AutoAttack subset included); continual at most
3 minutes including evaluation.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from .timing import report

DEFAULTS = [
    ("ood", "hem", 60),
    ("adversarial", "hem", 90),
    ("imbalanced", "hem-plus", 90),
    ("continual", "hem", 180),
    ("classify", "hem", None),
]
ROWS: list[dict] = []


@pytest.mark.parametrize(("task", "loss", "target"), DEFAULTS, ids=[t for t, _, _ in DEFAULTS])
def test_default_run_wall_time(task, loss, target):
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "hem_bench",
                "run",
                "--task",
                task,
                "--loss",
                loss,
                "--no-progress",
                "--out",
                out,
            ],
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - start
        record = json.loads(next(Path(out).glob("*/record.json")).read_text())
    timings = record["timings"]
    ROWS.append(
        {
            "run": f"--task {task} --loss {loss}",
            "wall s": f"{wall:.1f}",
            "target s": target or "-",
            "fit s": timings.get("fit", 0),
            "test s": timings.get("test", 0),
            "imports, setup s": f"{wall - timings['total'] + timings['setup']:.1f}",
            "headline": f"{record['headline']['name']} {record['headline']['value']:.4f}",
        }
    )
    report("run_speed", ROWS)
