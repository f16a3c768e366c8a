"""What limits a benchmark's results, said where they are shown: an embedded (toy) data set,
training shorter than the task's recipe, few seeds. The report puts one line at its top
(:func:`general_caveat`) and a box under each benchmark's title (:func:`caveat_html`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hem_bench.results.html import escape
from hem_bench.results.leaderboard import GroupTable, Leaderboard
from hem_bench.results.protocols import benchmark_rows
from hem_bench.results.store import Results


def _record_epochs(paths: Iterable[Any]) -> list[int]:
    """The ``config.max_epochs`` of the records at ``paths`` (those that have one)."""
    from hem_bench.results.record import InvalidRecord, read_record

    out = []
    for path in paths:
        try:
            out.append(int((read_record(path).config or {})["max_epochs"]))
        except (InvalidRecord, KeyError, TypeError, ValueError):
            continue
    return out


@dataclass
class Caveat:
    """What limits one benchmark's results: an embedded (small) data set, training shorter
    than the task's recipe (``epochs`` run, low and high, of ``recipe_epochs``), few seeds."""

    small_data: bool
    epochs: tuple[int, int] | None
    recipe_epochs: int | None
    seeds: int

    def notes(self, dataset: str) -> list[str]:
        """The caveat in words; empty when nothing limits the results."""
        out = []
        if self.small_data:
            out.append(f"small data ({dataset}: embedded 8×8 digit images)")
        if self.epochs:
            out.append(f"few epochs ({_span(*self.epochs)} of the recipe's {self.recipe_epochs})")
        if out and self.seeds < 5:
            out.append(f"{self.seeds} seed{'s' if self.seeds != 1 else ''}")
        return out


def _span(low: int, high: int) -> str:
    """``low`` or ``low–high``."""
    return str(low) if low == high else f"{low}–{high}"


def caveats(board: Leaderboard, results: Results) -> dict[str, Caveat]:
    """Per benchmark label with a caveat: whether its data set is embedded in the package
    (a toy), and whether its runs trained fewer epochs than the task's recipe for that data
    set (from each record's ``config.max_epochs``)."""
    out: dict[str, Caveat] = {}
    for table in board.tables:
        small = False
        try:
            from hem_bench.datamodules.base import dataset_info

            small = bool(dataset_info(table.dataset).embedded)
        except Exception:  # not a data set this installation knows
            pass
        try:
            from hem_bench.tasks import get_task

            recipe_epochs = get_task(table.task).recipe(table.dataset).max_epochs
        except Exception:
            recipe_epochs = None
        rows = benchmark_rows(results.frame, (table.task, table.dataset, table.model))
        epochs = _record_epochs(rows["path"]) if "path" in rows else []
        short = None
        if recipe_epochs and epochs and max(epochs) < recipe_epochs:
            short = (min(epochs), max(epochs))
        seeds = int(table.seeds.max()) if len(table.seeds) else 0
        if small or short:
            out[table.label] = Caveat(small, short, recipe_epochs, seeds)
    return out


def general_caveat(notes: dict[str, Caveat], tables: list[GroupTable]) -> str:
    """One line for the top of the report: which caveats apply to how many benchmarks."""
    if not notes:
        return ""
    parts = []
    small = sorted({t.dataset for t in tables if t.label in notes and notes[t.label].small_data})
    if small:
        parts.append(f"small data ({', '.join(small)}: embedded 8×8 digit images)")
    short = [c for c in notes.values() if c.epochs]
    if short:
        low = min(c.epochs[0] for c in short)
        high = max(c.epochs[1] for c in short)
        recipes = [c.recipe_epochs for c in short if c.recipe_epochs]
        parts.append(
            f"few epochs ({_span(low, high)} where the recipes say {_span(min(recipes), max(recipes))})"
        )
    seeds = sorted({c.seeds for c in notes.values()})
    parts.append(f"{_span(seeds[0], seeds[-1])} seeds")
    return (
        f'<p class="caveat"><b>Read with care</b> ({len(notes)} of {len(tables)} benchmarks): '
        f"{escape('; '.join(parts))}. A demonstration at toy scale, not a verdict on the "
        "losses.</p>"
    )


def caveat_html(notes: list[str], prefix: str = "Caveat") -> str:
    """A caveat box (empty when there is nothing to say)."""
    if not notes:
        return ""
    return f'<p class="caveat"><b>{escape(prefix)}:</b> {escape("; ".join(notes))}.</p>'
