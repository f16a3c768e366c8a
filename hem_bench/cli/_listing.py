"""How the listing commands (``losses``, ``tasks``, ``datasets``, ``models``) print for a
terminal: one entry per line, fitted to the terminal's width (``COLUMNS`` when set) without
splitting a word, and a detail page for one name (``hem-bench losses NAME``). Standard
library only: ``--help`` stays light. ``--format markdown|json`` still gives every field
(:mod:`hem_bench.cli._output`).
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import textwrap
from collections.abc import Iterable, Sequence

from hem_bench.errors import unknown_name

#: width used when neither COLUMNS nor a terminal says (piped output)
DEFAULT_WIDTH = 100
MIN_WIDTH = 40
ELLIPSIS = "…"


def width() -> int:
    """The terminal's width: ``COLUMNS`` if set, else the terminal's, else 100."""
    return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)


def fit(text: str, room: int) -> str:
    """``text`` on one line of at most ``room`` characters, cut at a word boundary (with an
    ellipsis) rather than inside a word."""
    text = " ".join(str(text).split())
    if len(text) <= room:
        return text
    if room <= 1:
        return ""
    cut = text[: room - 1]
    if " " in cut and text[room - 1] != " ":
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:(") + ELLIPSIS


def add_name_argument(parser, what: str, example: str) -> None:
    parser.add_argument(
        "name",
        nargs="?",
        metavar="NAME|PATTERN",
        help=f"a {what} name for its details, or a shell pattern to filter the list "
        f"(e.g. '{example}'; quote it)",
    )


def is_pattern(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def select(names: Sequence[str], pattern: str | None, what: str) -> list[str]:
    """``names`` matching the shell ``pattern`` (all when None). An exact name that is not
    in ``names`` and has no wildcard is an unknown name (did-you-mean)."""
    if not pattern:
        return list(names)
    if not is_pattern(pattern) and pattern not in names:
        raise unknown_name(what, pattern, names)
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def print_entries(
    rows: Sequence[Sequence[str]],
    header: Sequence[str],
    title: str = "",
    footer: str = "",
) -> None:
    """One line per row: every column but the last padded to its widest cell, the last
    (free text) cut to the terminal's width at a word boundary."""
    total = width()
    lines = [list(header), *[[str(c) for c in row] for row in rows]]
    fixed = len(header) - 1
    widths = [max(len(line[i]) for line in lines) for i in range(fixed)]
    if title:
        print(fit(title, total))
    for line in lines:
        head = "  ".join(cell.ljust(w) for cell, w in zip(line[:fixed], widths))
        if len(head) + 2 >= total:  # the fixed columns alone are too wide: drop the text
            print(fit(head.rstrip(), total))
            continue
        room = total - len(head) - 2
        print((head + "  " + fit(line[fixed], room)).rstrip())
    if footer:
        print(textwrap.fill(footer, total, break_long_words=False, break_on_hyphens=False))


def print_details(title: str, fields: Iterable[tuple[str, str]], text: str = "") -> None:
    """A detail page: ``label: value`` lines (wrapped without splitting words, indented
    under the value), then free text (e.g. a docstring) wrapped to the width."""
    total = width()
    print(textwrap.fill(title, total, subsequent_indent="  ", break_long_words=False))
    pairs = [(label, str(value)) for label, value in fields if value not in ("", None)]
    pad = max((len(label) for label, _ in pairs), default=0) + 2
    for label, value in pairs:
        lines = value.splitlines() or [""]
        first = True
        for line in lines:
            wrapped = textwrap.wrap(
                line,
                width=max(20, total - pad),
                break_long_words=False,
                break_on_hyphens=False,
            ) or [""]
            for piece in wrapped:
                lead = (label + ":").ljust(pad) if first else " " * pad
                print((lead + piece).rstrip())
                first = False
    if text:
        text = re.sub(r":(?:math|class|func|meth|attr|mod|data):`~?([^`]*)`", r"\1", text)
        text = text.replace("``", "")
        print()
        for line in text.strip().splitlines():  # as written, long lines wrapped at words
            indent = line[: len(line) - len(line.lstrip())]
            pieces = textwrap.wrap(
                line,
                width=total,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            print("\n".join(pieces) if pieces else "")


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    """A small aligned table as lines (for option lists in a detail page): every column but
    the last padded, the last wrapped under itself without splitting words."""
    total = width()
    lines = [list(header), *[[str(c) for c in row] for row in rows]]
    fixed = len(header) - 1
    widths = [max(len(line[i]) for line in lines) for i in range(fixed)]
    out = []
    for line in lines:
        head = "  ".join(cell.ljust(w) for cell, w in zip(line[:fixed], widths)) + "  "
        room = max(20, total - len(head))
        pieces = textwrap.wrap(
            line[fixed], width=room, break_long_words=False, break_on_hyphens=False
        ) or [""]
        out.append((head + pieces[0]).rstrip())
        out += [(" " * len(head) + piece).rstrip() for piece in pieces[1:]]
    return out
