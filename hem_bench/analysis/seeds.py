"""CKA between networks trained with different seeds: the baseline of "the same loss, another
seed" against which the similarity of different losses' networks is read.

Two networks of one loss trained with different seeds differ by their initialisation, batch
order and data split; how alike they stay, layer by layer, is how alike "the same" is. For
every pair of seeds (s, s') of one data set and model, this compares the network of every
analysed loss at s with the network of every analysed loss at s' (the same loss and the
others), layer by layer, on the test images of seed s that are also test images of seed s':
images neither network trained on (the data splits depend on the seed, so the images are
matched by their content and label). Comparing networks of one loss across seeds with
networks of different losses across seeds, on the same images, separates what the loss
changes from what the seed changes.

Linear CKA from :mod:`hem_bench.analysis.cka` (the biased or unbiased estimator, as the rest
of the analysis); at most ``max_examples`` images per pair, a fixed random subset. A pair of
seeds sharing fewer than :data:`MIN_COMMON` test images is skipped and named.
"""

from __future__ import annotations

import hashlib
from itertools import combinations
from typing import Any

import numpy as np

from hem_bench.analysis.activations import activations
from hem_bench.analysis.cka import cka_from_grams, normalized_gram

#: fewest common test images for a comparison across seeds (CKA needs a few examples, the
#: unbiased estimator at least 4)
MIN_COMMON = 10


def image_keys(image_set) -> list[str]:
    """One key per image of ``image_set``: a hash of its pixels and its label."""
    images = image_set.images.contiguous().numpy()
    labels = image_set.labels.numpy()
    return [
        hashlib.sha1(images[i].tobytes() + int(labels[i]).to_bytes(8, "little")).hexdigest()
        for i in range(len(labels))
    ]


def common_images(first, second, max_examples: int) -> np.ndarray:
    """Indices into ``first``'s images of those that are also in ``second`` (each key once),
    at most ``max_examples`` of them (a fixed random subset, sorted)."""
    other = set(image_keys(second))
    seen: set[str] = set()
    index = []
    for i, key in enumerate(image_keys(first)):
        if key in other and key not in seen:
            seen.add(key)
            index.append(i)
    index = np.asarray(index, dtype=int)
    if len(index) > max_examples:
        rng = np.random.default_rng(0)
        index = np.sort(rng.choice(index, size=max_examples, replace=False))
    return index


def compare_seeds(
    by_seed: dict[int, list[tuple[Any, Any]]],
    max_examples: int,
    unbiased: bool,
    batch_size: int,
) -> tuple[list[dict[str, Any]], list[str]]:
    """CKA across every pair of seeds of ``by_seed`` (seed -> [(run, loaded)], the runs of
    one data set and model); writes ``run.results["cka_other_seeds"][str(s')][label] =
    {layer: cka}`` into both runs of each compared pair and returns the rows of
    ``cka_seeds.csv`` and the notes of the pairs skipped."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for s, t in combinations(sorted(by_seed), 2):
        first, second = by_seed[s], by_seed[t]
        test_s = first[0][1].datamodule.test_set
        index = common_images(test_s, second[0][1].datamodule.test_set, max_examples)
        if len(index) < MIN_COMMON:
            notes.append(f"seeds {s} and {t}: {len(index)} common test images (< {MIN_COMMON})")
            continue
        images = test_s.float_images()[index]
        grams_s = {
            run.label: _grams(item.model, images, unbiased, batch_size) for run, item in first
        }
        grams_t = {
            run.label: _grams(item.model, images, unbiased, batch_size) for run, item in second
        }
        for run_a, _ in first:
            for run_b, _ in second:
                rows_a, columns, matrix = cka_from_grams(grams_s[run_a.label], grams_t[run_b.label])
                same = {
                    layer: float(matrix[rows_a.index(layer), columns.index(layer)])
                    for layer in rows_a
                    if layer in columns
                }
                _store(run_a, t, run_b.label, same, len(index))
                _store(run_b, s, run_a.label, same, len(index))
                rows += [
                    {
                        "seed_a": s,
                        "seed_b": t,
                        "loss_a": run_a.label,
                        "loss_b": run_b.label,
                        "layer": layer,
                        "cka": value,
                        "examples": len(index),
                    }
                    for layer, value in same.items()
                ]
    return rows, notes


def _grams(model, images, unbiased: bool, batch_size: int) -> dict[str, np.ndarray]:
    acts = activations(model, images, batch_size=batch_size)
    return {k: normalized_gram(v, unbiased) for k, v in acts.items()}


def _store(run, other_seed: int, other: str, values: dict[str, float], examples: int) -> None:
    results = run.results
    results.setdefault("cka_other_seeds", {}).setdefault(str(other_seed), {})[other] = values
    results.setdefault("cka_other_seeds_examples", {})[str(other_seed)] = examples


def profile_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per layer, the mean CKA across seeds between networks of one loss and between
    networks of different losses (for ``summary.md``)."""
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    out = []
    for layer in layers:
        here = [r for r in rows if r["layer"] == layer]
        same = [r["cka"] for r in here if r["loss_a"] == r["loss_b"]]
        other = [r["cka"] for r in here if r["loss_a"] != r["loss_b"]]
        out.append(
            {
                "layer": layer,
                "same loss": float(np.mean(same)) if same else None,
                "different losses": float(np.mean(other)) if other else None,
            }
        )
    return out


def split_key(record: dict[str, Any]) -> str:
    """What a run's networks depend on besides the loss and the seed (data set, data folder,
    task options, model): runs compared across seeds must differ in the seed only."""
    import json

    config = dict(record.get("config") or {})
    keep = {k: config.get(k) for k in ("dataset", "data_dir", "task_options", "model")}
    return json.dumps(keep, sort_keys=True, default=str)


def compare_all_seeds(
    by_seed: dict[tuple, dict[int, list[tuple[Any, Any]]]],
    report: dict[str, Any],
    max_examples: int,
    unbiased: bool,
    batch_size: int,
) -> list[dict[str, Any]]:
    """:func:`compare_seeds` for every (data set, model, split key) with several seeds;
    the rows of ``cka_seeds.csv`` (with their ``group``); skipped pairs are noted in
    ``report["skipped"]``."""
    rows: list[dict[str, Any]] = []
    for key, members in sorted(by_seed.items(), key=lambda item: str(item[0])):
        if len(members) < 2:
            continue
        found, notes = compare_seeds(members, max_examples, unbiased, batch_size)
        group = f"{key[0]}-{key[1]}".replace("/", "_")
        rows += [{"group": group, **row} for row in found]
        report["skipped"] += [f"CKA across seeds, {key[0]}/{key[1]}: {n}" for n in notes]
    return rows
