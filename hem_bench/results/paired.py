"""Paired comparisons against a baseline loss within each protocol: the exploratory family.

Each loss against the baseline in every protocol where both ran: the seeds both have, the
signed per-seed differences of the headline (positive = better than the baseline), their
mean (the effect size) with its standard deviation and 95 % t-interval, the paired t-test
(Student 1908; ``scipy.stats.ttest_1samp`` of the differences, the same as ``ttest_rel``)
and, from :data:`~hem_bench.results.stats.WILCOXON_MIN_PAIRS` pairs on, the Wilcoxon
signed-rank test (Wilcoxon 1945; ``scipy.stats.wilcoxon``), both two-sided.

Under the family policy (:mod:`hem_bench.results.family`) these comparisons are exploratory:
their t-test p-values are Holm-corrected over the decidable comparisons of this table that
are not claims. A comparison that is also a claim (the same protocol and the same two
losses) shows the claim's corrected p-value and verdict, from the claims' family, and does
not enter this one; a comparison that cannot reach significance at its number of seeds is
shown descriptively. Every undecided comparison states its power.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import pandas as pd

from hem_bench.errors import ConfigError
from hem_bench.results.family import EXPLORATORY, Part, Test, decide
from hem_bench.results.formats import DECIMALS
from hem_bench.results.protocols import protocol_info, protocol_rows, protocols, with_protocols
from hem_bench.results.stats import Design, comparison

COLUMNS = [
    "benchmark",
    "task",
    "dataset",
    "model",
    "main",
    "loss",
    "baseline",
    "headline",
    "higher_is_better",
    "n",
    "seeds",
    "differences",
    "mean diff",
    "std diff",
    "ci low",
    "ci high",
    "wilcoxon",
    "wilcoxon p",
    "t",
    "t-test p",
    "test",
    "family",
    "holm p",
    "verdict",
    "detectable effect",
    "detectable sd",
    "seeds needed",
]


def _mode(values: pd.Series) -> Any:
    return values.value_counts(sort=True).index[0]


def _claimed(parts: list[Part]) -> dict[tuple[str, frozenset], Part]:
    """The claims' comparison parts by (protocol, the two losses)."""
    return {
        (p.protocol, frozenset(p.losses)): p
        for p in parts
        if p.test is not None and p.protocol and all(p.losses)
    }


def paired_comparisons(
    frame: pd.DataFrame, baseline: str = "ce", required: bool = True, claims: list[Part] = ()
) -> pd.DataFrame:
    """Every comparison with ``baseline`` (:data:`COLUMNS`; module docstring); ``claims``:
    the claims' parts, decided already, whose comparisons keep their verdicts here.

    When the baseline has no runs at all: :class:`ConfigError` if ``required`` (the user
    named it), else a warning and no comparisons (the default baseline was not run).
    """
    frame = with_protocols(frame)
    losses = sorted(frame["loss"].unique())
    keys = protocols(frame)
    if baseline not in losses:
        message = (
            f"baseline loss {baseline!r} has no records; losses with records: {', '.join(losses)}"
        )
        if required:
            raise ConfigError(message)
        warnings.warn(
            f"{message}; no paired comparisons (choose one with --baseline)", stacklevel=2
        )
        keys = []
    claimed = _claimed(list(claims))
    rows, tests, matched = [], [], []
    for protocol in keys:
        runs = protocol_rows(frame, protocol)
        task, dataset, model, main, _ = protocol_info(runs)
        higher = bool(_mode(runs["higher_is_better"]))
        present = set(runs.dropna(subset=["headline_value"])["loss"])
        if baseline not in present:
            continue
        variant = dict(zip(runs["loss"], runs["variant"]))
        for loss in sorted(present - {baseline}):
            result = comparison(runs, loss, baseline, higher)
            rows.append(
                {
                    "benchmark": protocol,
                    "task": task,
                    "dataset": dataset,
                    "model": model,
                    "main": main,
                    "loss": variant[loss],
                    "baseline": variant[baseline],
                    "headline": str(_mode(runs["headline"])),
                    "higher_is_better": higher,
                    **result,
                }
            )
            part = claimed.get((protocol, frozenset((loss, baseline))))
            matched.append(part)
            tests.append(_test(result) if part is None else None)
    size = decide([t for t in tests if t is not None], EXPLORATORY)
    for row, test, part in zip(rows, tests, matched):
        row.update(_decided(test) if part is None else _from_claim(part))
    out = pd.DataFrame(rows, columns=COLUMNS)
    out.attrs["family"] = size
    return out


def _test(result: dict[str, Any]) -> Test:
    """An exploratory :class:`Test` (no claimed direction) of one comparison."""
    return Test(
        "none",
        n=result["n"],
        estimate=result["mean diff"],
        sd=result["std diff"],
        ci=(result["ci low"], result["ci high"]),
        p=result["t-test p"],
        design=Design("t", n=result["n"]),
    )


def _decided(test: Test) -> dict[str, Any]:
    """The family columns of an exploratory comparison."""
    power = test.power
    return {
        "test": "equivalence" if test.kind == "equivalence" else "t-test",
        "family": test.family,
        "holm p": test.corrected,
        "verdict": test.verdict,
        "detectable effect": power.get("detectable", math.nan),
        "detectable sd": power.get("detectable sd", math.nan),
        "seeds needed": power.get("needed"),
    }


def _from_claim(part: Part) -> dict[str, Any]:
    """The family columns of a comparison that is a claim: the claim's test."""
    test = part.test
    out = _decided(test)
    where = "" if part.counts else ", a sensitivity check"
    out["verdict"] = f"claim “{part.claim}”{where}: {test.verdict}"
    return out


def is_claim(verdict: str) -> bool:
    """Whether a paired table's verdict is a claim's (shown in the claims table)."""
    return str(verdict).startswith("claim")


def paired_cells(paired: pd.DataFrame, decimals: int = DECIMALS) -> dict[str, list]:
    """The cells of the paired comparisons as text, shared by the Markdown table
    (:func:`paired_text`) and the report's HTML table: headline with its better direction,
    pairs, per-seed differences, mean difference, its interval, the two p-values, the
    corrected p-value and the power of an undecided comparison; differences to ``decimals``."""
    return {
        "headline": [
            f"{h} {'↑' if hib else '↓'}"
            for h, hib in zip(paired["headline"], paired["higher_is_better"])
        ],
        "n": list(paired["n"].astype(int)),
        "per-seed diff": [
            ", ".join(f"{s}: {x:+.{decimals}f}" for s, x in zip(seeds, diffs))
            for seeds, diffs in zip(paired["seeds"], paired["differences"])
        ],
        "mean diff": [_signed(v, decimals) for v in paired["mean diff"]],
        "95% CI": [
            "–" if pd.isna(lo) else f"[{lo:+.{decimals}f}, {hi:+.{decimals}f}]"
            for lo, hi in zip(paired["ci low"], paired["ci high"])
        ],
        "wilcoxon p": [p_value(v) for v in paired["wilcoxon p"]],
        "t-test p": [p_value(v) for v in paired["t-test p"]],
        "holm p": [p_value(v) for v in paired["holm p"]],
        "power": [power_cell(d, s, n) for d, s, n in zip(*_power_columns(paired))],
    }


def paired_text(paired: pd.DataFrame) -> pd.DataFrame:
    """The paired comparisons as text for Markdown: estimate, interval, p-values, the
    corrected p-value (with its family), the verdict and the power of an undecided one, in
    that order."""
    cells = paired_cells(paired)
    return pd.DataFrame(
        {
            "benchmark": paired["benchmark"],
            "loss": paired["loss"],
            "baseline": paired["baseline"],
            **{k: cells[k] for k in ("headline", "n", "per-seed diff", "mean diff", "95% CI")},
            "wilcoxon p": cells["wilcoxon p"],
            "t-test p": cells["t-test p"],
            "Holm p": [
                p + (f" ({f})" if f and not pd.isna(v) else "")
                for p, v, f in zip(cells["holm p"], paired["holm p"], paired["family"])
            ],
            "verdict": paired["verdict"],
            "80% power for": cells["power"],
        }
    )


def _power_columns(paired: pd.DataFrame):
    return paired["detectable effect"], paired["detectable sd"], paired["seeds needed"]


def power_cell(detectable: float, sd: float, needed: Any) -> str:
    """``±0.031 (3.9 sd); observed: 9 seeds``; ``–`` for a decided comparison."""
    if pd.isna(sd):
        return "–"
    from hem_bench.results.power import MAX_SEEDS

    size = "" if pd.isna(detectable) else f"±{detectable:.{DECIMALS}f} "
    seeds = f"> {MAX_SEEDS} seeds" if needed is None or pd.isna(needed) else f"{int(needed)} seeds"
    return f"{size}({sd:.1f} sd); observed: {seeds}"


def _signed(value: float, decimals: int = DECIMALS) -> str:
    return "–" if pd.isna(value) else f"{value:+.{decimals}f}"


def p_value(value: float) -> str:
    """A p-value in 3 significant digits; ``–`` where no test was made."""
    return "–" if pd.isna(value) else f"{value:.3g}"
