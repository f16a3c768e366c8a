"""A small timing harness for the benchmarks: interleaved runs, medians, a saved report.

Benchmarks report figures; they assert nothing about time (speed is measured here, not
tested). Each benchmark writes its figures as JSON to ``.benchmarks/`` (ignored by git)
and prints a table.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parents[2] / ".benchmarks"


def interleaved_medians(
    functions: dict[str, Callable[[], object]], repeats: int = 200, block: int = 20
) -> dict[str, float]:
    """Median seconds per call of each function.

    The functions take turns in blocks of ``block`` calls (after one block of warm-up), so
    that drift in the machine's speed affects all of them alike, while each block runs
    under the memory-allocator state its own function leaves behind.
    """
    for fn in functions.values():
        for _ in range(block):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(max(1, repeats // block)):
        for name, fn in functions.items():
            for _ in range(block):
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def report(name: str, rows: list[dict]) -> None:
    """Print ``rows`` as a table and save them with the machine's description."""
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    if not rows:
        return
    columns = list(rows[0])
    widths = [max(len(str(c)), *(len(str(r[c])) for r in rows)) for c in columns]
    print()
    print(f"== {name} ({machine()['cores']} cores, torch {torch.__version__}) ==")
    print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths)))
