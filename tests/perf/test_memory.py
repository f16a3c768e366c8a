"""Peak memory of ``classify`` with every corruption on MNIST-size data.

A full-size random MNIST folder (60,000 + 10,000 28x28 images in torchvision's IDX files)
is written to a temporary folder, and ``hem-bench run --task classify --dataset mnist
--max-epochs 1`` (13 corruptions x 5 severities: 650,000 corrupted test images) runs in a
fresh process; its peak resident memory (``ru_maxrss`` of that child, from ``os.wait4``)
is reported. Requirement: at most 2.5 GB, and not growing with the number of evaluation
sets (compared with ``corruptions=none``).

CPU heavy (minutes): run alone, e.g. ``nice pytest tests/perf/test_memory.py -s``, or as a
script to measure another checkout: ``python tests/perf/test_memory.py [--pythonpath DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TRAIN, TEST, SIDE = 60_000, 10_000, 28


def write_idx_images(path: Path, images: np.ndarray) -> None:
    """IDX3 file (magic 2051, big-endian sizes) as in MNIST's distribution."""
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", 2051, *images.shape))
        f.write(images.astype(np.uint8).tobytes())


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    """IDX1 file (magic 2049)."""
    with open(path, "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)))
        f.write(labels.astype(np.uint8).tobytes())


def write_mnist_fixture(root: Path, train: int = TRAIN, test: int = TEST, seed: int = 0) -> Path:
    """A random MNIST-format folder ``root/MNIST/raw`` readable by ``--dataset mnist``."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, count)
        # a faint class-dependent pattern so that training learns something
        images = rng.integers(0, 256, (count, SIDE, SIDE)) // 2
        images[np.arange(count), labels * 2 + 4, 4:24] = 255
        write_idx_images(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx_labels(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def peak_rss_of_run(
    data_dir: Path, out: Path, options: list[str], env: dict | None = None
) -> tuple[float, float, dict]:
    """Peak RSS (GB), wall seconds and the record of one ``classify`` run in a fresh process."""
    command = [
        sys.executable,
        "-m",
        "hem_bench",
        "run",
        "--task",
        "classify",
        "--dataset",
        "mnist",
        "--data-dir",
        str(data_dir),
        "--max-epochs",
        "1",
        "--no-progress",
        "--out",
        str(out),
        *options,
    ]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed with status {status}")
    records = sorted(out.glob("*/record.json"), key=lambda p: p.stat().st_mtime)
    record = json.loads(records[-1].read_text())
    return usage.ru_maxrss / 1024**2, wall, record  # ru_maxrss is in KiB on Linux


def measure(options: list[str], pythonpath: str | None = None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    with tempfile.TemporaryDirectory() as tmp:
        root = write_mnist_fixture(Path(tmp) / "data")
        peak, wall, record = peak_rss_of_run(root, Path(tmp) / "out", options, env)
    metrics = record["metrics"]
    return {
        "options": " ".join(options) or "(default: all corruptions, severities 1-5)",
        "peak_rss_gb": round(peak, 3),
        "wall_s": round(wall, 1),
        "timings": record.get("timings"),
        "acc": metrics.get("acc"),
        "corruption_sets": sum(
            1
            for k in metrics
            if k.startswith("corruption/") and k.count("/") == 3 and k.endswith("/acc")
        ),
    }


def test_classify_all_corruptions_peak_memory():
    from .timing import report

    rows = [measure([]), measure(["--task-option", "corruptions=none"])]
    report("memory", rows)
    assert rows[0]["corruption_sets"] == 65
    assert rows[0]["peak_rss_gb"] <= 2.5, rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pythonpath", help="PYTHONPATH of the checkout to measure")
    parser.add_argument("options", nargs="*", help="extra flags of hem-bench run (after --)")
    args = parser.parse_args()
    print(json.dumps(measure(args.options, args.pythonpath), indent=2))
