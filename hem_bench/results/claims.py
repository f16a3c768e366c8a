"""The papers' claims, re-tested on the runs of a results store.

Each claim of the HEM paper (Spratling & Schütt 2025, "A margin-based replacement for
cross-entropy loss", arXiv:2501.12191) is a comparison of two losses on one task's
headline: HEM better than CE at unknown-class rejection (ood AUROC), adversarial
robustness (robust accuracy), imbalanced data (balanced accuracy), continual learning
(average accuracy) and segmentation (mIoU), and as accurate on clean data (classify
accuracy); LogitNorm as good as HEM at rejection but poorer on continual learning and
segmentation; logit-adjusted better than HEM on imbalanced data but poorer at rejection
and segmentation; Dice poorer than HEM on every task. Kornblith et al. (2021, "Why do
better loss functions lead to less transferable features?", NeurIPS) claim that objectives
that improve accuracy separate the classes more in the penultimate layer, that more
separation goes with less transferable features, and that the losses' networks differ
only in the last layers; these are re-tested from ``hem-bench analyze``'s results where
the records carry them.

How a verdict is reached (never from means alone):

- a comparison of losses a and b uses the main protocol of the task (the first data set
  where both ran): the per-seed paired differences of the headline (positive = a better),
  their mean and 95 % t-interval, and the two-sided paired t-test (``scipy.stats``);
- the family of the Holm correction (:func:`hem_bench.results.stats.holm`) is every test
  of this table (comparisons, the learning-rate sensitivity ones included, and the
  correlation tests), so the table's verdicts together hold the family-wise error rate at
  :data:`~hem_bench.results.stats.ALPHA`;
- "a better than b" holds when the corrected p is below alpha and the mean difference is
  positive, does not hold when it is below alpha and negative, and is inconclusive
  otherwise; "a as good as b" does not hold when the corrected p is below alpha, holds
  when it is not and the 95 % interval of the mean difference lies within
  ±:data:`EQUIVALENCE_MARGIN` (an equivalence test at 5 %, the two one-sided tests of
  Schuirmann 1987), and is inconclusive otherwise; a claim on several tasks holds when
  every part holds, does not hold when one part does not, and is inconclusive otherwise;
- a correlation claim across losses (Kornblith et al.) uses Spearman's rank correlation of
  the losses' mean values (``scipy.stats.spearmanr``) with its p-value; "losses differ
  only in the last layers" uses the linear CKA between the networks of two losses at
  their first and last analysed layers, over every pair of analysed losses and seed: it
  holds when the CKA at the first layer is higher (paired t-test, corrected).

Nothing here is statistics written by hand beyond :mod:`hem_bench.results.stats`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: the two sides of an "as good as" claim: |mean difference| bound, in headline units
EQUIVALENCE_MARGIN = 0.02
HEM_PAPER = "Spratling & Schütt 2025"
KORNBLITH = "Kornblith et al. 2021"
NOT_MEASURED = "not measured: run hem-bench analyze"
#: the transfer claim needs runs trained on a subset of the classes (``classes=``), probed on
#: the others; an analysis of runs on every class cannot measure it
NO_TRANSFER = (
    "not measured: needs classify runs trained on a subset of the classes "
    "(--task-option classes=...), analysed for transfer to the others"
)

#: the tasks of the claims: name in the claim, and the task
TASKS = {
    "unknown-class rejection": "ood",
    "adversarial robustness": "adversarial",
    "imbalanced data": "imbalanced",
    "continual learning": "continual",
    "segmentation": "segmentation",
    "clean accuracy": "classify",
}


@dataclass(frozen=True)
class Claim:
    """One claim: ``a`` compared with ``b`` on each of ``tasks``; ``relation`` is
    ``better`` (a better than b), ``worse`` or ``equal`` (as good as)."""

    text: str
    source: str
    a: str
    b: str
    relation: str
    tasks: tuple[str, ...]


def hem_claims(hem: str = "hem", ce: str = "ce") -> list[Claim]:
    """The HEM paper's claims, with ``hem`` and ``ce`` the losses' labels."""
    out = []
    for what in (
        "unknown-class rejection",
        "adversarial robustness",
        "imbalanced data",
        "continual learning",
        "segmentation",
    ):
        out.append(
            Claim(
                f"HEM better than CE {'on' if what == 'imbalanced data' else 'at'} {what}",
                HEM_PAPER,
                hem,
                ce,
                "better",
                (TASKS[what],),
            )
        )
    out.append(
        Claim("HEM as accurate as CE on clean data", HEM_PAPER, hem, ce, "equal", ("classify",))
    )
    out += [
        Claim(
            "LogitNorm as good as HEM at unknown-class rejection",
            HEM_PAPER,
            "logitnorm",
            hem,
            "equal",
            ("ood",),
        ),
        Claim(
            "LogitNorm poorer than HEM at continual learning",
            HEM_PAPER,
            "logitnorm",
            hem,
            "worse",
            ("continual",),
        ),
        Claim(
            "LogitNorm poorer than HEM at segmentation",
            HEM_PAPER,
            "logitnorm",
            hem,
            "worse",
            ("segmentation",),
        ),
        Claim(
            "logit-adjusted better than HEM on imbalanced data",
            HEM_PAPER,
            "logit-adjusted",
            hem,
            "better",
            ("imbalanced",),
        ),
        Claim(
            "logit-adjusted poorer than HEM at unknown-class rejection",
            HEM_PAPER,
            "logit-adjusted",
            hem,
            "worse",
            ("ood",),
        ),
        Claim(
            "logit-adjusted poorer than HEM at segmentation",
            HEM_PAPER,
            "logit-adjusted",
            hem,
            "worse",
            ("segmentation",),
        ),
        Claim(
            "Dice poorer than HEM on every task",
            HEM_PAPER,
            "dice",
            hem,
            "worse",
            tuple(TASKS.values()),
        ),
    ]
    return out


COLUMNS = ["claim", "source", "what the grid shows", "holds here?"]


def _main_protocol(frame: pd.DataFrame, task: str, losses: tuple[str, ...]) -> str | None:
    """The main protocol of ``task`` (the first data set, sorted) where every one of
    ``losses`` ran; None when there is none."""
    rows = frame[(frame["task"] == task) & frame["main_protocol"].astype(bool)]
    for protocol in sorted(rows["protocol"].unique()):
        present = set(rows.loc[rows["protocol"] == protocol, "loss"])
        if all(loss in present for loss in losses):
            return str(protocol)
    return None


def _lr_protocols(board, protocol: str) -> list[tuple[float, str, bool]]:
    """(lr, protocol, is the given one) of the sensitivity table holding ``protocol``."""
    for sensitivity in board.sensitivity:
        if protocol in sensitivity.protocols:
            return [(lr, p, p == protocol) for lr, p in zip(sensitivity.lrs, sensitivity.protocols)]
    return []


def _comparison_text(result: dict[str, Any], headline: str, a: str, b: str, corrected) -> str:
    """``headline a − b = +0.0123 [−0.0040, +0.0286], n=5, Holm p=0.21``."""
    if result["n"] < 2:
        return f"{headline}: {a} vs {b}: {result['n']} paired seed(s), no test"
    low, high = result["ci low"], result["ci high"]
    ci = "" if math.isnan(low) else f" [{low:+.4f}, {high:+.4f}]"
    p = "no test (equal differences)" if math.isnan(corrected) else f"Holm p={corrected:.3g}"
    return f"{headline} {a} − {b} = {result['mean diff']:+.4f}{ci}, n={result['n']}, {p}"


def _verdict(relation: str, result: dict[str, Any], corrected: float) -> str:
    """The verdict of one comparison from its corrected p-value (module docstring)."""
    from hem_bench.results.stats import ALPHA

    if result["n"] < 2:
        return "inconclusive"
    mean = result["mean diff"]
    # every difference equal (no spread): no test, so nothing is significant
    significant = not math.isnan(corrected) and corrected < ALPHA
    if relation == "equal":
        if significant:
            return "does not hold"
        low, high = result["ci low"], result["ci high"]
        within = (
            not math.isnan(low) and low >= -EQUIVALENCE_MARGIN and high <= EQUIVALENCE_MARGIN
        ) or (math.isnan(low) and mean == 0)
        return "holds" if within else "inconclusive"
    if not significant:
        return "inconclusive"
    better = mean > 0
    return "holds" if better == (relation == "better") else "does not hold"


def _combine(verdicts: list[str]) -> str:
    """A claim of several parts: holds when every part holds, does not hold when one part
    does not, inconclusive otherwise."""
    if verdicts and all(v == "holds" for v in verdicts):
        return "holds"
    if any(v == "does not hold" for v in verdicts):
        return "does not hold"
    return "inconclusive"


def claims_table(frame: pd.DataFrame, board, hem: str = "hem", ce: str = "ce") -> pd.DataFrame:
    """The claims table (:data:`COLUMNS`) of the HEM paper's claims (:func:`hem_claims`)
    and Kornblith et al.'s, from the store's runs and the leaderboard's sensitivity
    tables; the Holm family is every test made here (module docstring)."""
    from hem_bench.results.protocols import protocol_rows
    from hem_bench.results.stats import comparison, holm

    tests: list[tuple[int, float]] = []  # (row, p) of each test
    parts: list[list[dict[str, Any]]] = []  # per row: the parts to describe
    rows: list[dict[str, Any]] = []
    for claim in hem_claims(hem, ce):
        row_parts = []
        for task in claim.tasks:
            protocol = _main_protocol(frame, task, (claim.a, claim.b))
            if protocol is None:
                row_parts.append({"missing": f"{task}: {claim.a} and {claim.b} not both run"})
                continue
            for lr, name, is_main in _lr_protocols(board, protocol) or [(None, protocol, True)]:
                runs = protocol_rows(frame, name)
                if not {claim.a, claim.b} <= set(runs["loss"]):
                    continue
                headline = str(runs["headline"].mode().iloc[0])
                higher = bool(runs["higher_is_better"].mode().iloc[0])
                result = comparison(runs, claim.a, claim.b, higher)
                part = {
                    "task": task,
                    "protocol": name,
                    "lr": lr,
                    "main": is_main,
                    "headline": headline,
                    "result": result,
                    "test": len(tests),
                }
                tests.append((len(rows), result["t-test p"]))
                row_parts.append(part)
        parts.append(row_parts)
        rows.append({"claim": claim.text, "source": claim.source, "relation": claim.relation})
    kornblith = _kornblith_tests(frame)
    for text, item in kornblith:
        parts.append([item])
        if "p" in item:
            item["test"] = len(tests)
            tests.append((len(rows), item["p"]))
        rows.append({"claim": text, "source": KORNBLITH, "relation": "kornblith"})
    corrected = holm([p for _, p in tests]) if tests else np.array([])
    out = []
    for row, row_parts in zip(rows, parts):
        texts, verdicts = [], []
        for part in row_parts:
            if "missing" in part:
                texts.append(part["missing"])
                verdicts.append("inconclusive")
                continue
            p = float(corrected[part["test"]]) if "test" in part else math.nan
            if row["relation"] == "kornblith":
                text, verdict = part["describe"](p)
                texts.append(text)
                verdicts.append(verdict)
                continue
            claim_a, claim_b = _losses_of(row["claim"], hem, ce)
            text = _comparison_text(part["result"], part["headline"], claim_a, claim_b, p)
            verdict = _verdict(row["relation"], part["result"], p)
            if part["lr"] is not None:
                where = "recipe lr" if part["main"] else "lr"
                text = f"at {where} {part['lr']:g}: {text} → {verdict}"
            if part["main"]:
                verdicts.append(verdict)
            texts.append(text if len(row_parts) == 1 else f"{part['task']}: {text}")
        out.append(
            {
                "claim": row["claim"],
                "source": row["source"],
                "what the grid shows": "; ".join(texts),
                "holds here?": _combine(verdicts),
            }
        )
    result = pd.DataFrame(out, columns=COLUMNS)
    result.attrs["family"] = len(tests)
    return result


def _losses_of(text: str, hem: str, ce: str) -> tuple[str, str]:
    """The two losses of a claim by its text (as :func:`hem_claims` names them)."""
    for claim in hem_claims(hem, ce):
        if claim.text == text:
            return claim.a, claim.b
    raise KeyError(text)  # pragma: no cover - every row comes from hem_claims


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


def _spearman_item(means: pd.DataFrame, x: str, y: str, sign: int, what: str) -> dict:
    """A Spearman test across losses of the mean ``x`` against the mean ``y``: holds
    when the corrected p is below alpha with the sign ``sign``."""
    from scipy import stats

    from hem_bench.results.stats import ALPHA

    pairs = means[[x, y]].dropna()
    if len(pairs) < 3:
        return {
            "describe": lambda p: (f"{len(pairs)} analysed losses; a test needs 3", "inconclusive")
        }
    rho, pvalue = stats.spearmanr(pairs[x], pairs[y])
    rho, pvalue = float(rho), float(pvalue)

    def describe(p: float) -> tuple[str, str]:
        text = (
            f"Spearman ρ({what}) = {rho:+.2f} over {len(pairs)} losses "
            f"({', '.join(pairs.index)}), Holm p={p:.3g}"
            if not math.isnan(p)
            else f"Spearman ρ({what}) undefined (constant values)"
        )
        if math.isnan(p) or p >= ALPHA:
            return text, "inconclusive"
        return text, "holds" if (rho > 0) == (sign > 0) else "does not hold"

    return {"p": pvalue if not math.isnan(pvalue) else math.nan, "describe": describe}


def _kornblith_tests(frame: pd.DataFrame) -> list[tuple[str, dict]]:
    """Kornblith et al.'s three claims, each with its test (or why it was not made)."""
    claims = (
        "objectives that improve accuracy separate the classes more",
        "more class separation, less transferable features",
        "the losses' networks differ only in the last layers",
    )
    rows = _analysed(frame)
    if not len(rows):
        missing = {"describe": lambda p: (NOT_MEASURED, "inconclusive")}
        return [(c, dict(missing)) for c in claims]
    means = rows.groupby("loss").agg(
        acc=("headline_value", "mean"),
        separation=("analysis/class_separation", "mean"),
        **(
            {"transfer": ("analysis/transfer_acc", "mean")}
            if "analysis/transfer_acc" in rows.columns
            else {}
        ),
    )
    out = [(claims[0], _spearman_item(means, "separation", "acc", +1, "separation, accuracy"))]
    if "transfer" in means.columns:
        out.append(
            (claims[1], _spearman_item(means, "separation", "transfer", -1, "separation, transfer"))
        )
    else:
        out.append((claims[1], {"describe": lambda p: (NO_TRANSFER, "inconclusive")}))
    out.append((claims[2], _layer_item(rows)))
    return out


def _layer_item(rows: pd.DataFrame) -> dict:
    """CKA between two losses' networks at the first and last analysed layers, per pair of
    analysed losses and seed, from the records' ``analysis`` (written by analyze)."""
    from scipy import stats

    from hem_bench.results.record import InvalidRecord, read_record
    from hem_bench.results.stats import ALPHA

    first, last, seen = [], [], set()
    for _, run in rows.iterrows():
        try:
            analysis = read_record(run["path"]).extras.get("analysis") or {}
        except InvalidRecord:
            continue
        layers = analysis.get("layers") or []
        label = analysis.get("label", run["loss"])
        for other, values in (analysis.get("cka_to") or {}).items():
            key = (int(run["seed"]), frozenset((label, other)))
            if key in seen or len(layers) < 2 or not isinstance(values, dict):
                continue
            a, b = values.get(layers[0]), values.get(layers[-1])
            if a is None or b is None:
                continue
            seen.add(key)
            first.append(float(a))
            last.append(float(b))
    if len(first) < 2:
        return {"describe": lambda p: (NOT_MEASURED + " (CKA between losses)", "inconclusive")}
    d = np.asarray(first) - np.asarray(last)
    pvalue = float(stats.ttest_1samp(d, 0.0).pvalue) if np.ptp(d) > 0 else math.nan

    def describe(p: float) -> tuple[str, str]:
        text = (
            f"linear CKA between losses: first layer {np.mean(first):.3f}, last layer "
            f"{np.mean(last):.3f} (mean over {len(d)} loss pairs × seeds), "
            + ("no test (equal differences)" if math.isnan(p) else f"Holm p={p:.3g}")
        )
        if math.isnan(p) or p >= ALPHA:
            return text, "inconclusive"
        return text, "holds" if d.mean() > 0 else "does not hold"

    return {"p": pvalue, "describe": describe}
