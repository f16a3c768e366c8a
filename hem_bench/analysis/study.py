"""``hem-bench analyze``: the representation study of Kornblith et al. (2021, "Why do
better loss functions lead to less transferable features?") on a folder of runs.

For the completed runs of one task, grouped by (data set, model, seed) — and, inside a
group, by the exact test set, so that only representations of the same images are
compared — it measures for every run:

- class separation R² (:func:`~hem_bench.analysis.class_separation`) of the penultimate
  features on the whole test set (``class_separation``, the images of the classes the
  network was trained on) and on the training set (``class_separation_train``);
- linear-probe transfer (:func:`~hem_bench.analysis.linear_probe`) to the run's held-out
  classes: a probe fitted on the penultimate features of their training (+ validation)
  images and tested on their test images (``transfer_acc``). Runs without held-out
  classes (a classify run without ``--task-option classes=...``) have no transfer score;
- linear CKA (:func:`~hem_bench.analysis.linear_cka`, biased by default, or the unbiased
  estimator) between every pair of layers of the network, and between the same (and
  every) layers of networks trained with different losses, on up to ``max_examples``
  test images (a fixed random subset, the same for every run of a group).

It writes tables (CSV and Markdown), heatmaps (PNG) and ``analysis.json`` into the
output folder, and the results into every analysed run's ``record.json`` (a top-level
``"analysis"`` entry and the flat metrics ``analysis/class_separation`` and
``analysis/transfer_acc``), atomically, leaving every other field as it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hem_bench.analysis.activations import FEATURES, activations
from hem_bench.analysis.cka import cka_from_grams, normalized_gram
from hem_bench.analysis.plots import plot_group
from hem_bench.analysis.probe import linear_probe
from hem_bench.analysis.seeds import compare_all_seeds, split_key
from hem_bench.analysis.separation import class_separation
from hem_bench.analysis.writing import _safe, summary_row, write_study
from hem_bench.errors import ConfigError, HemBenchError, suggest
from hem_bench.results.record import RECORD_NAME, InvalidRecord, now, read_record, write_record
from hem_bench.results.store import find_record_files

#: the flat metrics this analysis adds to a record's ``metrics``
METRIC_KEYS = ("analysis/class_separation", "analysis/transfer_acc")
#: images of the CKA subset, by default
DEFAULT_MAX_EXAMPLES = 1000
REFERENCE_LOSS = "ce"


@dataclass
class Run:
    """One completed run found in the results folder."""

    path: Path
    record: dict[str, Any]
    label: str = ""
    # filled while analysing
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def loss(self) -> str:
        return str(self.record["loss"])

    @property
    def run_id(self) -> str:
        return str(self.record.get("run_id", ""))


# -- finding the runs ---------------------------------------------------------------------
def parse_losses(text: str | None) -> list[str] | None:
    """``"a,b"`` -> ``["a", "b"]``; ``None`` or empty -> every loss."""
    if text is None:
        return None
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    return names or None


def find_runs(results: Path, task: str, losses: Sequence[str] | None = None) -> list[Run]:
    """The completed runs of ``task`` under ``results`` (any depth) that have trained
    weights, restricted to ``losses`` if given. Raises :class:`ConfigError` when the folder
    is missing, holds no such run, or a requested loss has none."""
    results = Path(results)
    if not results.is_dir():
        raise ConfigError(f"results folder {str(results)!r} does not exist or is not a folder")
    runs, tasks_seen = [], set()
    for path in find_record_files(results):
        try:
            record = read_record(path)
        except InvalidRecord as exc:
            warnings.warn(
                f"hem-bench: skipping unreadable record {path}: {exc.reason}", stacklevel=2
            )
            continue
        if record.status != "completed":
            continue
        tasks_seen.add(record.task)
        if record.task != task:
            continue
        if record.config is None:
            warnings.warn(f"hem-bench: skipping {path}: the record has no config", stacklevel=2)
            continue
        runs.append(Run(path.parent, record.data()))
    if not runs:
        found = f"; completed runs found for: {', '.join(sorted(tasks_seen))}" if tasks_seen else ""
        raise ConfigError(f"no completed runs of task {task!r} in {str(results)!r}{found}")
    available = sorted({run.loss for run in runs})
    if losses:
        missing = [name for name in losses if name not in available]
        if missing:
            from hem_bench.losses import available_losses

            name = missing[0]
            registered = "" if name in available_losses() else " (no loss of that name exists)"
            raise ConfigError(
                f"--losses: no completed {task!r} run with loss {name!r} in {str(results)!r}"
                f"{registered}.{suggest(name, available)} Losses with runs: {', '.join(available)}"
            )
        runs = [run for run in runs if run.loss in losses]
    with_weights = [run for run in runs if (run.path / "model.pt").is_file()]
    for run in runs:
        if run not in with_weights:
            warnings.warn(f"hem-bench: skipping {run.path}: no model.pt", stacklevel=2)
    if not with_weights:
        raise ConfigError(
            f"none of the completed {task!r} runs in {str(results)!r} has trained weights "
            "(model.pt)"
        )
    return with_weights


def group_key(record: dict[str, Any]) -> tuple[str, str, int]:
    return (str(record["dataset"]), str(record["model"]), int(record["seed"]))


#: configuration fields that do not change the trained network, ignored when labelling
_NOT_SETTINGS = ("out", "data_dir", "download", "verify", "plugins", "progress", "devices")


def _settings(record: dict[str, Any]) -> dict[str, Any]:
    """The run's configuration, flat (loss parameters and task options inlined)."""
    config = dict(record.get("config") or {})
    flat = {k: v for k, v in config.items() if k not in _NOT_SETTINGS}
    for nested in ("loss_params", "task_options"):
        for key, value in dict(flat.pop(nested, None) or {}).items():
            flat[key] = value
    return flat


def _order(runs: list[Run]) -> list[Run]:
    """Cross-entropy first (the reference), then by loss and run id, with unique labels:
    the loss name, and where several runs share it, the settings in which they differ
    (``ce(head=cosine)``: Kornblith et al.'s cosine softmax; ``hem(margin=2.0)``), or
    the run id when none differ."""
    runs = sorted(runs, key=lambda r: (r.loss != REFERENCE_LOSS, r.loss, r.run_id))
    by_loss: dict[str, list[Run]] = {}
    for run in runs:
        by_loss.setdefault(run.loss, []).append(run)
    for loss, same in by_loss.items():
        if len(same) == 1:
            same[0].label = loss
            continue
        settings = [_settings(run.record) for run in same]
        keys = sorted({k for s in settings for k in s})
        differ = [k for k in keys if len({json.dumps(s.get(k), default=str) for s in settings}) > 1]
        for run, setting in zip(same, settings):
            detail = ",".join(f"{k}={setting.get(k)}" for k in differ)
            run.label = f"{loss}({detail})" if detail else f"{loss}@{run.run_id[:8]}"
        if len({run.label for run in same}) < len(same):  # pragma: no cover - identical labels
            for run in same:
                run.label = f"{loss}@{run.run_id[:8]}"
    return runs


# -- loading a trained run ------------------------------------------------------------------
@dataclass
class Loaded:
    config: Any
    datamodule: Any
    model: Any


def _data_key(config) -> str:
    return json.dumps(
        {
            "task": config.task,
            "dataset": config.dataset,
            "data_dir": config.data_dir,
            "seed": config.seed,
            "options": config.task_options,
        },
        sort_keys=True,
        default=str,
    )


def load_run(run: Run, device, datamodules: dict[str, Any]) -> Loaded:
    """Rebuild the run's configuration, data and model exactly as the run did, and load
    its trained weights (``weights_only=True``)."""
    import torch

    from hem_bench.config import RunConfig
    from hem_bench.runner import build_datamodule, build_task

    values = {k: v for k, v in run.record["config"].items() if k in RunConfig.model_fields}
    config = RunConfig(**values).resolve()
    key = _data_key(config)
    if key not in datamodules:
        datamodule = build_datamodule(config)
        datamodule.setup("fit")
        datamodules[key] = datamodule
    datamodule = datamodules[key]
    task = build_task(config, datamodule)
    state = torch.load(run.path / "model.pt", map_location="cpu", weights_only=True)
    model = task.model
    model.load_state_dict(state)
    model.to(device).eval()
    return Loaded(config, datamodule, model)


def _fingerprint(image_set) -> str:
    digest = hashlib.sha1()
    digest.update(str(tuple(image_set.images.shape)).encode())
    digest.update(image_set.images.contiguous().numpy().tobytes())
    digest.update(image_set.labels.contiguous().numpy().tobytes())
    return digest.hexdigest()


# -- per-run measurements -------------------------------------------------------------------
def _features(model, images, batch_size: int) -> np.ndarray:
    return activations(model, images, layers=[FEATURES], batch_size=batch_size)[FEATURES]


def _labels(image_set) -> np.ndarray:
    return image_set.labels.numpy()


def _transfer(loaded: Loaded, batch_size: int) -> dict[str, Any]:
    dm = loaded.datamodule
    train_sets = [s for s in (dm.unknown_train, dm.unknown_val) if s is not None and len(s)]
    test = dm.unknown_test
    if not train_sets or test is None or not len(test):
        return {"skipped": "the run has no held-out classes (train on a class subset)"}
    import torch

    images = torch.cat([s.float_images() for s in train_sets])
    labels = np.concatenate([_labels(s) for s in train_sets])
    if len(np.unique(labels)) < 2:
        return {"skipped": "fewer than 2 held-out classes"}
    train = _features(loaded.model, images, batch_size)
    test_features = _features(loaded.model, test.float_images(), batch_size)
    result = linear_probe(train, labels, test_features, _labels(test)).as_dict()
    result["classes"] = [int(c) for c in np.unique(labels)]
    result["class_names"] = list(getattr(dm, "unknown_class_names", []) or [])
    return result


def update_record(run: Run, analysis: dict[str, Any]) -> None:
    """Write ``analysis`` into the run's record (top-level ``"analysis"`` and the flat
    ``analysis/...`` metrics), re-reading the file first and changing nothing else."""
    path = run.path / RECORD_NAME
    record = read_record(path)
    if record.run_id != run.run_id:
        warnings.warn(f"hem-bench: {path} changed during the analysis; not updated", stacklevel=2)
        return
    record.analysis = _safe(analysis)
    metrics = record.metrics
    for key in METRIC_KEYS:
        metrics.pop(key, None)
    metrics["analysis/class_separation"] = float(analysis["class_separation"])
    if analysis.get("transfer_acc") is not None:
        metrics["analysis/transfer_acc"] = float(analysis["transfer_acc"])
    write_record(path, record)


# -- the study ----------------------------------------------------------------------------------
def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available; use 'cpu' or 'auto'")
    return torch.device(name)


def _spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    pairs = [(a, b) for a, b in pairs if math.isfinite(a) and math.isfinite(b)]
    if len(pairs) < 3:
        return None
    from scipy.stats import spearmanr

    value = float(spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic)
    return None if math.isnan(value) else value


def analyse(
    results: str | Path,
    out: str | Path | None = None,
    task: str = "classify",
    losses: Sequence[str] | None = None,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    unbiased: bool = False,
    device: str = "auto",
    batch_size: int = 256,
    plots: bool = True,
    update_records: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the study on ``results`` and write its outputs to ``out`` (default
    ``<results>/analysis``); returns everything written to ``analysis.json``. The work of a
    group is :func:`_analyse_group`'s, the comparison across seeds
    :func:`hem_bench.analysis.seeds.compare_all_seeds`'s and the files
    :func:`hem_bench.analysis.writing.write_study`'s."""
    from hem_bench.tasks import get_task

    spec = get_task(task)
    if spec.kind != "classification":
        raise ConfigError(
            f"analyze works on classification tasks; task {task!r} is a {spec.kind} task"
        )
    if max_examples < 4:
        raise ConfigError(f"--max-examples must be at least 4; got {max_examples}")
    results = Path(results)
    out = Path(out) if out is not None else results / "analysis"
    runs = find_runs(results, task, losses)
    groups: dict[tuple[str, str, int], list[Run]] = {}
    for run in runs:
        groups.setdefault(group_key(run.record), []).append(run)
    report: dict[str, Any] = {
        "task": task,
        "results": str(results),
        "cka": "unbiased" if unbiased else "biased",
        "max_examples": max_examples,
        "created_at": now(),
        "groups": {},
        "skipped": [],
    }
    settings = {
        "max_examples": max_examples,
        "unbiased": unbiased,
        "batch_size": batch_size,
        "out": out,
        "plots": plots,
    }
    by_seed = _analyse_groups(
        groups, report, task, _device(device), settings, log or (lambda message: None)
    )
    seed_rows = compare_all_seeds(by_seed, report, max_examples, unbiased, batch_size)
    if update_records:
        for members in by_seed.values():
            for runs in members.values():
                for run, _ in runs:
                    update_record(run, run.results)
    if not report["groups"]:
        raise ConfigError(
            f"no run in {str(results)!r} could be analysed: " + "; ".join(report["skipped"])
        )
    write_study(out, task, report, seed_rows)
    report["out"] = str(out)
    return report


def _load_group(
    members: list[Run], device, datamodules: dict[str, Any], report: dict[str, Any]
) -> tuple[dict[int, Loaded], dict[str, list[Run]]]:
    """The rebuilt runs of one (data set, model, seed) group, by ``id(run)``, and the group
    divided by the exact test set its runs hold (a run that cannot be rebuilt is skipped,
    with a warning and a line in ``report["skipped"]``)."""
    loaded: dict[int, Loaded] = {}
    subgroups: dict[str, list[Run]] = {}
    for run in members:
        try:
            loaded[id(run)] = load_run(run, device, datamodules)
        except (HemBenchError, OSError, RuntimeError, KeyError, ValueError) as exc:
            message = f"{run.path.name}: cannot rebuild the run ({type(exc).__name__}: {exc})"
            warnings.warn(f"hem-bench: skipping {message}", stacklevel=3)
            report["skipped"].append(message)
            continue
        fingerprint = _fingerprint(loaded[id(run)].datamodule.test_set)
        subgroups.setdefault(fingerprint, []).append(run)
    return loaded, subgroups


def _analyse_groups(groups, report, task, device, settings, log) -> dict:
    """Analyse every group into ``report["groups"]``; returns the analysed runs by (data
    set, model, what the split depends on besides the seed), then seed: the networks
    compared across seeds (:mod:`hem_bench.analysis.seeds`)."""
    datamodules: dict[str, Any] = {}
    by_seed: dict[tuple, dict[int, list[tuple[Run, Loaded]]]] = {}
    for (dataset, model_name, seed), members in sorted(groups.items()):
        loaded, subgroups = _load_group(members, device, datamodules, report)
        for fingerprint, subgroup in sorted(subgroups.items(), key=lambda item: item[0]):
            name = f"{task}-{dataset}-{model_name}-seed{seed}".replace("/", "_")
            if len(subgroups) > 1:
                name += f"-data{fingerprint[:6]}"
            subgroup = _order(subgroup)
            log(f"analysing {name}: {', '.join(r.label for r in subgroup)}")
            report["groups"][name] = _analyse_group(name, subgroup, loaded, **settings)
            for run in subgroup:
                key = (dataset, model_name, split_key(run.record))
                by_seed.setdefault(key, {}).setdefault(seed, []).append((run, loaded[id(run)]))
    return by_seed


def _cka_subset(test, max_examples: int) -> np.ndarray:
    """The test images CKA is computed on: all of them, or a fixed random subset of
    ``max_examples`` (the same for every run of a group)."""
    if len(test) > max_examples:
        rng = np.random.default_rng(0)
        return np.sort(rng.choice(len(test), size=max_examples, replace=False))
    return np.arange(len(test))


def _analyse_run(name, run, item, cka_images, n_test, unbiased, batch_size, kinds, widths):
    """Separation, transfer and the layers' activations of one run (``run.results``);
    returns its normalised Gram matrices by layer."""
    model, dm = item.model, item.datamodule
    modules = dict(model.named_modules())
    test_features = _features(model, dm.test_set.float_images(), batch_size)
    train_features = _features(model, dm.train_set.float_images(), batch_size)
    transfer = _transfer(item, batch_size)
    acts = activations(model, cka_images, batch_size=batch_size)
    for layer, values in acts.items():
        kinds.setdefault(layer, type(modules[layer]).__name__ if layer in modules else "")
        widths.setdefault(layer, int(values.shape[1]))
    grams = {k: normalized_gram(v, unbiased) for k, v in acts.items()}
    del acts
    _, _, within = cka_from_grams(grams, grams)
    layers = list(grams)
    run.results = {
        "group": name,
        "label": run.label,
        "class_separation": class_separation(test_features, _labels(dm.test_set)),
        "class_separation_train": class_separation(train_features, _labels(dm.train_set)),
        "transfer_acc": transfer.get("accuracy"),
        "transfer": transfer,
        "test_examples": n_test,
        "cka_examples": len(cka_images),
        "cka_estimator": "unbiased" if unbiased else "biased",
        "layers": layers,
        "cka_within": {
            a: {b: float(within[i, j]) for j, b in enumerate(layers)} for i, a in enumerate(layers)
        },
        "cka_to": {},
        "analysed_at": now(),
    }
    return grams


def _between_losses(name: str, runs: list[Run], grams: dict) -> tuple[dict, list, list, dict]:
    """CKA between the runs' networks (every pair, the same run included): the same layer's
    by pair, its rows, every layer pair's rows, and the matrices by pair."""
    between: dict[str, dict[str, float]] = {}
    between_rows, cross_rows = [], []
    cross_matrices: dict[tuple[str, str], np.ndarray] = {}
    for i, a in enumerate(runs):
        for b in runs[i:]:
            rows, columns, matrix = cka_from_grams(grams[a.label], grams[b.label])
            cross_matrices[(a.label, b.label)] = matrix
            same = {
                layer: float(matrix[rows.index(layer), columns.index(layer)])
                for layer in rows
                if layer in columns
            }
            between[f"{a.label} vs {b.label}"] = same
            between_rows += [
                {"group": name, "loss_a": a.label, "loss_b": b.label, "layer": k, "cka": v}
                for k, v in same.items()
            ]
            if a is b:
                continue
            a.results["cka_to"][b.label] = same
            b.results["cka_to"][a.label] = same
            cross_rows += [
                {
                    "group": name,
                    "loss_a": a.label,
                    "loss_b": b.label,
                    "layer_a": rows[p],
                    "layer_b": columns[q],
                    "cka": float(matrix[p, q]),
                }
                for p in range(len(rows))
                for q in range(len(columns))
            ]
    return between, between_rows, cross_rows, cross_matrices


def _analyse_group(
    name: str,
    runs: list[Run],
    loaded: dict[int, Loaded],
    max_examples: int,
    unbiased: bool,
    batch_size: int,
    out: Path,
    plots: bool,
) -> dict[str, Any]:
    test = loaded[id(runs[0])].datamodule.test_set
    n_test = len(test)
    subset = _cka_subset(test, max_examples)
    cka_images = test.float_images()[subset]
    kinds: dict[str, str] = {}
    widths: dict[str, int] = {}
    grams = {
        run.label: _analyse_run(
            name, run, loaded[id(run)], cka_images, n_test, unbiased, batch_size, kinds, widths
        )
        for run in runs
    }
    layers = list(grams[runs[0].label])
    between, between_rows, cross_rows, cross_matrices = _between_losses(name, runs, grams)
    within_rows = [
        {"group": name, "loss": run.label, "layer_a": a, "layer_b": b, "cka": value}
        for run in runs
        for a, row in run.results["cka_within"].items()
        for b, value in row.items()
    ]
    separation = [run.results["class_separation"] for run in runs]
    group = {
        "dataset_model_seed": name,
        "losses": [run.label for run in runs],
        "runs": {run.label: str(run.path) for run in runs},
        "layers": layers,
        "layer_modules": {k: kinds.get(k, "") for k in layers},
        "layer_widths": {k: widths.get(k) for k in layers},
        "test_examples": n_test,
        "cka_examples": len(subset),
        "cka_between": between,
        "spearman_separation_vs_transfer": _spearman(
            separation, [run.results["transfer_acc"] for run in runs]
        ),
        "spearman_separation_vs_acc": _spearman(
            separation, [run.record.get("metrics", {}).get("acc") for run in runs]
        ),
        "cka_between_rows": between_rows,
        "cka_within_rows": within_rows,
        "cka_cross_rows": cross_rows,
        "summary_rows": [summary_row(name, run) for run in runs],
    }
    if plots:
        group["figures"] = plot_group(name, runs, layers, kinds, cross_matrices, out / name)
    return group
