"""Start-up time of ``hem-bench --help`` (target: under 0.5 s; no torch or lightning)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from .timing import report


def _time(command: list[str], repeats: int = 10) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def test_help_startup():
    rows = []
    script = Path(sys.executable).with_name("hem-bench")  # the console script beside python
    if script.exists():
        rows.append({"command": "hem-bench --help", "s": f"{_time([str(script), '--help']):.3f}"})
    rows.append(
        {
            "command": "python -m hem_bench --help",
            "s": f"{_time([sys.executable, '-m', 'hem_bench', '--help']):.3f}",
        }
    )
    rows.append(
        {
            "command": "python -c 'import torch' (for scale)",
            "s": f"{_time([sys.executable, '-c', 'import torch'], repeats=3):.3f}",
        }
    )
    report("cli_startup", rows)
