"""The papers' claims, re-tested on the runs of a results store: the confirmatory family.

Each claim of the HEM paper (Spratling & Schütt 2025, "A margin-based replacement for
cross-entropy loss", arXiv:2501.12191) is a comparison of two losses on one task's
headline: HEM better than CE at unknown-class rejection (ood AUROC), adversarial
robustness (robust accuracy), imbalanced data (balanced accuracy), continual learning
(average accuracy) and segmentation (mIoU), and as accurate on clean data (classify
accuracy); LogitNorm as good as HEM at rejection but poorer on continual learning and
segmentation; logit-adjusted better than HEM on imbalanced data but poorer at rejection
and segmentation; Dice poorer than HEM on every task. Kornblith et al.'s claims (2021,
"Why do better loss functions lead to less transferable features?", NeurIPS) are re-tested
from ``hem-bench analyze``'s results where the records carry them
(:mod:`hem_bench.results.kornblith`).

How a verdict is reached (never from means alone; the family policy is
:mod:`hem_bench.results.family`'s):

- a comparison of losses a and b uses the main protocol of the task (the first data set
  where both ran): the per-seed paired differences of the headline (positive = a better),
  their mean and 95 % t-interval, and the two-sided paired t-test (``scipy.stats``); where
  the leaderboard has protocols that differ from it only in the learning rate, the same
  comparison is made in each of them too, shown as a sensitivity check;
- "a as good as b" is an equivalence test (:func:`~hem_bench.results.stats.equivalence_test`)
  with the margin the task declares on its headline metric (its
  :class:`~hem_bench.tasks.Metric`'s ``margin``; e.g. a quarter of b's error rate for an
  accuracy, one point of AUROC): it holds when the difference is shown to lie within the
  margin, does not hold when it is shown to lie beyond it, and is inconclusive otherwise;
- every test of this table is one family, Holm-corrected; a test that cannot reach
  significance at its number of seeds is shown descriptively instead (its verdict is
  inconclusive) and every undecided test states its power;
- a claim of several parts lists each part's verdict; its overall verdict follows the parts
  at the recipe's learning rate (the other rates are a sensitivity check): it holds when
  every one of them holds, does not hold when any of them does not hold, and is
  inconclusive otherwise (a missing or descriptive part is inconclusive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from hem_bench.results.family import CLAIMS, Part, Test, decide, p_text, power_text

HEM_PAPER = "Spratling & Schütt 2025"
KORNBLITH = "Kornblith et al. 2021"

#: the tasks of the claims: name in the claim, and the task
TASKS = {
    "unknown-class rejection": "ood",
    "adversarial robustness": "adversarial",
    "imbalanced data": "imbalanced",
    "continual learning": "continual",
    "segmentation": "segmentation",
    "clean accuracy": "classify",
}

#: how a claim of several parts is decided, in words (shown under the table)
OVERALL_RULE = (
    "A claim of several parts holds when every part at the recipe's learning rate holds, "
    "does not hold when any of them does not hold, and is inconclusive otherwise; parts at "
    "other learning rates are a sensitivity check and do not count."
)


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
        on = "on" if what == "imbalanced data" else "at"
        out.append(
            Claim(f"HEM better than CE {on} {what}", HEM_PAPER, hem, ce, "better", (TASKS[what],))
        )
    out.append(
        Claim("HEM as accurate as CE on clean data", HEM_PAPER, hem, ce, "equal", ("classify",))
    )
    for text, a, relation, tasks in (
        ("LogitNorm as good as HEM at unknown-class rejection", "logitnorm", "equal", ("ood",)),
        ("LogitNorm poorer than HEM at continual learning", "logitnorm", "worse", ("continual",)),
        ("LogitNorm poorer than HEM at segmentation", "logitnorm", "worse", ("segmentation",)),
        (
            "logit-adjusted better than HEM on imbalanced data",
            "logit-adjusted",
            "better",
            ("imbalanced",),
        ),
        (
            "logit-adjusted poorer than HEM at unknown-class rejection",
            "logit-adjusted",
            "worse",
            ("ood",),
        ),
        (
            "logit-adjusted poorer than HEM at segmentation",
            "logit-adjusted",
            "worse",
            ("segmentation",),
        ),
        ("Dice poorer than HEM on every task", "dice", "worse", tuple(TASKS.values())),
    ):
        out.append(Claim(text, HEM_PAPER, a, hem, relation, tasks))
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


def _lr_protocols(board, protocol: str) -> list[tuple[float | None, str, bool]]:
    """(lr, protocol, is the given one) of the sensitivity table holding ``protocol``;
    the protocol alone when there is none."""
    for sensitivity in board.sensitivity:
        if protocol in sensitivity.protocols:
            return [(lr, p, p == protocol) for lr, p in zip(sensitivity.lrs, sensitivity.protocols)]
    return [(None, protocol, True)]


def _margin(task: str, reference_mean: float) -> tuple[float, str]:
    """The equivalence margin of ``task``'s headline (from its Metric) given the reference
    loss's mean, and the rule in words; NaN where the task declares none."""
    from hem_bench.tasks import find_task

    found = find_task(task)
    metric = found.metric(found.headline.name) if found is not None else None
    if metric is None or metric.margin is None:
        return math.nan, "no margin declared"
    return metric.margin.of(reference_mean), metric.margin.describe()


def comparison_part(claim: Claim, runs: pd.DataFrame, task: str) -> Part:
    """The test of ``claim`` on one protocol's runs (a paired t-test, or an equivalence
    test for "as good as")."""
    from hem_bench.results.stats import Design, comparison, equivalence_test

    headline = str(runs["headline"].mode().iloc[0])
    higher = bool(runs["higher_is_better"].mode().iloc[0])
    result = comparison(runs, claim.a, claim.b, higher)
    n = result["n"]
    test = Test(
        relation=claim.relation,
        n=n,
        estimate=result["mean diff"],
        sd=result["std diff"],
        ci=(result["ci low"], result["ci high"]),
        p=result["t-test p"],
        design=Design("t", n=n),
    )
    extra = {"headline": headline, "result": result}
    if claim.relation == "equal":
        reference = runs.loc[runs["loss"] == claim.b, "headline_value"].mean()
        margin, rule = _margin(task, reference)
        extra["rule"] = rule.replace("the reference", claim.b)
        test.kind, test.margin = "equivalence", margin
        if not math.isnan(margin):
            eq = equivalence_test(result["differences"], margin)
            test.p, test.decision = eq["p"], eq["decision"]
            extra["equivalence"] = eq
        else:
            test.p = math.nan
    return Part(claim.text, task, test, losses=(claim.a, claim.b), extra=extra)


def _describe_comparison(part: Part) -> str:
    """``auroc hem − ce = +0.0123 [−0.0040, +0.0286], n=5, p=..., Holm p=... → verdict;
    power``."""
    test, extra = part.test, part.extra
    a, b = part.losses
    if test.n < 2:
        return f"{extra['headline']}: {a} vs {b}: {test.n} paired seed(s), no test → inconclusive"
    low, high = test.ci
    ci = "" if math.isnan(low) else f" [{low:+.4f}, {high:+.4f}]"
    text = f"{extra['headline']} {a} − {b} = {test.estimate:+.4f}{ci}, n={test.n}"
    if test.kind == "equivalence":
        if math.isnan(test.margin):
            return text + ", no equivalence margin declared for this metric → inconclusive"
        eq = extra["equivalence"]
        text += (
            f", margin ±{test.margin:.4f} ({extra['rule']}), TOST p={eq['p_tost']:.3g}, "
            f"beyond-margin p={eq['p_beyond']:.3g}; equivalence {p_text(test)}"
        )
    else:
        text += f", {p_text(test)}"
    text += f" → {test.verdict}"
    power = power_text(test)
    return text + (f" ({power})" if power else "")


def _hem_parts(frame: pd.DataFrame, board, hem: str, ce: str) -> list[list[Part]]:
    """The parts of each of the HEM paper's claims."""
    from hem_bench.results.protocols import protocol_rows

    out = []
    for claim in hem_claims(hem, ce):
        parts: list[Part] = []
        for task in claim.tasks:
            protocol = _main_protocol(frame, task, (claim.a, claim.b))
            if protocol is None:
                missing = f"{task}: {claim.a} and {claim.b} not both run"
                parts.append(Part(claim.text, task, missing=missing))
                continue
            for lr, name, is_main in _lr_protocols(board, protocol):
                runs = protocol_rows(frame, name)
                if not {claim.a, claim.b} <= set(runs["loss"]):
                    continue
                part = comparison_part(claim, runs, task)
                part.protocol, part.counts = name, is_main
                if lr is not None:
                    part.label = f"{task} at {'recipe lr' if is_main else 'lr'} {lr:g}"
                part.describe = _describe_comparison
                parts.append(part)
        out.append(parts)
    return out


def shown_parts(parts: list[Part]) -> list[str]:
    """What each part of one claim shows, labelled where the claim has several."""
    out = []
    for part in parts:
        shown = part.text()
        if not part.counts:
            shown += " (a sensitivity check: not counted)"
        several = len(parts) > 1 and not shown.startswith(f"{part.label}:")
        out.append(f"{part.label}: {shown}" if several else shown)
    return out


@dataclass
class ClaimsResult:
    """The claims table (:data:`COLUMNS`), every part behind it, and the family's size."""

    table: pd.DataFrame
    parts: list[Part]
    family: int


def overall(verdicts: list[str]) -> str:
    """A claim's verdict from the verdicts of its counted parts (:data:`OVERALL_RULE`)."""
    if verdicts and all(v == "holds" for v in verdicts):
        return "holds"
    if any(v == "does not hold" for v in verdicts):
        return "does not hold"
    return "inconclusive"


def claims(frame: pd.DataFrame, board, hem: str = "hem", ce: str = "ce") -> ClaimsResult:
    """Every claim's parts, decided as one family (:func:`hem_bench.results.family.decide`),
    and the table: a claim per row, each part's finding and verdict, the overall verdict."""
    from hem_bench.results.kornblith import kornblith_parts

    rows = [
        (c.text, c.source, parts)
        for c, parts in zip(hem_claims(hem, ce), _hem_parts(frame, board, hem, ce))
    ]
    rows += [(text, KORNBLITH, parts) for text, parts in kornblith_parts(frame)]
    every = [part for _, _, parts in rows for part in parts]
    size = decide([p.test for p in every if p.test is not None], CLAIMS)
    out = []
    for text, source, parts in rows:
        out.append(
            {
                "claim": text,
                "source": source,
                "what the grid shows": "; ".join(shown_parts(parts)),
                "holds here?": overall([p.verdict for p in parts if p.counts]),
            }
        )
    table = pd.DataFrame(out, columns=COLUMNS)
    return ClaimsResult(table, every, size)


def claims_table(frame: pd.DataFrame, board, hem: str = "hem", ce: str = "ce") -> pd.DataFrame:
    """The claims table alone (:func:`claims`), its family's size in ``attrs["family"]``."""
    result = claims(frame, board, hem, ce)
    result.table.attrs["family"] = result.family
    return result.table
