"""Parsers shared by the tasks' ``Options`` models: comma-separated lists, class lists and
ranges, attack budgets, corruption names and severities.

Import-light (the standard library and the suite's errors only): the ``Options`` models
use them when a configuration is resolved, before any heavy import, and the task modules
use them at run time.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hem_bench.errors import ConfigError, quote


def split_list(value: Any) -> tuple[str, ...]:
    """The non-empty, stripped items of a comma-separated text (or of a list)."""
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def parse_classes(text: Any) -> list[int] | None:
    """Class indices from ``"0,1,2"`` or ranges ``"0-4"``; ``None`` for ``""`` (all)."""
    if isinstance(text, (list, tuple)):
        text = ",".join(str(v) for v in text)
    text = str(text).strip()
    if not text:
        return None
    classes: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                low, high = (int(v) for v in part.split("-", 1))
                classes.extend(range(low, high + 1))
            elif part:
                classes.append(int(part))
    except ValueError:
        raise ConfigError(f"classes must be indices or ranges like '0-4,7'; got {text!r}") from None
    return classes


#: the largest attack budget: images lie in [0, 1], so an L-infinity budget of 1 reaches
#: every image; an L2 budget of 1000 exceeds the diameter of any image of the suite's data
#: sets (sqrt(3 * 224 * 224) = 388)
EPS_MAX = {"linf": 1.0, "l2": 1000.0}


def parse_eps(text: Any) -> float:
    """A budget from ``"0.1"`` or ``"8/255"``: a finite number >= 0 (its upper limit,
    :data:`EPS_MAX`, depends on the norm and is checked by the task's options)."""
    try:
        value = float(Fraction(str(text).strip()))
    except (ValueError, ZeroDivisionError, OverflowError):
        raise ConfigError(
            f"attack budget {quote(text)} must be a number such as 0.1 or 8/255, and finite"
        ) from None
    if value < 0:
        raise ConfigError(f"attack budget {quote(text)} must be >= 0")
    return value


def parse_corruption_names(text: Any) -> tuple[str, ...]:
    """Corruption names from ``all``, ``none`` (or empty) or a comma-separated list."""
    from hem_bench.datamodules.corruptions import available_corruptions

    names = available_corruptions()
    if isinstance(text, (list, tuple)):
        text = ",".join(str(v) for v in text)
    text = str(text).strip()
    if text in ("", "none"):
        return ()
    chosen = names if text == "all" else list(split_list(text))
    for name in chosen:
        if name not in names:
            raise ConfigError(f"unknown corruption {name!r}; available: {', '.join(names)}")
    return tuple(chosen)


def parse_severities(text: Any) -> tuple[int, ...]:
    """Corruption severities (integers 1..5) from a comma-separated text (or a list)."""
    from hem_bench.datamodules.corruptions import check_severity

    levels = []
    for part in split_list(text) or ("",):
        try:
            levels.append(check_severity(int(part)))
        except ValueError:
            raise ConfigError(f"severities must be integers 1..5; got {text!r}") from None
    return tuple(levels)
