"""Reading the results store: every run record under a folder, as one pandas DataFrame.

A results folder holds one folder per run with its ``record.json`` (see
:mod:`hem_bench.results.record`); any depth of nesting is allowed, so the records of several
machines or sweeps can be gathered under one folder and read together. :func:`load_results`
finds every ``**/record.json``, reads it with :func:`hem_bench.results.record.read_record`
(the one reader of records) and keeps the completed runs of the current
``schema_version`` as one DataFrame row each. What it leaves out is counted and named with
a warning (:class:`RecordWarning`), and the rest still aggregate:

- ``schema``: a record of another ``schema_version`` (the fields may mean something else);
- ``failed``: a failed run (it has no metrics);
- ``invalid``: a file that is not valid JSON, or lacks the fields of a record;
- ``duplicate``: a second run of the same experiment (the same protocol, loss, loss
  parameters and seed); the one that finished last is kept.

Columns of the frame: :data:`RUN_COLUMNS`, then one column per metric key (the union over
runs; NaN where a run lacks the metric). A metric whose key is also a run column is stored
as ``metric:<key>``. Losses run with different parameter values (``hem`` with ``margin=1``
and ``margin=2``) are different entries of the comparison: their ``loss`` column holds the
name with the parameters that differ, ``hem(margin=2.0)``; ``loss_name`` always holds the
registry name.

Runs are grouped by protocol (:mod:`hem_bench.results.protocols`): ``settings`` holds the
run's protocol settings as sorted JSON (``code_version`` the code it was made with:
:func:`code_version`), ``protocol`` the protocol's label
(``classify/digits``, ``classify/digits (head=cosine)``), ``variant`` the loss label under
its protocol (``ce(head=cosine)``) and ``main_protocol`` whether the protocol is the main
one of its (task, dataset).

pandas does the tabulation; nothing here is computed by hand beyond reading JSON.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hem_bench.errors import ConfigError, quote
from hem_bench.results.protocols import assign_protocols, protocol_settings, settings_text
from hem_bench.results.record import (  # noqa: F401  (InvalidRecord: re-exported)
    RECORD_NAME,
    SCHEMA_VERSION,
    InvalidRecord,
    OtherSchema,
    RunRecord,
    read_record,
)

#: a file marking a folder as a results store of its own, left out when a folder above it
#: is read (``results/example/`` holds one, so ``--results results`` does not mix it in)
SEPARATE_STORE = ".hem-bench-separate"

#: the columns of every row, in order; the metric columns follow
RUN_COLUMNS = (
    "task",
    "dataset",
    "model",
    "loss",
    "loss_name",
    "loss_params",
    "seed",
    "status",
    "run_id",
    "headline",
    "headline_value",
    "higher_is_better",
    "finished_at",
    "path",
    "code_version",
    "settings",
    "protocol",
    "variant",
    "main_protocol",
)

#: why a record was left out -> how the warning describes it
SKIP_REASONS = {
    "schema": "of another schema_version (this version of hem-bench reads {version})",
    "failed": "of failed runs",
    "invalid": "that could not be read",
    "duplicate": "repeating an experiment (protocol, loss, seed) already read (kept the latest)",
}

#: how many file names a warning lists before it says "and N more"
MAX_LISTED = 20


class RecordWarning(UserWarning):
    """Some records under a results folder were left out of the aggregation."""


@dataclass
class Skipped:
    """A record left out: its path, the category (a key of :data:`SKIP_REASONS`) and why."""

    path: Path
    category: str
    reason: str


@dataclass
class Results:
    """What :func:`load_results` found: the frame of usable runs and what was left out."""

    root: Path
    frame: Any  # pandas.DataFrame; typed loosely so that importing this module stays light
    found: int
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def metric_columns(self) -> list[str]:
        """The frame's metric columns (everything after :data:`RUN_COLUMNS`)."""
        return metric_columns(self.frame)

    def skipped_by(self, category: str) -> list[Skipped]:
        """The records left out for ``category`` (``schema``, ``failed``, ...)."""
        return [s for s in self.skipped if s.category == category]

    def counts(self) -> dict[str, int]:
        """Records found, used, and left out per category."""
        out = {"found": self.found, "used": len(self.frame)}
        for category in SKIP_REASONS:
            out[category] = len(self.skipped_by(category))
        return out


def metric_columns(frame) -> list[str]:
    """The metric columns of a frame made by :func:`records_frame`."""
    return [c for c in frame.columns if c not in RUN_COLUMNS]


def find_record_files(root: str | Path, warn: bool = True) -> list[Path]:
    """Every ``record.json`` under ``root`` (any depth), sorted by path.

    A folder below ``root`` that holds a :data:`SEPARATE_STORE` file is a results store of
    its own (the committed example in ``results/example/``) and is left out, with a
    warning naming it; read it by passing it, or a folder inside it, as ``root``."""
    root = Path(root)
    found, separate = [], []
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        if here != root and SEPARATE_STORE in files:
            separate.append(here)
            subfolders[:] = []
            continue
        subfolders.sort()
        # a folder called record.json is found too, so that it is named as unreadable
        if RECORD_NAME in files or RECORD_NAME in subfolders:
            found.append(here / RECORD_NAME)
            if RECORD_NAME in subfolders:
                subfolders.remove(RECORD_NAME)
    if separate and warn:
        warnings.warn(
            "hem-bench: left out "
            + ", ".join(str(p) for p in separate)
            + f" (marked by {SEPARATE_STORE} as a results store of its own; pass it as the "
            "results folder to read it)",
            RecordWarning,
            stacklevel=2,
        )
    return sorted(found)


def record_row(record: RunRecord, path: Path) -> dict[str, Any]:
    """One frame row from a completed record: the run columns and its metrics. Raises
    :class:`InvalidRecord` for a metric that is infinite (a hand-edited or corrupt
    record: it is left out, the warning names it)."""
    params = record.loss_params or {}
    row: dict[str, Any] = {
        "task": record.task,
        "dataset": record.dataset,
        "model": record.model or "",
        "loss": record.loss,
        "loss_name": record.loss,
        "loss_params": json.dumps(params, sort_keys=True, default=str),
        "seed": record.seed,
        "status": record.status,
        "run_id": record.run_id,
        "headline": record.headline.name,
        "headline_value": record.headline_value,
        "higher_is_better": record.headline.higher_is_better,
        "finished_at": record.finished_at or "",
        "path": str(path),
        "code_version": code_version(record.env),
        "settings": settings_text(protocol_settings(record.data())),
    }
    for key, number in record.metrics.items():
        if math.isinf(number):
            raise InvalidRecord(f"metric {key!r} is infinite", path)
        row[f"metric:{key}" if key in RUN_COLUMNS else key] = number
    return row


def code_version(env: dict[str, Any] | None) -> str:
    """The code a run was made with, from its record's ``env``: the hem-bench version and,
    when it ran from a git checkout, the commit's first 7 digits (``+dirty`` with
    uncommitted changes): ``0.1.0@b05cf32+dirty``; '' when the record does not say."""
    env = env if isinstance(env, dict) else {}
    version = str(env.get("hem_bench") or "")
    commit = str(env.get("git_commit") or "")[:7]
    if commit:
        version += f"@{commit}" + ("+dirty" if env.get("git_dirty") else "")
    return version


def _warn_unknown_tasks(frame, stacklevel: int = 3) -> None:
    """One :class:`RecordWarning` naming the records of tasks this suite does not have
    (kept: their runs are compared among themselves)."""
    from hem_bench.tasks import available_tasks

    if not len(frame):
        return
    known = available_tasks()
    unknown = frame[~frame["task"].isin(known)]
    if len(unknown):
        tasks = ", ".join(repr(t) for t in sorted(unknown["task"].unique()))
        files = _describe([Skipped(Path(p), "", "") for p in unknown["path"]])
        warnings.warn(
            f"hem-bench: {len(unknown)} records of unknown tasks {tasks} (this version has "
            f"{', '.join(known)}): {files}",
            RecordWarning,
            stacklevel=stacklevel,
        )


def _loss_labels(frame) -> None:
    """Name each loss by its parameters where one loss was run with several values of a
    parameter: ``hem(margin=1.0)`` and ``hem(margin=2.0)``. Only the parameters whose
    values differ are named; a loss whose runs agree on every parameter they state keeps
    its plain name, and so does a run that does not state a varying parameter."""
    for name, rows in frame.groupby("loss_name", sort=False):
        variants = {text: json.loads(text) for text in rows["loss_params"].unique()}
        if len(variants) < 2:
            continue
        seen: dict[str, set[str]] = {}
        for params in variants.values():
            for key, value in params.items():
                seen.setdefault(key, set()).add(json.dumps(value, sort_keys=True))
        varying = [key for key, values in seen.items() if len(values) > 1]
        if not varying:
            continue
        for text, params in variants.items():
            shown = [f"{key}={params[key]}" for key in sorted(varying) if key in params]
            if shown:
                selected = (frame["loss_name"] == name) & (frame["loss_params"] == text)
                frame.loc[selected, "loss"] = f"{name}({', '.join(shown)})"


def records_frame(rows: list[dict[str, Any]]):
    """The DataFrame of ``rows`` (from :func:`record_row`): run columns, then metric
    columns sorted by name."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    for column in RUN_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series(dtype=object)
    metrics = sorted(c for c in frame.columns if c not in RUN_COLUMNS)
    frame = frame[list(RUN_COLUMNS) + metrics]
    if len(frame):
        frame["seed"] = frame["seed"].astype(int)
        frame["higher_is_better"] = frame["higher_is_better"].astype(bool)
        frame["headline_value"] = frame["headline_value"].astype(float)
        for column in metrics:
            frame[column] = frame[column].astype(float)
        _loss_labels(frame)
        assign_protocols(frame)
    return frame.reset_index(drop=True)


def _describe(paths: list[Skipped]) -> str:
    """The paths of ``paths``, comma-separated, the first :data:`MAX_LISTED` of them."""
    listed = [str(s.path) for s in paths[:MAX_LISTED]]
    more = len(paths) - len(listed)
    return ", ".join(listed) + (f" and {more} more" if more else "")


def warn_skipped(skipped: list[Skipped], stacklevel: int = 3) -> None:
    """One :class:`RecordWarning` per category of left-out records, naming how many and
    which files (an unreadable file also with why)."""
    for category, text in SKIP_REASONS.items():
        items = [s for s in skipped if s.category == category]
        if not items:
            continue
        what = text.format(version=SCHEMA_VERSION)
        noun = "record" if len(items) == 1 else "records"
        if category == "invalid":
            files = "; ".join(f"{s.path} ({s.reason})" for s in items[:MAX_LISTED])
            more = len(items) - min(len(items), MAX_LISTED)
            files += f"; and {more} more" if more else ""
        else:
            files = _describe(items)
        warnings.warn(
            f"hem-bench: skipped {len(items)} {noun} {what}: {files}",
            RecordWarning,
            stacklevel=stacklevel,
        )


def _drop_duplicates(frame, skipped: list[Skipped]):
    """Keep one run per experiment (task, dataset, protocol settings, loss, loss
    parameters, seed): the one that finished last."""
    key = ["task", "dataset", "settings", "loss_name", "loss_params", "seed"]
    ordered = frame.sort_values(["finished_at", "path"], kind="stable")
    dropped = ordered[ordered.duplicated(key, keep="last")]
    for _, row in dropped.iterrows():
        kept = ordered[(ordered[key] == row[key]).all(axis=1)].iloc[-1]
        skipped.append(Skipped(Path(row["path"]), "duplicate", f"kept {kept['path']}"))
    return frame.drop(index=dropped.index).reset_index(drop=True)


def load_results(root: str | Path, warn: bool = True) -> Results:
    """Read every run record under ``root`` into :class:`Results`.

    Raises :class:`~hem_bench.errors.ConfigError` when ``root`` is not a folder, holds no
    ``record.json``, or holds none that can be used (the message counts what was left out).
    With ``warn`` (the default) the left-out records are reported with :func:`warn_skipped`.
    """
    if not isinstance(root, (str, os.PathLike)):
        raise ConfigError(f"the results folder must be a path; got {quote(root)}")
    root = Path(root)
    if not root.exists():
        raise ConfigError(f"results folder {quote(str(root))} does not exist")
    if not root.is_dir():
        raise ConfigError(f"results folder {quote(str(root))} is not a folder")
    paths = find_record_files(root)
    if not paths:
        raise ConfigError(
            f"no run records (record.json) found under {str(root)!r}; "
            "'hem-bench run --out DIR' writes them"
        )
    rows, skipped = [], []
    for path in paths:
        try:
            record = read_record(path)
            if record.status == "failed":
                skipped.append(Skipped(path, "failed", record.error or ""))
                continue
            rows.append(record_row(record, path))
        except OtherSchema as exc:
            skipped.append(Skipped(path, "schema", f"schema_version {quote(exc.version, 60)}"))
        except InvalidRecord as exc:
            skipped.append(Skipped(path, "invalid", exc.reason))
        except (RecursionError, TypeError, ValueError) as exc:  # a record nothing else caught
            skipped.append(Skipped(path, "invalid", f"cannot be tabulated: {exc}"))
    frame = records_frame(rows)
    if len(frame):
        frame = _drop_duplicates(frame, skipped)
        assign_protocols(frame)
    if warn:
        warn_skipped(skipped)
        _warn_unknown_tasks(frame)
    results = Results(root=root, frame=frame, found=len(paths), skipped=skipped)
    if not len(frame):
        counts = ", ".join(f"{n} {k}" for k, n in results.counts().items() if k != "used" and n)
        raise ConfigError(f"no usable run records under {str(root)!r} ({counts})")
    return results
