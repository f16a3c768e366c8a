"""Command-line pieces shared by ``run`` and ``sweep``: ``KEY=VALUE`` arguments and the
flags that are shorthands for task options. Standard library only (``--help`` stays fast)."""

from __future__ import annotations

import argparse
from typing import Any

#: flags that set a task option: dest -> (flag, argparse keywords, help)
TASK_OPTION_FLAGS: dict[str, tuple[str, dict[str, Any], str]] = {
    "adv_train": (
        "--adv-train",
        {"choices": ("pgd", "trades")},
        "adversarial training (task adversarial): pgd (Madry et al.) or trades (Zhang et al.); "
        "same as --task-option adv_train=...",
    ),
    "buffer": (
        "--buffer",
        {"type": int, "metavar": "N"},
        "replay buffer size (task continual; 0 = naive fine-tuning); "
        "same as --task-option buffer=N",
    ),
}


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` as a pair, the key with ``-`` read as ``_``."""
    if "=" not in text or not text.split("=", 1)[0].strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE; got {text!r}")
    key, value = text.split("=", 1)
    return key.strip().replace("-", "_"), value.strip()


def add_key_value_flag(
    group: argparse._ArgumentGroup, flag: str, help: str, dest: str | None = None
) -> None:
    """A repeatable ``FLAG KEY=VALUE`` argument (``--loss-param``, ``--task-option``),
    collected as a list of pairs (under ``dest``, by default the flag's name)."""
    keywords = {"dest": dest} if dest else {}
    group.add_argument(
        flag, action="append", type=key_value, default=[], metavar="KEY=VALUE", help=help,
        **keywords,
    )  # fmt: skip


def add_task_option_flags(group: argparse._ArgumentGroup) -> None:
    for dest, (flag, keywords, text) in TASK_OPTION_FLAGS.items():
        group.add_argument(flag, dest=dest, help=text, **keywords)


def task_options_from(args: argparse.Namespace) -> dict[str, str]:
    """``--task-option`` pairs, then the shorthand flags (which win)."""
    options = dict(getattr(args, "task_options", None) or getattr(args, "task_option", None) or [])
    for dest in TASK_OPTION_FLAGS:
        value = getattr(args, dest, None)
        if value is not None:
            options[dest] = str(value)
    return options
