"""What the records show, in sentences made from the leaderboard: the numbers of a README's
prose, generated so that none is typed by hand (``leaderboard.md`` holds them, and a README
with the findings markers gets them written in: :func:`hem_bench.results.markdown.update_readme`).

One bullet each: the runs (how many, of which protocols, when, how long from the first start
to the last finish, each task's share of the run time, the code and package versions); the
baseline's headline on every main benchmark; the ranking (mean ranks with their bootstrap
intervals and p(first), the Friedman test and the critical difference); the claims' verdicts;
the significant exploratory comparisons; and each learning-rate arm. Nothing here is a new
statistic: every figure is one of the leaderboard's, rounded.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd

#: the packages whose versions the runs bullet names (from the records' ``env``)
PACKAGES = ("python", "torch", "lightning", "hem_bench")


def findings(board) -> list[str]:
    """The findings, one sentence group per bullet, as plain text (the Markdown writer
    escapes them); empty for an empty leaderboard."""
    if not len(board.tables):
        return []
    out = [_runs(board), *_baselines(board), _ranking(board), _claims(board)]
    out += [_exploratory(board), *_sensitivity(board)]
    return [line for line in out if line]


def _records(board) -> list[dict[str, Any]]:
    """The records behind the main tables' runs (started, finished, timings, env)."""
    from hem_bench.results.record import InvalidRecord, read_record

    out = []
    frame = board.frame
    paths = frame["path"] if "path" in getattr(frame, "columns", ()) else []
    for path in paths:
        try:
            out.append(read_record(path).data())
        except InvalidRecord:
            continue
    return out


def _runs(board) -> str:
    """How many runs of which protocols, when, how long, with which versions."""
    protocols = board.protocols
    if not len(protocols):
        return ""
    runs = int(protocols["runs"].sum())
    parts = [
        f"{p} ({int(r)} run{'s' * (int(r) != 1)}: {int(n)} loss{'es' * (int(n) != 1)} × "
        f"{int(s)} seed{'s' * (int(s) != 1)})"
        for p, r, n, s in zip(
            protocols["protocol"], protocols["runs"], protocols["losses"], protocols["seeds"]
        )
    ]
    text = f"{runs} runs in {len(protocols)} protocols: {'; '.join(parts)}."
    records = _records(board)
    if records:
        text += " " + _timing(records)
        versions = []
        for package in PACKAGES:
            found = {str((r.get("env") or {}).get(package)) for r in records}
            if len(found) == 1 and found != {"None"}:
                versions.append(f"{package} {found.pop()}")
        if versions:
            text += f" Made with {', '.join(versions)}."
        text += _processors(records)
    codes = sorted({v for text in protocols.get("code versions", []) for v in _split(text)})
    if len(codes) > 1:
        by = {
            code: [
                p for p, t in zip(protocols["protocol"], protocols["code versions"]) if code in t
            ]
            for code in codes
        }
        text += " Code versions: " + "; ".join(f"{c}: {', '.join(p)}" for c, p in by.items()) + "."
    return text


def _processors(records: list[dict[str, Any]]) -> str:
    """The processors the records ran on (their ``env.cpu`` and the vector instructions
    torch used, ``env.cpu_capability``; when older records lack the fields, how many say), and a
    warning where they differ: the same run's metrics then differ a little from one to the
    other."""
    named = [
        f"{env.get('cpu') or 'an unnamed processor'} ({env['cpu_capability']})"
        for env in (r.get("env") or {} for r in records)
        if env.get("cpu_capability")
    ]
    found = sorted(set(named))
    if not found:
        return ""
    if len(found) == 1:
        if len(named) < len(records):  # older records do not name their processor
            return f" On {found[0]}, as {len(named)} of the {len(records)} records say."
        return f" On {found[0]}."
    return (
        f" On {len(found)} kinds of processor ({'; '.join(found)}): a run's metrics differ a "
        "little between processors whose vector instructions differ (the kernels round "
        "differently), so differences between losses of that size may be the machine's."
    )


def _split(text: str) -> list[str]:
    return [part.rsplit(" (", 1)[0] for part in str(text).split("; ") if part]


def _timing(records: list[dict[str, Any]]) -> str:
    """The span from the first start to the last finish, and each task's share of the
    summed run time."""
    starts = [_time(r.get("started_at")) for r in records]
    ends = [_time(r.get("finished_at")) for r in records]
    starts, ends = [t for t in starts if t], [t for t in ends if t]
    text = ""
    if starts and ends:
        span = (max(ends) - min(starts)).total_seconds()
        text = (
            f"From the first start to the last finish: {int(span // 60)} min "
            f"{int(round(span % 60))} s ({min(starts):%Y-%m-%d} to {max(ends):%Y-%m-%d})."
        )
    totals: dict[str, float] = {}
    for r in records:
        totals[r["task"]] = totals.get(r["task"], 0.0) + float(
            (r.get("timings") or {}).get("total") or 0
        )
    whole = sum(totals.values())
    if whole > 0:
        shares = sorted(totals.items(), key=lambda item: -item[1])
        text += (
            " Share of the run time: "
            + ", ".join(f"{task} {100 * t / whole:.0f} %" for task, t in shares)
            + "."
        )
    return text


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _baselines(board) -> list[str]:
    """The baseline's mean headline, and its range over seeds, on every main benchmark."""
    parts = []
    for table in board.tables:
        if not table.main or board.baseline not in table.stats.index:
            continue
        h = table.headline
        values = _values(board.frame, table.protocol, board.baseline)
        span = f" ({min(values):.3f}–{max(values):.3f} over {len(values)} seeds)" if values else ""
        parts.append(f"{table.label} {h} {table.stats.at[board.baseline, f'{h} mean']:.3f}{span}")
    if not parts:
        return []
    return [f"The baseline, {board.baseline}, reaches: " + "; ".join(parts) + "."]


def _values(frame: pd.DataFrame, protocol: str, loss: str) -> list[float]:
    """The headline values of ``loss``'s runs in ``protocol``."""
    if not len(frame) or "protocol" not in frame.columns:
        return []
    rows = frame[(frame["protocol"] == protocol) & (frame["loss"] == loss)]
    return [float(v) for v in rows["headline_value"].dropna()]


def _ranking(board) -> str:
    """Mean ranks with their bootstrap intervals and p(first); Friedman and the CD."""
    from hem_bench.results.stats import critical_difference

    ranks = board.ranks
    if not len(ranks):
        return ""
    items = [
        f"{r['loss']} {r['mean rank']:.2f} [{r['rank ci low']:.2f}, {r['rank ci high']:.2f}], "
        f"p(first) {r['p(first)']:.2f}"
        for r in ranks.to_dict(orient="records")
        if not math.isnan(r["mean rank"])
    ]
    text = (
        "Mean rank over the main benchmarks [95 % bootstrap interval], p(first): "
        + "; ".join(items)
        + "."
    )
    cd = critical_difference(board.tables)
    if cd is not None and not math.isnan(cd.friedman_p):
        worse = [loss for loss, r in zip(cd.losses, cd.mean_ranks) if r - cd.mean_ranks[0] >= cd.cd]
        text += (
            f" Friedman's test: p = {cd.friedman_p:.3g}; Nemenyi critical difference "
            f"{cd.cd:.2f}: "
            + (
                f"worse than {cd.losses[0]}: {', '.join(worse)}."
                if worse
                else f"no loss's mean rank is significantly worse than {cd.losses[0]}'s."
            )
        )
    return text


def _claims(board) -> str:
    """How many claims hold, do not hold, are inconclusive; the decided ones by name."""
    table = board.claims
    if not len(table):
        return ""
    counts = table["holds here?"].value_counts()
    text = (
        f"Of {len(table)} claims ({board.claims_family} test{'s' * (board.claims_family != 1)} in the "
        "claims' family): "
        f"{counts.get('holds', 0)} hold, {counts.get('does not hold', 0)} do not hold, "
        f"{counts.get('inconclusive', 0)} are inconclusive."
    )
    for verdict in ("holds", "does not hold"):
        names = list(table.loc[table["holds here?"] == verdict, "claim"])
        if names:
            text += f" {verdict.capitalize()}: " + "; ".join(names) + "."
    return text


def _exploratory(board) -> str:
    """The significant exploratory comparisons."""
    paired = board.paired
    if not len(paired):
        return ""
    significant = paired[(paired["family"] == "exploratory") & (paired["holm p"] < 0.05)]
    head = f"Exploratory comparisons against {board.baseline} ({board.family} in the family)"
    if not len(significant):
        return f"{head}: none significant after Holm's correction."
    items = [
        f"{r['loss']} {'better' if r['mean diff'] > 0 else 'worse'} on {r['benchmark']} "
        f"({r['headline']} {r['mean diff']:+.3f}, Holm p {r['holm p']:.2g})"
        for r in significant.to_dict(orient="records")
    ]
    return f"{head}, significant after Holm's correction: " + "; ".join(items) + "."


def _sensitivity(board) -> list[str]:
    """Each learning-rate arm: every loss's mean at each rate, as a share of its mean at
    the first (the recipe's)."""
    out = []
    for item in board.sensitivity:
        first = f"lr={item.lrs[0]:g}"
        items = []
        for record in item.table.to_dict(orient="records"):
            base = record[f"{first} mean"]
            shares = []
            for lr in item.lrs[1:]:
                value = record[f"lr={lr:g} mean"]
                if not (pd.isna(base) or pd.isna(value)) and base:
                    shares.append(f"{value:.3f} at lr {lr:g} ({100 * value / base:.0f} %)")
            if shares and not pd.isna(base):
                items.append(f"{record['loss']} {base:.3f} → " + ", ".join(shares))
        if items:
            out.append(
                f"{item.task}/{item.dataset}, {item.headline} at the recipe's lr {item.lrs[0]:g} "
                "and its share kept at the other rates: " + "; ".join(items) + "."
            )
    return out
