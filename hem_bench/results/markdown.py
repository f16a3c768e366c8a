"""The leaderboard as one Markdown document (``leaderboard.md``), and the claims table and
the findings (:mod:`hem_bench.results.findings`) written into a README between their
markers.

Every string from records goes through :func:`~hem_bench.results.formats.markdown_text`.
"""

from __future__ import annotations

from pathlib import Path

from hem_bench.atomic import write_atomic
from hem_bench.results.formats import markdown_table, markdown_text
from hem_bench.results.leaderboard import ANALYSIS_NOTE
from hem_bench.results.stats import ALPHA, BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED, WILCOXON_MIN_PAIRS


def markdown_document(board, header: str) -> str:
    """Every table of the leaderboard as one Markdown document; every string from records
    goes through :func:`~hem_bench.results.formats.markdown_text`."""
    parts = [
        "# hem-bench leaderboard\n",
        markdown_text(header) + "\n",
        *findings_section(board),
        *protocols_section(board),
        "## Overall: generality\n",
        "Mean headline per benchmark, the rank of each loss there (1 = best; ties share the "
        "average rank) and the mean rank over benchmarks, sorted by mean rank. Only the main "
        "protocol of each task and data set is ranked.\n",
        markdown_table(board.overall_display()),
        *ranks_section(board),
        *paired_section(board),
        *power_section(board),
    ]
    for table in board.tables:
        direction = "higher" if table.higher_is_better else "lower"
        parts.append(f"## {markdown_text(table.label)}\n")
        parts.append(
            f"Model {markdown_text(table.model)}; headline {markdown_text(table.headline)} "
            f"({direction} is better); mean ± std over n seeds, and the 95% t-interval of "
            "the headline's mean.\n"
        )
        parts.append(markdown_table(table.display()))
    parts += sensitivity_section(board)
    if board.analysis:
        parts.append("## Representation analysis\n")
        parts.append(ANALYSIS_NOTE + "\n")
        for table in board.analysis:
            parts.append(f"### {markdown_text(table.label)}\n")
            parts.append(f"Model {markdown_text(table.model)}; mean ± std over n seeds.\n")
            parts.append(markdown_table(table.display()))
    parts += claims_section(board)
    return "\n".join(parts)


def protocols_section(board) -> list[str]:
    """The protocols found: one row each, with the settings that distinguish it."""
    if not len(board.protocols):
        return []
    return [
        "## Protocols\n",
        "A benchmark is a protocol: every setting but the loss, its parameters and the seed "
        "(model, head, epochs, learning rate, batch size, task options, ...). Runs of "
        "different protocols are never averaged, ranked or tested together. The main "
        "protocol of a task and data set keeps its plain name; another is named by the "
        "settings in which it differs, and so are its losses (`ce(head=cosine)`). Code "
        "versions: hem-bench's version and the git commit each protocol's runs were made "
        "with; a protocol made by several is listed below.\n",
        markdown_table(board.protocols_display()),
        *_mixed_code(board),
    ]


def _mixed_code(board) -> list[str]:
    """The protocols whose runs come from several code versions, in a sentence."""
    from hem_bench.results.protocols import mixed_code

    mixed = mixed_code(board.protocols)
    if not mixed:
        return []
    return [
        f"**Mixed code versions:** the runs of {markdown_text(', '.join(mixed))} were made by "
        "different versions of the code: their differences may show a change of the code as "
        "well as of the loss.\n"
    ]


def ranks_section(board) -> list[str]:
    """The generality ranking with its bootstrap uncertainty."""
    if not len(board.ranks):
        return []
    return [
        "### How sure is the ranking\n",
        f"A bootstrap over benchmarks and seeds ({BOOTSTRAP_REPLICATES} replicates, generator "
        f"seed {BOOTSTRAP_SEED}): each replicate redraws the benchmarks with replacement and, "
        "within each drawn benchmark, its seeds, ranks the losses on the redrawn means and "
        "averages the ranks. 95% interval of each loss's mean rank, and how often it ranks "
        "first: how far one loss's standing could move with other benchmarks and seeds like "
        "these. It is not a test between two losses (two intervals that do not overlap are "
        "not a corrected comparison): the Nemenyi critical difference of the report is.\n",
        markdown_table(board.ranks_display()),
    ]


def paired_section(board) -> list[str]:
    """The paired comparisons with the baseline."""
    return [
        f"## Paired comparisons against {markdown_text(board.baseline)}\n",
        "Exploratory. Per-seed headline differences (positive = better than the baseline), "
        "their mean (the effect size) and its 95% t-interval; Wilcoxon signed-rank from "
        f"{WILCOXON_MIN_PAIRS} seeds and the two-sided paired t-test from 2. The t-test "
        f"p-values are Holm-corrected over the family of the {board.family} decidable "
        "comparisons of this table that are not claims (every benchmark and loss); verdicts "
        f"from the corrected p at {ALPHA}; a significant one is a lead to test again. A "
        "comparison that is a claim shows the claim's verdict and Holm p from the claims' "
        "family; one that cannot reach significance at its number of seeds is descriptive. "
        "An undecided comparison states the effect it could detect with 80% power and the "
        "seeds its observed effect would need.\n",
        markdown_table(board.paired_display())
        if len(board.paired)
        else "No loss shares a benchmark with the baseline.\n",
    ]


def power_section(board) -> list[str]:
    """Every undecided test with what its design could detect (``hem-bench plan``)."""
    from hem_bench.results.plan import plan_table, plan_text

    table = plan_table(board)
    if not len(table):
        return []
    shown = plan_text(table)
    return [
        "## Power of the undecided verdicts\n",
        "For each test without a verdict: the smallest effect its design detects with 80% "
        "power at Holm's first step α/m of its family (in the metric's units at the observed "
        "spread, and in standard deviations of the per-seed differences), and the seeds the "
        "observed effect would need (noncentral t; for a correlation, losses and |ρ|). "
        "`hem-bench plan` prints this table.\n",
        markdown_table(shown),
    ]


def sensitivity_section(board) -> list[str]:
    """The learning-rate sensitivity tables."""
    if not board.sensitivity:
        return []
    parts = [
        "## Learning-rate sensitivity\n",
        "Protocols of one task that differ only in the learning rate, side by side: each "
        "loss's headline (mean ± std over seeds, rank among the losses at that rate). The "
        "recipe is chosen for cross-entropy; a ranking that changes with the rate depends "
        "on the recipe more than on the loss.\n",
    ]
    for item in board.sensitivity:
        parts.append(f"### {markdown_text(item.task)}/{markdown_text(item.dataset)}\n")
        parts.append(markdown_table(item.display()))
    return parts


def claims_section(board, level: str = "##") -> list[str]:
    """The papers' claims, re-tested: claim | source | what the grid shows | verdict."""
    from hem_bench.results.claims import OVERALL_RULE
    from hem_bench.results.sections import POLICY

    if not len(board.claims):
        return []
    family = board.claims.attrs.get("family", board.claims_family)
    return [
        f"{level} The papers' claims, re-tested\n",
        f"{POLICY} The claims family holds {family} tests, Holm-corrected at {ALPHA}. Each "
        "claim compares two losses on one task's headline in its main protocol (differences "
        'a − b, positive = a better, with their 95% t-interval over seeds): "better" holds '
        "when the corrected p is below α in the claimed direction and does not hold in the "
        'other; "as good as" is an equivalence test with the margin the task declares on its '
        "headline (within the margin: holds; beyond it: does not hold; each decision at α/2, "
        f"so the 1 − α interval decides). {OVERALL_RULE} Kornblith et al.'s claims use "
        "`hem-bench analyze` results: Spearman correlations across losses (exact p; the unit "
        "is the loss) and CKA with the seed as the unit.\n",
        markdown_table(board.claims),
    ]


def findings_section(board) -> list[str]:
    """What the records show, generated (:func:`hem_bench.results.findings.findings`)."""
    from hem_bench.results.findings import findings

    lines = [f"- {markdown_text(line)}" for line in findings(board)]
    return ["## What the records show\n", "\n".join(lines) + "\n"] if lines else []


#: the markers between which ``--format md`` writes the claims table into a README.md
#: that already holds them in the output folder
CLAIMS_START = "<!-- claims: made by hem-bench leaderboard -->"
CLAIMS_END = "<!-- end of claims -->"
#: the markers of the generated findings (:func:`findings_section`)
FINDINGS_START = "<!-- findings: made by hem-bench leaderboard -->"
FINDINGS_END = "<!-- end of findings -->"


def update_readme(path: Path, board) -> bool:
    """Replace the text between :data:`CLAIMS_START` and :data:`CLAIMS_END` in ``path``
    with the claims table, and between :data:`FINDINGS_START` and :data:`FINDINGS_END` with
    the findings; False (nothing written) when the file or every marker is absent."""
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    new, found = text, False
    for start_marker, end_marker, body in (
        (CLAIMS_START, CLAIMS_END, claims_section(board, level="##")),
        (FINDINGS_START, FINDINGS_END, findings_section(board)[1:]),
    ):
        start, end = new.find(start_marker), new.find(end_marker)
        if start < 0 or end < start:
            continue
        found = True
        new = new[: start + len(start_marker)] + "\n\n" + "\n".join(body) + "\n" + new[end:]
    if not found:
        return False
    if new != text:
        write_atomic(path, new)
    return True
