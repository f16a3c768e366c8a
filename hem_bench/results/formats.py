"""The leaderboard's numbers as text: rounded numbers, ``mean ± std``, intervals, Markdown
and plain-text tables, JSON-ready values, and names made safe for files.

Every string that comes from records goes through :func:`markdown_text` (Markdown) or is
made printable (:func:`text_table`), so a record cannot inject markup.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

#: decimals shown in the tables
DECIMALS = 4


def slug(text: str, limit: int = 120) -> str:
    """``text`` made safe as a file name: runs of other characters become ``_``; a name
    longer than ``limit`` (a protocol that differs in many settings) is cut and ends with a
    hash of the whole text, so that it stays unique and within file systems' 255 bytes."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"
    if len(cleaned) <= limit:
        return cleaned
    import hashlib

    return cleaned[: limit - 11] + "-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def format_number(value: float) -> str:
    """A number with :data:`DECIMALS` decimals; ``–`` for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{DECIMALS}f}"


def format_interval(low: float, high: float) -> str:
    """``[low, high]``; ``–`` when undefined (fewer than two seeds)."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "–"
    return f"[{format_number(low)}, {format_number(high)}]"


def format_mean_std(mean: float, std: float, n: int, seeds: int | None = None, fmt=None) -> str:
    """``mean ± std`` (the std left out for one seed); ``(n=k)`` appended when the metric
    has fewer values than the loss has seeds; ``–`` when there is no value."""
    if n == 0 or math.isnan(mean):
        return "–"
    fmt = fmt or format_number
    text = fmt(mean)
    if n > 1 and not math.isnan(std):
        text += f" ± {fmt(std)}"
    if seeds is not None and n < seeds:
        text += f" (n={n})"
    return text


def markdown_text(value: Any) -> str:
    """``value`` as Markdown text that is read as nothing else: ``<``, ``>``, ``&`` written
    as entities (no HTML), ``|`` escaped (no table cell break), newlines as spaces; NaN as
    ``–``."""
    import html

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = html.escape(str(value), quote=False).replace("|", "\\|")
    return text.replace("\r", " ").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame``, every cell through
    :func:`markdown_text`."""
    cell = markdown_text
    columns = [cell(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def text_table(frame: pd.DataFrame) -> str:
    """``frame`` as plain fixed-width text for the terminal (no markup is interpreted)."""

    def cell(value: Any) -> str:
        """One cell as printable text: control characters (terminal escapes) become ``?``."""
        return "".join(c if c.isprintable() else "?" for c in str(value))

    cells = [[cell(c) for c in frame.columns]] + [
        [cell(v) for v in row] for row in frame.itertuples(index=False)
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def json_value(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(value, (float, np.floating)):  # JSON has no NaN or infinity
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-ready dicts (NaN and infinities -> None)."""
    return [
        {str(k): json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]
