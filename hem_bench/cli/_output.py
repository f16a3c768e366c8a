"""Tables for the terminal (rich), Markdown and JSON: how every listing command prints."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

FORMATS = ("table", "markdown", "json")


def print_rows(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str, title: str = ""
) -> None:
    """Print ``rows`` (dicts keyed by column) as a terminal table, Markdown or JSON."""
    if fmt == "json":
        json.dump(list(rows), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    if fmt == "markdown":
        print("| " + " | ".join(columns) + " |")
        print("|" + "|".join("---" for _ in columns) + "|")
        for line in cells:
            print("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for line in cells:
        table.add_row(*line, end_section=False)
    console = Console(soft_wrap=False)
    if not console.is_terminal:  # piped or captured: do not squeeze into 80 columns
        console = Console(soft_wrap=False, width=max(console.width, 160))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)
