"""Wall time of the README's main job, ``hem-bench run --task ood --loss hem``, on this
machine, imports included (a fresh process). Requirement: at most 60 s; goal: 30 s."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .timing import report


def test_default_ood_run_wall_time():
    rows = []
    for attempt in range(2):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "hem_bench",
                    "run",
                    "--task",
                    "ood",
                    "--loss",
                    "hem",
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
        rows.append(
            {
                "attempt": attempt + 1,
                "wall s": f"{wall:.1f}",
                "setup s": timings["setup"],
                "fit s": timings["fit"],
                "test s": timings["test"],
                "imports etc. s": f"{wall - timings['total']:.1f}",
                "auroc": f"{record['metrics']['auroc']:.4f}",
            }
        )
    report("run_speed", rows)
