"""Run records: one JSON file per run, written atomically.

A record holds ``schema_version``, ``run_id``, ``status`` ("completed" or "failed"),
``task``, ``dataset``, ``model``, ``loss``, ``loss_params``, ``seed``, ``config`` (the whole
resolved configuration), ``metrics`` (a flat mapping of lowercase '/'-separated keys to
floats), ``headline`` (``{"name", "value", "higher_is_better"}``), ``timings`` (seconds),
``env`` (versions of the packages, devices, git commit: :mod:`hem_bench.env`), ``started_at`` and ``finished_at`` (UTC, ISO 8601), and
``error`` for a failed run. Records are written to a temporary file in the same folder and
renamed into place: a crashed run leaves no half record, and parallel workers never write
the same file.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hem_bench.atomic import write_atomic
from hem_bench.config import SCHEMA_VERSION, ResolvedConfig
from hem_bench.env import environment  # noqa: F401  (re-exported: records' ``env``)

RECORD_NAME = "record.json"
STATUSES = ("completed", "failed")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=True), sync=True)


def clean_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Metrics as a flat mapping of lowercase keys to floats."""
    out = {}
    for key, value in metrics.items():
        number = float(value)
        out[str(key).lower()] = number
    return out


def make_record(
    config: ResolvedConfig,
    status: str,
    metrics: dict[str, Any],
    headline: tuple[str, bool],
    timings: dict[str, float],
    started_at: str,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}; got {status!r}")
    metrics = clean_metrics(metrics)
    name, higher_is_better = headline
    value = metrics.get(name, math.nan)
    record = {
        "schema_version": SCHEMA_VERSION,
        "run_id": config.run_id,
        "status": status,
        "task": config.task,
        "dataset": config.dataset,
        "model": config.model,
        "loss": config.loss,
        "loss_params": dict(config.loss_params),
        "seed": config.seed,
        "config": config.model_dump(),
        "metrics": metrics,
        "headline": {"name": name, "value": value, "higher_is_better": higher_is_better},
        "timings": {k: round(float(v), 3) for k, v in timings.items()},
        "env": environment(),
        "started_at": started_at,
        "finished_at": now(),
    }
    if error is not None:
        record["error"] = error
    if extra:
        record.update(extra)
    return record


def read_record(path: str | Path) -> dict[str, Any]:
    with open(path) as handle:
        return json.load(handle)
