"""The command line's flags for run settings, made from the settings' declarations on the
configuration model (:mod:`hem_bench.settings`): one flag per setting that has one, in its
help group, with its help text, its type (``int``, ``float``, a ``Literal``'s choices, a
yes/no switch: ``--name`` for a setting off by default, ``--no-name`` for one on by
default), repeatable where the setting is a list, ``KEY=VALUE`` where it is a mapping. A
setting added to :class:`~hem_bench.config.RunConfig` (or a subclass passed here) is a flag
of ``hem-bench run`` and of ``hem-bench sweep`` without further code.

Import-light: pydantic (through the configuration model), never torch or Lightning.
"""

from __future__ import annotations

import argparse
from typing import Any

from hem_bench.cli._options import add_key_value_flag


def _config_class(config_class: type | None) -> type:
    if config_class is not None:
        return config_class
    from hem_bench.config import RunConfig

    return RunConfig


def flag_settings(config_class: type | None = None, *, axes: bool = True) -> dict[str, Any]:
    """``{name: Setting}`` of the settings with a flag (``axes=False``: without the axes of a
    sweep's grid, which the sweep names in the plural)."""
    from hem_bench.settings import settings_of

    return {
        name: described
        for name, described in settings_of(_config_class(config_class)).items()
        if described.flag is not None and (axes or not described.axis)
    }


def add_setting_flags(
    groups: dict[str, argparse._ArgumentGroup],
    config_class: type | None = None,
    *,
    axes: bool = True,
    skip: tuple[str, ...] = (),
    helps: dict[str, str] | None = None,
) -> None:
    """Add a flag for every setting of ``config_class`` that has one to the argument group
    of its :attr:`~hem_bench.settings.Setting.group` (``groups``: group key -> argparse
    group; a key missing there falls back to the last group). ``skip``: settings the caller
    offers otherwise; ``helps``: help texts that differ from the declared ones."""
    from hem_bench.settings import choices_of, flag_of, value_type

    cls = _config_class(config_class)
    helps = helps or {}
    fallback = list(groups.values())[-1]
    for name, described in flag_settings(cls, axes=axes).items():
        if name in skip:
            continue
        group = groups.get(described.group, fallback)
        flag = flag_of(cls, name)
        text = helps.get(name, described.help)
        field = cls.model_fields[name]
        kind = value_type(cls, name)
        if kind is dict:
            add_key_value_flag(group, flag, text, dest=name)
        elif kind is list:
            group.add_argument(
                flag, dest=name, action="append", default=None, metavar=described.metavar,
                help=text,
            )  # fmt: skip
        elif kind is bool:
            on_by_default = field.default is True and flag.startswith("--no-")
            group.add_argument(
                flag,
                dest=name,
                action="store_false" if on_by_default else "store_true",
                default=None,
                help=text,
            )
        else:
            choices = choices_of(field.annotation)
            group.add_argument(
                flag,
                dest=name,
                type=kind if kind in (int, float) else None,
                choices=choices,
                metavar=described.metavar,
                help=text,
            )


def settings_from(
    args: argparse.Namespace, config_class: type | None = None, *, axes: bool = True
) -> dict[str, Any]:
    """The settings the flags gave (a flag not given gives nothing): a ``KEY=VALUE`` flag's
    pairs as a mapping, a repeatable flag's values as a list."""
    from hem_bench.settings import value_type

    cls = _config_class(config_class)
    values: dict[str, Any] = {}
    for name in flag_settings(cls, axes=axes):
        value = getattr(args, name, None)
        if value is None or (isinstance(value, list) and not value):
            continue
        kind = value_type(cls, name)
        values[name] = dict(value) if kind is dict else list(value) if kind is list else value
    return values
