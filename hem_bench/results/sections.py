"""Sections of the HTML report that hold the leaderboard's tests: the papers' claims, the
paired comparisons against the baseline (a matrix and every comparison), the power of every
undecided verdict, the learning-rate sensitivity and the protocols with their code versions.

Each comparison shows the one verdict the family policy gives it
(:mod:`hem_bench.results.family`): a claim's in the claims table and in the paired tables;
bold and colour only where a difference is significant in its family.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from hem_bench.results.html import (
    DECIMALS,
    Cell,
    escape,
    html_table,
    loss_html,
    mean_std,
    metric_header,
    p_value,
    table_html,
    wrap_slashes,
)
from hem_bench.results.leaderboard import Leaderboard
from hem_bench.results.paired import is_claim, paired_cells
from hem_bench.results.stats import ALPHA, DECIDABLE_EFFECT, WILCOXON_MIN_PAIRS

Papers = dict[str, tuple[str, str]]

#: what the family policy means for a reader, shown above the claims and paired tables
POLICY = (
    "One verdict per comparison. The papers' claims are the confirmatory family: their tests "
    "are Holm-corrected together. The paired comparisons against the baseline are "
    "exploratory, corrected as a family of their own; a comparison that is also a claim shows "
    "the claim's verdict. A test that cannot reach significance at its number of seeds (it "
    f"would need an observed effect above {DECIDABLE_EFFECT:g} standard deviations of its "
    "per-seed differences) is shown descriptively, outside any family. Every undecided test "
    "states its power: the smallest effect detectable with 80 % power at Holm's first step "
    "α/m, and the seeds the observed effect would need."
)


def claims_section(board: Leaderboard) -> str:
    """The claims table: claim | source | what the grid shows | holds here?"""
    from hem_bench.results.claims import OVERALL_RULE, shown_parts

    title = '<h2 id="claims">The papers\' claims, re-tested</h2>'
    if not len(board.claims):
        return title + "<p>No claim could be tested.</p>"
    note = (
        f'<p class="note">{escape(POLICY)} Claims family: {board.claims_family} tests, '
        f"Holm-corrected at α = {ALPHA}. A difference is a − b (positive = a better) with its "
        f"95 % t-interval; “as good as” is an equivalence test with the margin each task "
        f"declares on its headline. {escape(OVERALL_RULE)}</p>"
    )
    by_claim: dict[str, list] = {}
    for part in board.claim_parts:
        by_claim.setdefault(part.claim, []).append(part)
    rows = []
    for record in board.claims.to_dict(orient="records"):
        verdict = str(record["holds here?"])
        parts = by_claim.get(str(record["claim"]))
        shown = (
            "<br>".join(escape(t) for t in shown_parts(parts))
            if parts
            else escape(record["what the grid shows"])
        )
        css = {"holds": "better", "does not hold": "worse"}.get(verdict, "")
        rows.append(
            [
                Cell(escape(record["claim"])),
                Cell(escape(record["source"]), "nw"),
                Cell(shown, "long"),
                Cell(f"<b>{escape(verdict)}</b>" if css else escape(verdict), css),
            ]
        )
    header = ["claim", "source", "what the grid shows", "holds here?"]
    return title + note + table_html(header, rows, css="claims", table_id="claims-table")


def paired_section(board: Leaderboard, papers: Papers) -> str:
    """The paired comparisons against the baseline: the matrix, then every comparison."""
    title = f'<h2 id="paired">Paired comparisons against {escape(board.baseline)}</h2>'
    if not len(board.paired):
        return title + "<p>No loss shares a benchmark with the baseline.</p>"
    return (
        title + '<p class="note">Exploratory: each loss against the baseline on every '
        "benchmark, per-seed differences of the headline for the seeds both losses have "
        "(positive = better than the baseline), two-sided paired t-test from 2 paired seeds "
        f"(Wilcoxon signed-rank from {WILCOXON_MIN_PAIRS}), Holm-corrected over the "
        f"{board.family} decidable comparisons that are not claims, at α = {ALPHA}; a "
        "significant one is a lead to test again. A comparison that is a claim shows the "
        "claim's corrected p-value and verdict (the claims family).</p>"
        + paired_matrix_html(board, papers)
        + '<p class="note">Each cell: mean per-seed difference from '
        f"{escape(board.baseline)}; bold, * and colour: significantly "
        '<span class="better">better</span> or <span class="worse">worse</span> after '
        "Holm's correction in its family; <em>claim</em>: a claim (its verdict in the claims "
        "table). "
        "Benchmarks of the main protocols; the others (e.g. a learning-rate arm) are in the "
        "table below. Hover a cell for its p-values.</p>"
        + "<details><summary>Every comparison: estimate, interval, p-values, Holm p, "
        "verdict, power</summary>"
        + html_table(paired_frame(board), _verdict_class, table_id="paired-details")
        + "</details>"
    )


def _verdict_class(column: str, value: Any) -> str | None:
    """The CSS class of a verdict cell: ``better`` or ``worse`` (coloured); None otherwise."""
    if column != "verdict":
        return None
    text = str(value)
    if text.startswith("better") or text.endswith(": holds"):
        return "better"
    if text.startswith("worse") or text.endswith("does not hold"):
        return "worse"
    return None


def paired_frame(board: Leaderboard) -> pd.DataFrame:
    """The paired comparisons as text, rounded for reading, in the order estimate ->
    interval -> p-values -> corrected p -> verdict -> power."""
    paired = board.paired
    cells = paired_cells(paired, DECIMALS)  # the report's decimals
    return pd.DataFrame(
        {
            "loss": paired["loss"],
            "benchmark": paired["benchmark"],
            **{k: cells[k] for k in ("headline", "n", "per-seed diff", "mean diff", "95% CI")},
            "Wilcoxon p": cells["wilcoxon p"],
            "t-test p": cells["t-test p"],
            "Holm p": cells["holm p"],
            "family": [f or "–" for f in paired["family"]],
            "verdict": paired["verdict"],
            "80% power for; observed needs": cells["power"],
        }
    )


def paired_matrix_html(board: Leaderboard, papers: Papers) -> str:
    """Loss x main benchmark: the mean per-seed difference from the baseline, bold and
    coloured where significant in its family (green better, red worse), marked *claim* on a claim."""
    paired = board.paired
    main = paired[paired["main"].astype(bool)]
    labels = [t.label for t in board.tables if t.main and t.label in set(main["benchmark"])]
    order = [str(x) for x in board.overall["loss"] if str(x) in set(main["loss"])]
    cells = {(str(r["loss"]), str(r["benchmark"])): r for r in main.to_dict(orient="records")}
    header: list[str | Cell] = ["loss"]
    for label in labels:
        first = main[main["benchmark"] == label].iloc[0]
        header.append(
            Cell(
                f'{wrap_slashes(label)}<br><span class="rk">'
                f"{metric_header(str(first['headline']), bool(first['higher_is_better']))}</span>",
                "heat",
            )
        )
    rows = []
    for loss in order:
        row = [Cell(loss_html(loss, papers))]
        for label in labels:
            record = cells.get((loss, label))
            row.append(Cell("–", "heat") if record is None else _matrix_cell(record))
        rows.append(row)
    return table_html(header, rows, table_id="paired-matrix")


def _matrix_cell(record: dict[str, Any]) -> Cell:
    """One cell of the paired matrix."""
    verdict = str(record["verdict"])
    significant = (
        record["test"] == "t-test"
        and bool(record["family"])
        and not pd.isna(record["holm p"])
        and record["holm p"] < ALPHA
    )
    style = ""
    if significant:
        good = record["mean diff"] > 0
        style = f"background: hsl({120 if good else 0}, 62%, 78%)"
    mean = record["mean diff"]
    shown = escape("–" if pd.isna(mean) else f"{mean:+.{DECIMALS}f}")
    if significant:
        shown = f"<b>{shown} *</b>"
    if is_claim(verdict):
        shown += ' <span class="rk">claim</span>'
    title = (
        f"{verdict}; t-test p = {p_value(record['t-test p'])}, Holm p = "
        f"{p_value(record['holm p'])}, n = {record['n']}"
    )
    return Cell(shown, "heat", style, title)


def power_section(board: Leaderboard) -> str:
    """Every undecided test, claims and exploratory: what its design could detect and the
    seeds its observed effect would need (``hem-bench plan`` prints the same)."""
    from hem_bench.results.plan import plan_table, plan_text

    table = plan_table(board)
    title = '<h2 id="power">Power of the undecided verdicts</h2>'
    if not len(table):
        return title + "<p>Every test was decided.</p>"
    note = (
        '<p class="note">For each test without a verdict: the smallest effect its design '
        "detects with 80 % power at Holm's first step α/m of its family (in the metric's "
        "units at the observed spread of the per-seed differences, and in standard "
        "deviations), and how many seeds the observed effect would need for 80 % power "
        "(noncentral t; a correlation: the number of losses). <code>hem-bench plan</code> "
        "prints this table.</p>"
    )
    return title + note + html_table(plan_text(table), table_id="power-table")


def sensitivity_section(board: Leaderboard, papers: Papers) -> str:
    """The learning-rate sensitivity tables: each loss's headline (mean ± std, rank) at
    each learning rate."""
    if not board.sensitivity:
        return ""
    parts = [
        '<h2 id="sensitivity">Learning-rate sensitivity</h2>',
        '<p class="note">Protocols of one task that differ only in the learning rate, side '
        "by side: each loss's headline (mean ± std over seeds, n seeds) and its rank at that "
        "rate (1 = best). The recipe is chosen for cross-entropy; a ranking that changes with "
        "the rate depends on the recipe more than on the loss.</p>",
    ]
    for item in board.sensitivity:
        header: list[str | Cell] = ["loss"]
        for lr in item.lrs:
            head = metric_header(item.headline, item.higher_is_better)
            header.append(Cell(f"{head} at lr={escape(f'{lr:g}')}", "num"))
        rows = []
        for record in item.table.to_dict(orient="records"):
            row = [Cell(loss_html(str(record["loss"]), papers))]
            for lr in item.lrs:
                key = f"lr={lr:g}"
                n = int(record[f"{key} n"])
                text = mean_std(record[f"{key} mean"], record[f"{key} std"], n)
                rank = record[f"{key} rank"]
                text += "" if pd.isna(rank) else f" (n={n}, rank {rank:g})"
                row.append(Cell(escape(text), "num"))
            rows.append(row)
        name = f"sensitivity-{item.task}-{item.dataset}"
        parts.append(f"<h3>{escape(item.task)}/{escape(item.dataset)}</h3>")
        parts.append(table_html(header, rows, table_id=name))
    return "".join(parts)


def protocols_section(board: Leaderboard) -> str:
    """The protocols found, with the code versions of their runs; a protocol made by several
    versions is named in a caveat."""

    if not len(board.protocols):
        return ""
    shown = board.protocols_display()
    notes = [code_caveat(board)]
    return "".join(
        [
            '<h2 id="protocols">Protocols</h2>',
            '<p class="note">A benchmark is a protocol: every setting but the loss, its '
            "parameters and the seed. Runs of different protocols are never averaged, ranked "
            "or tested together; only the main protocols are ranked. Code versions: "
            "hem-bench's version and the git commit each run was made with.</p>",
            *notes,
            html_table(shown, table_id="protocols-table"),
        ]
    )


def code_caveat(board: Leaderboard) -> str:
    """A caveat where the runs come from several code versions: within a protocol (its
    differences may show a change of the code), or across protocols (the ranking combines
    them); '' otherwise."""
    from hem_bench.results.protocols import mixed_code

    if not len(board.protocols) or "code versions" not in board.protocols:
        return ""
    mixed = mixed_code(board.protocols)
    versions = sorted({v for text in board.protocols["code versions"] for v in _versions(text)})
    if mixed:
        return (
            '<p class="caveat"><b>Mixed code versions:</b> the runs of '
            f"{escape(', '.join(mixed))} were made by different versions of the code: their "
            "differences may show a change of the code as well as of the loss.</p>"
        )
    if len(versions) > 1:
        return (
            '<p class="caveat"><b>Several code versions:</b> each protocol\'s runs come from '
            f"one version, but the protocols from {len(versions)} "
            f"({escape(', '.join(versions))}; see Protocols); the ranking combines them.</p>"
        )
    return ""


def _versions(text: str) -> list[str]:
    """The versions named in a protocol's ``code versions`` text."""
    return [part.rsplit(" (", 1)[0] for part in str(text).split("; ") if part]
