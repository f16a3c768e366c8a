"""The family policy of the leaderboard, stated once, and the verdict of every test under it.

A comparison has exactly one verdict wherever it is shown:

- **The claims are the confirmatory family.** The papers' claims (:mod:`~hem_bench.results.claims`)
  were stated before any run: they are the pre-registered questions. Their tests form one
  family, Holm-corrected (:func:`~hem_bench.results.stats.holm`) at
  :data:`~hem_bench.results.stats.ALPHA`, so the claims' verdicts together hold the
  family-wise error rate.
- **The paired comparisons against the baseline are exploratory.** Every other loss against
  the baseline in every protocol, Holm-corrected as a family of their own; a significant one
  is a lead to be tested again, not a finding. A paired comparison that is also a claim (the
  same protocol and the same two losses) belongs to the claims' family only: the paired table
  shows the claim's corrected p-value and verdict for it, and it does not enter the
  exploratory family.
- **A test that cannot decide is shown descriptively.** Which tests enter a family depends on
  their designs only (:func:`~hem_bench.results.stats.admitted`): a t-test whose n seeds, in
  a family of its size, could be significant only for an observed effect above
  :data:`~hem_bench.results.stats.DECIDABLE_EFFECT` standard deviations (e.g. a 3-seed arm),
  or an exact test whose smallest attainable corrected p is above α, keeps its estimate,
  interval and raw p-value but gets no corrected p and no verdict: adding it would only make
  every other test of the family stricter.
- **Every undecided verdict states its power** (:mod:`~hem_bench.results.power`): the
  smallest effect the design detects with 80 % power at Holm's first step α/m of its family,
  in standard deviations of the per-seed differences and in the metric's units at the
  observed spread, and the seeds the observed effect would need for that power, never
  fewer than a design needs to be decidable at that level. A descriptive test's family is
  taken to be every candidate test of its family (m counts them all): the family it would
  be in had every design been decidable, so that its seeds-needed figure is one at which
  it would enter the family, not one it already has.

Verdicts of a claim's test (``relation`` ``better``, ``worse`` or ``equal``): "holds" when
its corrected p is below α in the claimed direction (for ``equal``: the equivalence test's
decision is "within the margin"), "does not hold" when it is below α the other way ("beyond
the margin"), "inconclusive" otherwise, and for a descriptive test. Verdicts of an
exploratory comparison (``relation`` ``none``): "better" or "worse" (corrected p < α), "no
significant difference", or why there is no test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hem_bench.results.stats import ALPHA, MIN_PAIRS, Design, admitted, holm

CLAIMS = "claims"
EXPLORATORY = "exploratory"


@dataclass
class Test:
    """One test of a family and what it found.

    ``relation``: ``better`` / ``worse`` / ``equal`` (a claim) or ``none`` (exploratory);
    ``kind``: ``t`` (a t-test of a mean difference: paired, seed-unit or jackknife),
    ``equivalence`` (:func:`~hem_bench.results.stats.equivalence_test`, with ``margin``) or
    ``correlation`` (Spearman, ``estimate`` is ρ). ``estimate``, ``sd`` (of the per-unit
    differences), ``ci`` and ``p`` (uncorrected) describe the data; ``design`` its chance to
    decide. :func:`decide` fills the rest."""

    relation: str
    kind: str = "t"
    n: int = 0
    estimate: float = math.nan
    sd: float = math.nan
    ci: tuple[float, float] = (math.nan, math.nan)
    p: float = math.nan
    design: Design | None = None
    margin: float = math.nan
    decision: str = ""  # equivalence: "within" or "beyond"
    #: filled by :func:`decide`
    family: str = ""
    family_size: int = 0
    corrected: float = math.nan
    status: str = ""  # decided, undecided, descriptive, no test
    verdict: str = ""
    power: dict[str, Any] = field(default_factory=dict)

    @property
    def in_family(self) -> bool:
        return self.status in ("decided", "undecided")


@dataclass
class Part:
    """One part of a claim: where it was tested (``label``: a task, a learning rate, or what
    an analysis compared), its :class:`~hem_bench.results.family.Test` (None: not measured,
    ``missing`` says why), whether it counts towards the claim's verdict, and the text of
    what it shows (``describe(part) -> str``, made once the family is decided)."""

    claim: str
    label: str
    test: Test | None = None
    counts: bool = True
    missing: str = ""
    protocol: str = ""
    losses: tuple[str, str] = ("", "")
    describe: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return self.test.verdict if self.test is not None else "inconclusive"

    def text(self) -> str:
        return self.missing if self.test is None else self.describe(self)


def decide(tests: list[Test], family: str, alpha: float = ALPHA) -> int:
    """Admit the decidable tests of one family, Holm-correct them, and give every test its
    verdict and power (module docstring); returns the family's size."""
    designs = [t.design if not math.isnan(t.p) else None for t in tests]
    keep = admitted(designs, alpha)
    size, candidates = sum(keep), sum(d is not None for d in designs)
    corrected = holm([t.p for t, k in zip(tests, keep) if k]) if size else []
    values = iter(corrected)
    for test, kept in zip(tests, keep):
        test.family = family if kept else ""
        test.family_size = size
        test.corrected = float(next(values)) if kept else math.nan
        if kept:
            test.status = "decided" if test.corrected < alpha else "undecided"
        elif test.n < MIN_PAIRS or math.isnan(test.p):
            test.status = "no test"
        else:
            test.status = "descriptive"
        test.verdict = _verdict(test, alpha)
        if test.status in ("undecided", "descriptive"):
            # an admitted test's family is the family; a descriptive one is judged in the
            # family of every candidate test, the one it would be in if every design could
            # decide (its whole design group left out together, not one test alone)
            level = alpha / (size if kept else max(size + 1, candidates))
            test.power = power_of(test, level)
    return size


def _verdict(test: Test, alpha: float) -> str:
    """The verdict of one test from its status and direction (module docstring)."""
    if test.relation == "none":
        if test.status == "no test":
            if test.n < MIN_PAIRS:
                return f"too few seeds (n={test.n}; a test needs {MIN_PAIRS})"
            return "no test (the differences are all equal)"
        if test.status == "descriptive":
            return f"descriptive (n={test.n} cannot reach significance in this family)"
        if test.status == "undecided":
            return "no significant difference"
        better = test.estimate > 0
        return f"{'better' if better else 'worse'} (Holm p < {alpha})"
    if test.status != "decided":
        return "inconclusive"
    if test.kind == "equivalence":
        return "holds" if test.decision == "within" else "does not hold"
    positive = test.estimate > 0
    return "holds" if positive == (test.relation != "worse") else "does not hold"


def power_of(test: Test, level: float) -> dict[str, Any]:
    """What an undecided test's design could detect at ``level`` (Holm's first step of its
    family): ``level``, the detectable effect in standard deviations (``detectable sd``) and
    in the metric's units at the observed spread (``detectable``; for a correlation, the
    detectable |ρ|), and the seeds (losses, for a correlation) the observed effect needs
    for 80 % power (``needed``; None: more than the cap, or no effect)."""
    from hem_bench.results import power

    out: dict[str, Any] = {"level": level}
    if test.kind == "correlation":
        out["detectable"] = power.spearman_detectable(test.n, level)
        needed = power.spearman_points_needed(test.estimate, level)
        kind = test.design.kind if test.design is not None else "exact"
        # a t-approximated design counts n - 1 units for n points
        fewest = power.fewest_decidable(level, kind) + (kind == "t")
        out["needed"] = needed and max(needed, fewest)
        return out
    out["detectable sd"] = power.detectable_effect(test.n, level)
    spread = test.sd if test.sd > 0 else math.nan
    out["detectable"] = out["detectable sd"] * spread
    effect = test.estimate / spread if spread > 0 else math.nan
    if test.kind == "equivalence":
        needed = power.equivalence_seeds_needed(effect, test.margin / spread, level)
    else:
        needed = power.seeds_needed(effect, level)
    # never fewer seeds than a design needs to be decidable at that level
    fewest = power.fewest_decidable(level)
    out["needed"] = needed and (max(needed, fewest) if fewest <= power.MAX_SEEDS else None)
    return out


def power_text(test: Test, units: str = "") -> str:
    """An undecided test's power in words; '' for a decided test."""
    info = test.power
    if not info:
        return ""
    needed = info.get("needed")
    noun = "losses" if test.kind == "correlation" else "seeds"
    need = (
        f"the observed effect would need {needed} {noun}"
        if needed
        else f"the observed effect would need more than {_cap()} {noun}"
    )
    if test.kind == "correlation":
        return f"80 % power only for |ρ| ≥ {info['detectable']:.2f} at α/m = {info['level']:.2g}; {need}"
    if test.kind == "equivalence":
        return f"at α/m = {info['level']:.2g}, {need}"
    detectable = info["detectable"]
    shown = "" if math.isnan(detectable) else f"±{detectable:.4f}{units} = "
    return (
        f"80 % power only for {shown}{info['detectable sd']:.1f} sd at α/m = "
        f"{info['level']:.2g}; {need}"
    )


def _cap() -> int:
    from hem_bench.results.power import MAX_SEEDS

    return MAX_SEEDS


def p_text(test: Test, family: bool = False) -> str:
    """``p=0.0021, Holm p=0.049`` (with ``family``: `` (claims family of 20)``), or why
    there is no corrected p."""
    raw = "no test" if math.isnan(test.p) else f"p={test.p:.3g}"
    if test.status == "descriptive":
        return f"{raw}, not in the family (n={test.n} cannot reach significance: descriptive)"
    if not test.in_family:
        return raw
    where = f" ({test.family} family of {test.family_size})" if family else ""
    return f"{raw}, Holm p={test.corrected:.3g}{where}"
