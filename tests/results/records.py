"""Hand-written run records for the leaderboard tests (edge cases and synthetic tasks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hem_bench.results.record import SCHEMA_VERSION


def record(
    task: str,
    dataset: str,
    loss: str,
    seed: int,
    metrics: dict[str, float],
    headline: str,
    higher_is_better: bool = True,
    model: str = "digits-cnn",
    **fields: Any,
) -> dict[str, Any]:
    """A completed record of the current schema with the fields of docs/design.md."""
    out = {
        "schema_version": SCHEMA_VERSION,
        "run_id": f"{task}-{dataset}-{loss}-{seed}",
        "status": "completed",
        "task": task,
        "dataset": dataset,
        "model": model,
        "loss": loss,
        "loss_params": {},
        "seed": seed,
        "config": {},
        "metrics": dict(metrics),
        "headline": {
            "name": headline,
            "value": metrics.get(headline, float("nan")),
            "higher_is_better": higher_is_better,
        },
        "timings": {"total": 1.0},
        "env": {},
        "started_at": "2025-01-01T00:00:00+00:00",
        "finished_at": "2025-01-01T00:01:00+00:00",
    }
    out.update(fields)
    return out


def write(folder: Path, name: str, data: dict[str, Any] | str) -> Path:
    """Write ``data`` (a record, or raw text) as ``<folder>/<name>/record.json``."""
    path = Path(folder) / name / "record.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=1))
    return path


def synthetic_records(folder: Path) -> dict[str, Path]:
    """Records with known, hand-chosen values for adversarial, continual and segmentation
    (so that tables and plots can be checked against them exactly) and for a task this
    version does not know, for 2 losses x 2 seeds; returns their paths by folder name.
    Real records of every task are tested in ``test_example.py``."""
    paths = {}
    for i, loss in enumerate(("ce", "hem")):
        for seed in (0, 1):
            shift = 0.05 * i + 0.01 * seed * (1 + i)
            adversarial = {"acc": 0.9 + shift / 2, "robust_acc": 0.3 + shift}
            for j, eps in enumerate(("0.031373", "0.062745", "0.1")):
                adversarial[f"robust_acc/pgd/{eps}"] = 0.6 - 0.2 * j + shift
                adversarial[f"robust_acc/fgsm/{eps}"] = 0.7 - 0.2 * j + shift
            continual = {"avg_acc": 0.6 + shift, "bwt": -0.3 + shift, "forgetting": 0.3 - shift}
            for t in range(3):
                for k in range(t + 1):
                    continual[f"acc_matrix/{t}/{k}"] = 0.9 - 0.3 * (t - k) + shift
            segmentation = {
                "miou": 0.5 + shift,
                "pixel_acc": 0.8 + shift,
                "mean_class_acc": 0.6 + shift,
                "dice": 0.55 + shift,
            }
            future = {"top5": 0.7 + shift, "secret": 1.0}
            for task, dataset, metrics, headline in (
                ("adversarial", "digits", adversarial, "robust_acc"),
                ("continual", "split-digits", continual, "avg_acc"),
                ("segmentation", "digit-scenes", segmentation, "miou"),
                ("fewshot", "digits", future, "top5"),
            ):
                name = f"{task}-{loss}-{seed}"
                paths[name] = write(
                    folder, name, record(task, dataset, loss, seed, metrics, headline)
                )
    return paths
