"""Wall time of the default segmentation run, ``hem-bench run --task segmentation --loss
ce``, on this machine, imports and evaluation included (a fresh process), its CPU time
(user + sys of the child) and the mIoU it reaches; cross-entropy, for which the recipe was
chosen, first, then HEM with the same recipe. Target: at most 45 s wall on 2 CPU cores and
mIoU >= 0.6 for cross-entropy.

The figures are in tests/perf/README.md. Under load from other processes the same run takes
several times longer (two torch threads competing for two cores): compare CPU seconds."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .timing import report

LOSSES = ("ce", "hem")


def test_default_segmentation_run_wall_time():
    rows = []
    for loss in LOSSES:
        with tempfile.TemporaryDirectory() as out:
            command = [sys.executable, "-m", "hem_bench", "run", "--task", "segmentation"]
            command += ["--loss", loss, "--no-progress", "--out", out]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            record = json.loads(next(Path(out).glob("*/record.json")).read_text())
        timings, metrics = record["timings"], record["metrics"]
        rows.append(
            {
                "loss": loss,
                "model": record["model"],
                "wall s": f"{wall:.1f}",
                "cpu s (user+sys)": f"{cpu:.1f}",
                "setup s": f"{timings['setup']:.1f}",
                "fit s": f"{timings['fit']:.1f}",
                "test s": f"{timings['test']:.1f}",
                "imports etc. s": f"{wall - timings['total']:.1f}",
                "miou": f"{metrics['miou']:.4f}",
                "pixel_acc": f"{metrics['pixel_acc']:.4f}",
            }
        )
    report("segmentation_speed", rows)


#: the real MNIST, where the project's data folder is beside the repository
MNIST_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_mnist_scenes_run_wall_time():
    """``hem-bench run --task segmentation --dataset mnist-scenes --loss ce --threads 1``:
    wall and CPU time, imports and evaluation included, peak resident memory and the mIoU
    (target: well under a minute on one thread, about 30 s; peak memory under 1.5 GB)."""
    import pytest

    if not (MNIST_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"the real MNIST is not in {MNIST_DATA}")
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "hem_bench", "run", "--task", "segmentation"]
        command += ["--dataset", "mnist-scenes", "--data-dir", str(MNIST_DATA), "--loss", "ce"]
        command += ["--threads", "1", "--no-progress", "--out", out]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        record = json.loads(next(Path(out).glob("*/record.json")).read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report(
        "mnist_scenes_speed",
        [
            {
                "wall s": f"{wall:.1f}",
                "cpu s (user+sys)": f"{cpu:.1f}",
                "fit s": f"{record['timings']['fit']:.1f}",
                "peak RSS GB (largest child so far)": f"{after.ru_maxrss / 2**20:.2f}",
                "miou": f"{record['metrics']['miou']:.4f}",
                "pixel_acc": f"{record['metrics']['pixel_acc']:.4f}",
            }
        ],
    )
