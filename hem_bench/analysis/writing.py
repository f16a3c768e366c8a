"""The files of ``hem-bench analyze`` (:mod:`hem_bench.analysis.study`): ``summary.csv``
and ``summary.md`` (one row per analysed run), the CKA tables (``cka_between.csv``,
``cka_within.csv``, ``cka_cross.csv``, ``cka_seeds.csv``) and ``analysis.json``, each
written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hem_bench.analysis.seeds import profile_rows
from hem_bench.atomic import write_atomic

#: the columns of ``summary.csv``
SUMMARY_COLUMNS = [
    "group",
    "loss",
    "run_id",
    "acc",
    "headline",
    "headline_value",
    "class_separation",
    "class_separation_train",
    "transfer_acc",
    "transfer_chance",
    "probe_C",
    "test_examples",
    "cka_examples",
    "note",
]


def _safe(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python numbers."""
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# -- writing ----------------------------------------------------------------------------------
def _csv(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return buffer.getvalue()


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value).replace("|", "\\|")


def _markdown(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def summary_row(name: str, run) -> dict[str, Any]:
    """The summary row of one analysed run (``run.results`` filled in)."""
    r = run.results
    return {
        "group": name,
        "loss": run.label,
        "run_id": run.run_id,
        "acc": run.record.get("metrics", {}).get("acc"),
        "headline": run.record.get("headline", {}).get("name"),
        "headline_value": run.record.get("headline", {}).get("value"),
        "class_separation": r["class_separation"],
        "class_separation_train": r["class_separation_train"],
        "transfer_acc": r["transfer_acc"],
        "transfer_chance": r["transfer"].get("chance"),
        "probe_C": r["transfer"].get("C"),
        "test_examples": r["test_examples"],
        "cka_examples": r["cka_examples"],
        "note": r["transfer"].get("skipped", ""),
    }


def _between_markdown(report: dict[str, Any]) -> list[str]:
    md = ["## CKA between losses, same layer", ""]
    for name, group in report["groups"].items():
        pivot = []
        for pair, values in group["cka_between"].items():
            loss_a, loss_b = pair.split(" vs ")
            if loss_a != loss_b:
                pivot.append({"loss_a": loss_a, "loss_b": loss_b, **values})
        md += [f"### {name}", ""]
        columns = ["loss_a", "loss_b", *group["layers"]]
        md += [_markdown(pivot, columns) if pivot else "(one loss only)\n"]
    return md


def write_study(
    out: Path, task: str, report: dict[str, Any], seed_rows: list[dict[str, Any]]
) -> None:
    """Write the study's tables and ``analysis.json`` into ``out``; the groups' row lists
    leave ``report`` (the tables hold them) and its ``summary`` is set."""
    groups = report["groups"].values()
    summary_rows = [row for group in groups for row in group["summary_rows"]]
    rows = {
        key: [row for group in groups for row in group[f"cka_{key}_rows"]]
        for key in ("between", "within", "cross")
    }
    write_atomic(out / "summary.csv", _csv(summary_rows, SUMMARY_COLUMNS))
    md = [
        f"# Representation analysis — task {task}",
        "",
        "Class separation R² of the penultimate features (Kornblith et al. 2021; cosine "
        "distance, class-balanced, self-pairs included) on the test and training sets, and "
        "the accuracy of a linear probe (logistic regression, C by 3-fold CV) on the "
        "held-out classes (transfer). `acc`: test accuracy on the run's own classes; "
        "`headline`: the task's main metric.",
        "",
        _markdown(summary_rows, [c for c in SUMMARY_COLUMNS if c not in ("run_id", "note")]),
    ]
    write_atomic(
        out / "cka_between.csv",
        _csv(rows["between"], ["group", "loss_a", "loss_b", "layer", "cka"]),
    )
    md += _between_markdown(report)
    write_atomic(
        out / "cka_within.csv",
        _csv(rows["within"], ["group", "loss", "layer_a", "layer_b", "cka"]),
    )
    write_atomic(
        out / "cka_cross.csv",
        _csv(rows["cross"], ["group", "loss_a", "loss_b", "layer_a", "layer_b", "cka"]),
    )
    seed_columns = ["group", "seed_a", "seed_b", "loss_a", "loss_b", "layer", "cka", "examples"]
    write_atomic(out / "cka_seeds.csv", _csv(seed_rows, seed_columns))
    if seed_rows:
        md += [
            "## CKA across seeds, same layer",
            "",
            "Networks of seed s against networks of seed s' (every pair of seeds), on the test "
            "images of both seeds (images neither network trained on): the mean over pairs of "
            "seeds of the CKA between networks of one loss, and between networks of different "
            "losses.",
            "",
            _markdown(profile_rows(seed_rows), ["layer", "same loss", "different losses"]),
        ]
    write_atomic(out / "summary.md", "\n".join(md))
    for group in groups:
        for key in ("cka_between_rows", "cka_within_rows", "cka_cross_rows", "summary_rows"):
            group.pop(key)
    report["summary"] = summary_rows
    write_atomic(out / "analysis.json", json.dumps(_safe(report), indent=2, allow_nan=True) + "\n")
