"""The leaderboard as one Markdown document (``leaderboard.md``), and the claims table
written into a README between its markers.

Every string from records goes through :func:`~hem_bench.results.formats.markdown_text`.
"""

from __future__ import annotations

from pathlib import Path

from hem_bench.atomic import write_atomic
from hem_bench.results.claims import EQUIVALENCE_MARGIN
from hem_bench.results.formats import markdown_table, markdown_text
from hem_bench.results.leaderboard import ANALYSIS_NOTE
from hem_bench.results.stats import ALPHA, BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED, WILCOXON_MIN_PAIRS


def markdown_document(board, header: str) -> str:
    """Every table of the leaderboard as one Markdown document; every string from records
    goes through :func:`~hem_bench.results.formats.markdown_text`."""
    parts = [
        "# hem-bench leaderboard\n",
        markdown_text(header) + "\n",
        *protocols_section(board),
        "## Overall: generality\n",
        "Mean headline per benchmark, the rank of each loss there (1 = best; ties share the "
        "average rank) and the mean rank over benchmarks, sorted by mean rank. Only the main "
        "protocol of each task and data set is ranked.\n",
        markdown_table(board.overall_display()),
        *ranks_section(board),
        *paired_section(board),
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
        "settings in which it differs, and so are its losses (`ce(head=cosine)`).\n",
        markdown_table(board.protocols_display()),
    ]


def ranks_section(board) -> list[str]:
    """The generality ranking with its bootstrap uncertainty."""
    if not len(board.ranks):
        return []
    return [
        "### How sure is the ranking\n",
        f"A bootstrap over seeds ({BOOTSTRAP_REPLICATES} replicates, generator seed "
        f"{BOOTSTRAP_SEED}): each replicate redraws every benchmark's seeds with replacement, "
        "ranks the losses on the redrawn means and averages the ranks. 95% interval of each "
        "loss's mean rank, and how often it ranks first; overlapping intervals mean the "
        "ranks are not clearly different.\n",
        markdown_table(board.ranks_display()),
    ]


def paired_section(board) -> list[str]:
    """The paired comparisons with the baseline."""
    return [
        f"## Paired comparisons against {markdown_text(board.baseline)}\n",
        "Per-seed headline differences (positive = better than the baseline), their mean "
        "(the effect size) and its 95% t-interval; two-sided paired t-test from 2 seeds, "
        f"Wilcoxon signed-rank from {WILCOXON_MIN_PAIRS}. The t-test p-values are "
        f"Holm-corrected over the family of all {board.family} comparisons of this table "
        f"(every benchmark and loss); verdicts from the corrected p at {ALPHA}.\n",
        markdown_table(board.paired_display())
        if len(board.paired)
        else "No loss shares a benchmark with the baseline.\n",
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
    if not len(board.claims):
        return []
    family = board.claims.attrs.get("family", 0)
    return [
        f"{level} The papers' claims, re-tested\n",
        "Each claim compares two losses on one task's headline in its main protocol "
        "(differences a − b, positive = a better, with their 95% t-interval over seeds). "
        f"A verdict comes from the paired t-tests Holm-corrected over the family of all "
        f'{family} tests of this table, at {ALPHA}: "better" holds when the corrected p '
        'is below it in the claimed direction and does not hold in the other; "as good '
        'as" holds when the difference is not significant and its interval lies within '
        f"±{EQUIVALENCE_MARGIN}; anything else is inconclusive. Kornblith et al.'s claims "
        "use `hem-bench analyze` results (Spearman correlations across losses; CKA between "
        "losses at the first and last layers).\n",
        markdown_table(board.claims),
    ]


#: the markers between which ``--format md`` writes the claims table into a README.md
#: that already holds them in the output folder
CLAIMS_START = "<!-- claims: made by hem-bench leaderboard -->"


CLAIMS_END = "<!-- end of claims -->"


def update_readme(path: Path, board) -> bool:
    """Replace the text between :data:`CLAIMS_START` and :data:`CLAIMS_END` in ``path``
    with the claims table; False (nothing written) when the file or a marker is absent."""
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    start, end = text.find(CLAIMS_START), text.find(CLAIMS_END)
    if start < 0 or end < start:
        return False
    body = "\n".join(claims_section(board, level="##"))
    new = text[: start + len(CLAIMS_START)] + "\n\n" + body + "\n" + text[end:]
    if new != text:
        write_atomic(path, new)
    return True
