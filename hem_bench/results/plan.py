"""How many seeds would decide each undecided test: the plan behind ``hem-bench plan`` and
the report's power table, from the leaderboard's tests as they stand.

For every test of the claims' family and of the exploratory paired comparisons that has no
verdict (not significant after Holm's correction, or shown descriptively because its design
cannot reach significance): the estimate and its spread, the smallest effect the design
detects with 80 % power at Holm's first step α/m of its family (the figures of
:mod:`hem_bench.results.power`), and the seeds at which the observed effect would reach that
power. The family size is the present one: more seeds change which tests are decidable and
so the family, which the figure does not foresee; it is a plan, not a promise.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

COLUMNS = [
    "question",
    "where",
    "family",
    "n",
    "estimate",
    "sd",
    "detectable",
    "detectable sd",
    "seeds needed",
    "at level",
]


def plan_table(board) -> pd.DataFrame:
    """One row per undecided test of ``board`` (a :class:`~hem_bench.results.leaderboard.
    Leaderboard`): the claims' parts first, then the exploratory comparisons; ``seeds
    needed`` is None where the observed effect would need more than the cap (or is zero).
    For a correlation, ``n``, ``detectable`` and ``seeds needed`` count losses and
    ``detectable`` is a |ρ|."""
    from hem_bench.results.paired import is_claim
    from hem_bench.results.stats import ALPHA

    rows = []
    for part in board.claim_parts:
        test = part.test
        if test is None or not test.power:
            continue
        where = part.protocol or "hem-bench analyze"
        if not part.protocol and part.label:
            where += f": {part.label}"
        rows.append(
            {
                "question": part.claim,
                "where": where,
                "family": test.family or "descriptive",
                "n": test.n,
                "estimate": test.estimate,
                "sd": test.sd,
                "detectable": test.power.get("detectable", math.nan),
                "detectable sd": test.power.get("detectable sd", math.nan),
                "seeds needed": test.power.get("needed"),
                "at level": test.power["level"],
            }
        )
    for record in board.paired.to_dict(orient="records"):
        if is_claim(record["verdict"]) or pd.isna(record["detectable sd"]):
            continue
        family = record["family"] or "descriptive"
        size = board.family + (0 if record["family"] else 1)
        rows.append(
            {
                "question": f"{record['loss']} vs {record['baseline']}",
                "where": record["benchmark"],
                "family": family,
                "n": int(record["n"]),
                "estimate": record["mean diff"],
                "sd": record["std diff"],
                "detectable": record["detectable effect"],
                "detectable sd": record["detectable sd"],
                "seeds needed": record["seeds needed"],
                "at level": ALPHA / max(size, 1),
            }
        )
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["seeds needed"] = [
        None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
        for v in out["seeds needed"]
    ]
    return out


def matching(table: pd.DataFrame, text: str | None) -> pd.DataFrame:
    """The rows whose question or place holds ``text`` (case-insensitive); all for None."""
    if not text:
        return table
    needle = text.lower()
    keep = [
        needle in str(q).lower() or needle in str(w).lower()
        for q, w in zip(table["question"], table["where"])
    ]
    return table[keep]


def plan_text(table: pd.DataFrame) -> pd.DataFrame:
    """The plan table with its numbers rounded for reading (3 decimals; detectable sd 1)."""
    out = table.copy()
    for column in ("estimate", "sd", "detectable"):
        out[column] = ["–" if pd.isna(v) else f"{v:.{3}f}" for v in out[column]]
    out["detectable sd"] = ["–" if pd.isna(v) else f"{v:.1f}" for v in out["detectable sd"]]
    out["at level"] = [f"{v:.2g}" for v in out["at level"]]
    out["seeds needed"] = [_needed(v) for v in out["seeds needed"]]
    return out


def _needed(value: Any) -> str:
    """Seeds needed as text: a number, or ``> 1000`` (the cap)."""
    from hem_bench.results.power import MAX_SEEDS

    if value is None or pd.isna(value):
        return f"> {MAX_SEEDS}"
    return str(int(value))
