"""Errors caused by what a user asked for.

The CLI turns every :class:`HemBenchError` into a one-line message and exit code 2, never a
traceback. The concrete classes also derive from the built-in exception a Python caller
would expect (``ValueError``, ``KeyError``, ``FileNotFoundError``), so library users can
catch those.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HemBenchError(Exception):
    """Base class of errors caused by user input (a bad name, value, file or folder)."""


class ConfigError(HemBenchError, ValueError):
    """An impossible or malformed setting."""


class UnknownNameError(HemBenchError, KeyError):
    """A name that no registry holds. ``str()`` gives the message, not its repr."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DataNotFoundError(HemBenchError, FileNotFoundError):
    """A data set that is not where it was expected."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


#: how many characters of a user's value a message quotes (a 6 MB value is not echoed back)
QUOTE_LIMIT = 200


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` cut to about ``limit`` characters, saying how long the value was: a
    message names the bad value without echoing megabytes of it back."""
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, (str, bytes)):
        return f"{text[:limit]}... ({len(value)} characters)"
    if isinstance(value, (list, tuple, dict, set)):
        return f"{text[:limit]}... ({len(value)} items)"
    return f"{text[:limit]}..."


def one_line(text: str, limit: int = 2000) -> str:
    """``text`` as one line (line breaks become spaces) of at most ``limit`` characters:
    the form of every error the command line prints."""
    flat = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def suggest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """A ``did you mean ...?`` fragment for ``name`` among ``choices`` ('' if none is close)."""
    if not isinstance(name, str) or len(name) > QUOTE_LIMIT:
        return ""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """The error for an unknown ``kind`` called ``name``, listing what is accepted."""
    choices = sorted(choices)
    return UnknownNameError(
        f"unknown {kind} {quote(name)}.{suggest(name, choices)} Available: {', '.join(choices)}."
    )
