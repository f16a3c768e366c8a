"""Wall time of the full offline grid, ``hem-bench sweep --preset embedded --workers 2``
(6 tasks x 7 losses x 5 seeds = 210 runs, and the segmentation arm at lr/10, 7 losses x 3
seeds = 21 runs: 231), and where the time goes per task. Limit on 2 CPU cores: 20 minutes
(goal 15). Slow (the whole grid): run it alone, ``pytest
tests/perf/test_sweep_speed.py -s``."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .timing import report


def test_embedded_preset_sweep():
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "hem_bench",
                "sweep",
                "--preset",
                "embedded",
                "--workers",
                "2",
                "--no-progress",
                "--out",
                out,
            ],
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - start
        records = [json.loads(p.read_text()) for p in Path(out).glob("*/record.json")]
    rows = []
    for task in sorted({r["task"] for r in records}):
        runs = [r for r in records if r["task"] == task]
        rows.append(
            {
                "task": task,
                "runs": len(runs),
                "run time s (sum)": f"{sum(r['timings']['total'] for r in runs):.0f}",
                "mean per run s": f"{sum(r['timings']['total'] for r in runs) / len(runs):.1f}",
            }
        )
    rows.append(
        {
            "task": "whole sweep (2 workers)",
            "runs": len(records),
            "run time s (sum)": f"wall {wall:.0f}",
            "mean per run s": "",
        }
    )
    report("sweep_speed", rows)
