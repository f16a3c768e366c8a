"""Kornblith et al.'s claims (2021, "Why do better loss functions lead to less transferable
features?", NeurIPS), re-tested from ``hem-bench analyze``'s results in the records; part
of the claims' family (:mod:`hem_bench.results.claims`, :mod:`hem_bench.results.family`).

- "objectives that improve accuracy separate the classes more" and "more class separation,
  less transferable features": Spearman's rank correlation across losses of their mean
  values over the analysed seeds, with its exact permutation p-value
  (:func:`~hem_bench.results.stats.spearman_test`); the unit is the loss, so the test has as
  many points as there are losses, and its power is stated (with 7 losses only a
  correlation near ±1 can be detected).
- "the losses' networks differ only in the last layers", tested as two parts, the seed as
  the unit of replication (a network appears in every loss pair of its seed, so the pairs
  are not independent; the seeds are):

  1. *similarity between losses falls from the first layer to the logits*: per seed, the
     mean linear CKA over the pairs of losses at the first analysed layer minus that at the
     last (the logits); a one-sample t-test over seeds
     (:func:`~hem_bench.results.stats.seed_unit_test`);
  2. *at the logits, networks of different losses are less alike than networks of one loss
     trained with another seed* (the same-loss, other-seed baseline): per pair of seeds, on
     test images neither network trained on, the mean CKA between the networks of one loss
     minus the mean CKA between networks of two different losses; their mean over seed
     pairs, tested with the leave-one-seed-out jackknife
     (:func:`~hem_bench.results.stats.pair_jackknife_test`).

  The layer profiles (between losses of one seed; one loss across seeds; different losses
  across seeds) are shown beside the tests. "Only" (the early layers as alike between
  losses as across seeds) is shown, not tested: CKA has no declared equivalence margin.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from hem_bench.results.family import Part, Test, p_text, power_text

NOT_MEASURED = "not measured: run hem-bench analyze"
#: the transfer claim needs runs trained on a subset of the classes (``classes=``), probed on
#: the others; an analysis of runs on every class cannot measure it
NO_TRANSFER = (
    "not measured: needs classify runs trained on a subset of the classes "
    "(--task-option classes=...), analysed for transfer to the others"
)
NO_SEED_BASELINE = (
    "not measured: no CKA between networks of one loss trained with different seeds "
    "(hem-bench analyze compares seeds when it analyses several)"
)
SEPARATION = "objectives that improve accuracy separate the classes more"
TRANSFER = "more class separation, less transferable features"
LAYERS = (
    "the losses' networks differ only in the last layers (tested: CKA between losses falls "
    "from the first layer to the logits, and at the logits lies below the CKA between "
    "networks of one loss trained with other seeds)"
)


def _analysed(frame: pd.DataFrame) -> pd.DataFrame:
    """The analysed runs of the main classify protocol (the first data set that has any)."""
    column = "analysis/class_separation"
    if column not in frame.columns:
        return frame.iloc[0:0]
    rows = frame[
        (frame["task"] == "classify") & frame["main_protocol"].astype(bool) & frame[column].notna()
    ]
    if not len(rows):
        return rows
    first = sorted(rows["protocol"].unique())[0]
    return rows[rows["protocol"] == first]


def kornblith_parts(frame: pd.DataFrame) -> list[tuple[str, list[Part]]]:
    """Kornblith et al.'s three claims, each with its parts (or why it was not measured)."""
    rows = _analysed(frame)
    if not len(rows):
        return [(c, [Part(c, "", missing=NOT_MEASURED)]) for c in (SEPARATION, TRANSFER, LAYERS)]
    means = rows.groupby("loss").agg(
        acc=("headline_value", "mean"),
        separation=("analysis/class_separation", "mean"),
        **(
            {"transfer": ("analysis/transfer_acc", "mean")}
            if "analysis/transfer_acc" in rows.columns
            else {}
        ),
    )
    out = [(SEPARATION, [_spearman_part(SEPARATION, means, "acc", "better", "accuracy")])]
    if "transfer" in means.columns and means["transfer"].notna().sum() >= 1:
        out.append((TRANSFER, [_spearman_part(TRANSFER, means, "transfer", "worse", "transfer")]))
    else:
        out.append((TRANSFER, [Part(TRANSFER, "", missing=NO_TRANSFER)]))
    out.append((LAYERS, _layer_parts(rows)))
    return out


def _spearman_part(claim: str, means: pd.DataFrame, y: str, relation: str, what: str) -> Part:
    """Spearman's ρ across losses of the mean class separation and the mean ``y``."""
    from hem_bench.results.stats import spearman_test

    pairs = means[["separation", y]].dropna()
    if len(pairs) < 3:
        return Part(claim, "", missing=f"{len(pairs)} analysed losses; a test needs 3")
    result = spearman_test(pairs["separation"], pairs[y])
    test = Test(relation, "correlation", n=len(pairs), estimate=result["rho"], p=result["p"])
    test.design = result["design"]
    if math.isnan(result["rho"]):
        test.p = math.nan
    extra = {"what": what, "losses": list(pairs.index)}
    return Part(claim, "", test, describe=_describe_spearman, extra=extra)


def _describe_spearman(part: Part) -> str:
    test = part.test
    if math.isnan(test.estimate):
        return f"Spearman ρ(separation, {part.extra['what']}) undefined (constant values)"
    losses = part.extra["losses"]
    text = (
        f"Spearman ρ(separation, {part.extra['what']}) = {test.estimate:+.2f} over {test.n} "
        f"losses ({', '.join(losses)}), exact {p_text(test)} → {test.verdict}"
    )
    power = power_text(test)
    return text + (f" ({power})" if power else "")


# -- CKA ----------------------------------------------------------------------------------------


def _analyses(rows: pd.DataFrame) -> list[tuple[int, dict[str, Any]]]:
    """(seed, the record's ``analysis``) of every analysed run that has one."""
    from hem_bench.results.record import InvalidRecord, read_record

    out = []
    for _, run in rows.iterrows():
        try:
            analysis = read_record(run["path"]).extras.get("analysis") or {}
        except InvalidRecord:
            continue
        if isinstance(analysis, dict) and analysis.get("layers"):
            out.append((int(run["seed"]), analysis))
    return out


def between_losses(analyses: list[tuple[int, dict]]) -> tuple[list[str], dict[int, np.ndarray]]:
    """The layers, and per seed the mean CKA over the pairs of losses of that seed, layer
    by layer (each unordered pair once)."""
    layers: list[str] = []
    values: dict[int, dict[frozenset, list[float]]] = {}
    for seed, analysis in analyses:
        layers = layers or list(analysis["layers"])
        label = analysis.get("label", "")
        for other, per_layer in (analysis.get("cka_to") or {}).items():
            key = frozenset((label, other))
            if not isinstance(per_layer, dict) or key in values.setdefault(seed, {}):
                continue
            if all(layer in per_layer for layer in layers):
                values[seed][key] = [float(per_layer[layer]) for layer in layers]
    return layers, {
        seed: np.mean(list(pairs.values()), axis=0) for seed, pairs in values.items() if pairs
    }


def across_seeds(
    analyses: list[tuple[int, dict]], layers: list[str]
) -> dict[tuple[int, int], dict[str, np.ndarray]]:
    """Per pair of seeds (s < s'), layer by layer: ``same``, the mean CKA between the
    networks of one loss at s and at s', and ``other``, the mean CKA between the network of
    one loss at s and that of another loss at s' (from the records of seed s:
    ``analysis["cka_other_seeds"][s'][loss]``)."""
    collected: dict[tuple[int, int], dict[str, list[list[float]]]] = {}
    for seed, analysis in analyses:
        label = analysis.get("label", "")
        for other_seed, by_loss in (analysis.get("cka_other_seeds") or {}).items():
            if int(other_seed) <= seed or not isinstance(by_loss, dict):
                continue
            entry = collected.setdefault((seed, int(other_seed)), {"same": [], "other": []})
            for loss, per_layer in by_loss.items():
                if isinstance(per_layer, dict) and all(layer in per_layer for layer in layers):
                    kind = "same" if loss == label else "other"
                    entry[kind].append([float(per_layer[layer]) for layer in layers])
    return {
        pair: {k: np.mean(v, axis=0) for k, v in entry.items()}
        for pair, entry in collected.items()
        if entry["same"] and entry["other"]
    }


def _profile(values: np.ndarray, layers: list[str]) -> str:
    """``0.991, 0.970, ..., 0.751 (logits)``."""
    shown = [f"{v:.3f}" for v in values]
    shown[-1] += f" ({layers[-1]})"
    return ", ".join(shown)


def _layer_parts(rows: pd.DataFrame) -> list[Part]:
    """The two parts of the CKA claim (module docstring)."""
    from hem_bench.results.stats import Design, pair_jackknife_test, seed_unit_test

    analyses = _analyses(rows)
    layers, per_seed = between_losses(analyses)
    if len(layers) < 2 or len(per_seed) < 1:
        return [Part(LAYERS, "", missing=NOT_MEASURED + " (CKA between losses)")]
    seeds = sorted(per_seed)
    drop = {s: float(per_seed[s][0] - per_seed[s][-1]) for s in seeds}
    result = seed_unit_test([drop[s] for s in seeds])
    test = _t_test(result, Design("t", n=result["n"]))
    profile = np.mean([per_seed[s] for s in seeds], axis=0)
    first = Part(
        LAYERS,
        "falls with depth",
        test,
        describe=_describe_drop,
        extra={"profile": _profile(profile, layers), "layers": layers},
    )
    pairs = across_seeds(analyses, layers)
    if not pairs:
        return [first, Part(LAYERS, "baseline", missing=NO_SEED_BASELINE)]
    gap = {pair: float(v["same"][-1] - v["other"][-1]) for pair, v in pairs.items()}
    result = pair_jackknife_test(gap)
    result["sd"] = result["se"] * math.sqrt(result["n"]) if result["n"] else math.nan
    test = _t_test(result, Design("t", n=result["n"]))
    same = np.mean([v["same"] for v in pairs.values()], axis=0)
    other = np.mean([v["other"] for v in pairs.values()], axis=0)
    extra = {
        "same": _profile(same, layers),
        "other": _profile(other, layers),
        "pairs": result["pairs"],
        "first gap": float(np.mean([v["same"][0] - v["other"][0] for v in pairs.values()])),
        "layers": layers,
    }
    second = Part(LAYERS, "below the seed baseline", test, describe=_describe_gap, extra=extra)
    return [first, second]


def _t_test(result: dict[str, Any], design) -> Test:
    """A claim's :class:`Test` (relation ``better``) from a seed-unit test's result."""
    return Test(
        "better",
        n=result["n"],
        estimate=result["mean"],
        sd=result.get("sd", math.nan),
        ci=(result["ci low"], result["ci high"]),
        p=result["p"],
        design=design,
    )


def _interval(test: Test) -> str:
    low, high = test.ci
    return "" if math.isnan(low) else f" [{low:+.3f}, {high:+.3f}]"


def _describe_drop(part: Part) -> str:
    test = part.test
    text = (
        f"linear CKA between losses (per seed, the mean over its loss pairs), by layer: "
        f"{part.extra['profile']}; first layer − {part.extra['layers'][-1]} = "
        f"{test.estimate:+.3f}{_interval(test)}, n={test.n} seeds, {p_text(test)} → "
        f"{test.verdict}"
    )
    power = power_text(test)
    return text + (f" ({power})" if power else "")


def _describe_gap(part: Part) -> str:
    test, extra = part.test, part.extra
    last = extra["layers"][-1]
    text = (
        f"CKA across seeds on test images neither network trained on, by layer: one loss "
        f"{extra['same']}; different losses {extra['other']}; at the {last}, one loss − "
        f"different losses = {test.estimate:+.3f}{_interval(test)} (first layer: "
        f"{extra['first gap']:+.3f}, shown, not tested), n={test.n} seeds ({extra['pairs']} "
        f"seed pairs, jackknife over seeds), {p_text(test)} → {test.verdict}"
    )
    power = power_text(test)
    return text + (f" ({power})" if power else "")
