"""The loss registry: names are the interface (in the style of timm's model registry).

``register_loss(name, info=...)`` decorates a loss class; ``get_loss(name, **params)``
builds one; ``available_losses()`` and ``loss_info(name)`` list and describe them.
Installed packages add losses through the entry-point group ``hem_bench.losses``; they are
loaded the first time the registry is consulted.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
import warnings
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, TypeVar

from torch import nn

from hem_bench.errors import ConfigError, suggest, unknown_name
from hem_bench.losses.info import LossInfo, Paper

ENTRY_POINT_GROUP = "hem_bench.losses"
#: constructor arguments every loss takes, not listed among its parameters
COMMON_ARGS = ("reduction", "ignore_index", "class_counts")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")

_LOSSES: dict[str, Callable[..., nn.Module]] = {}
_INFOS: dict[str, LossInfo] = {}
_entry_points_loaded = False

T = TypeVar("T")


class PluginWarning(UserWarning):
    """A loss plugin could not be loaded; the other losses keep working."""


def _constructor_signature(factory: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(factory.__init__ if inspect.isclass(factory) else factory)


def _signature_params(factory: Callable[..., Any]) -> tuple[dict[str, Any], dict[str, type]]:
    """Parameters (with defaults and types) of a loss constructor, minus the common ones."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    signature = _constructor_signature(factory)
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolved annotations in a plugin: fall back to the defaults' types
        hints = {}
    accepted = signature.parameters
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    missing = [a for a in ("reduction", "ignore_index") if a not in accepted]
    if missing and not has_var_kw:
        raise TypeError(
            f"loss {factory!r} must accept {' and '.join(missing)} "
            "(subclass hem_bench.losses.ClassificationLoss to get both)"
        )
    params: dict[str, Any] = {}
    types: dict[str, type] = {}
    for name, p in signature.parameters.items():
        if name in ("self", *COMMON_ARGS) or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is inspect.Parameter.empty:
            raise TypeError(
                f"loss parameter {name!r} of {factory!r} needs a default "
                "(only class_counts may be required)"
            )
        params[name] = p.default
        hint = hints.get(name)
        optional = [a for a in typing.get_args(hint) if a is not type(None)]
        if hint in (bool, int, float, str):
            types[name] = hint
        elif len(optional) == 1 and optional[0] in (bool, int, float, str):  # float | None
            types[name] = optional[0]
        elif p.default is not None:
            types[name] = type(p.default)
        else:
            types[name] = str
    return params, types


def register_loss(
    name: str, info: LossInfo | None = None, *, override: bool = False
) -> Callable[[T], T]:
    """Class decorator that registers a loss under ``name``.

    The loss is called as ``loss(logits, target)`` and takes ``reduction`` and
    ``ignore_index`` (subclass :class:`hem_bench.losses.ClassificationLoss` to get both).
    ``info`` describes it; its parameters and defaults are read from the constructor.
    A name already taken raises ``ValueError`` unless ``override=True``.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"loss name {name!r} must be lowercase letters, digits and '-', '_', '.', '+'"
        )

    def decorator(factory: T) -> T:
        if not callable(factory):
            raise TypeError(f"register_loss expects a class or factory; got {factory!r}")
        if name in _LOSSES and not override and _LOSSES[name] is not factory:
            raise ValueError(
                f"a loss named {name!r} is already registered ({_LOSSES[name]!r}); "
                "pass override=True to replace it"
            )
        base = info or getattr(factory, "info", None)
        if base is None:
            base = LossInfo(
                summary=(inspect.getdoc(factory) or name).splitlines()[0],
                paper=Paper(title="", authors="", venue="", year=0, url=""),
            )
        params, types = _signature_params(factory)
        takes_counts = "class_counts" in _constructor_signature(factory).parameters
        if base.needs_class_counts and not takes_counts:
            raise TypeError(f"loss {name!r} needs class counts but takes no class_counts argument")
        needs_counts = base.needs_class_counts or (
            takes_counts
            and _constructor_signature(factory).parameters["class_counts"].default
            is inspect.Parameter.empty
        )
        full = dataclasses.replace(
            base, name=name, params=params, param_types=types, needs_class_counts=needs_counts
        )
        _LOSSES[name] = factory
        _INFOS[name] = full
        if inspect.isclass(factory) and (info is not None or getattr(factory, "info", None)):
            factory.info = full
        return factory

    return decorator


def _load_entry_points() -> None:
    """Import the losses that installed packages declare in the entry-point group."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not break the built-in losses
            warnings.warn(
                f"hem-bench: could not load loss plugin {ep.name!r} ({ep.value}): "
                f"{type(exc).__name__}: {exc}",
                PluginWarning,
                stacklevel=2,
            )
            continue
        # An entry point names either a module whose import registers losses, or a loss
        # class / factory to register under the entry point's name.
        if callable(obj) and ep.name not in _LOSSES:
            try:
                register_loss(ep.name)(obj)
            except (TypeError, ValueError) as exc:
                warnings.warn(
                    f"hem-bench: loss plugin {ep.name!r} ({ep.value}) is not a valid loss: {exc}",
                    PluginWarning,
                    stacklevel=2,
                )


def available_losses() -> list[str]:
    """Names of all registered losses (built-in and plugins), sorted."""
    _load_entry_points()
    return sorted(_LOSSES)


def loss_info(name: str) -> LossInfo:
    """Metadata of the loss called ``name``; ``KeyError`` (with close names) if unknown."""
    _load_entry_points()
    if name not in _INFOS:
        raise unknown_name("loss", name, _INFOS)
    return _INFOS[name]


def parse_loss_params(name: str, raw: Mapping[str, str]) -> dict[str, Any]:
    """Convert ``KEY=VALUE`` strings from the command line to the loss's parameter types."""
    info = loss_info(name)
    parsed: dict[str, Any] = {}
    for key, text in raw.items():
        if key not in info.param_types:
            raise _unknown_param(info, key)
        kind = info.param_types[key]
        try:
            if kind is bool:
                lowered = str(text).strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                parsed[key] = lowered in ("true", "1", "yes")
            else:
                parsed[key] = kind(text)
        except (TypeError, ValueError):
            raise ConfigError(
                f"loss parameter {key}={text!r} of {name!r} must be of type {kind.__name__}"
            ) from None
    return parsed


def check_loss_params(name: str, params: Mapping[str, Any]) -> None:
    """Build the loss once with ``params`` (and stand-in class counts where it needs them),
    so that impossible values (a negative margin, tau = 0) are reported before any data is
    loaded or any model trained."""
    info = loss_info(name)
    counts = {"class_counts": [2.0, 1.0]} if info.needs_class_counts else {}
    try:
        get_loss(name, **dict(params), **counts)
    except (TypeError, ValueError) as exc:  # ConfigError is a ValueError
        raise ConfigError(f"loss {name!r}: {exc}") from None


def _unknown_param(info: LossInfo, key: str) -> ConfigError:
    accepted = ", ".join(f"{k} (default {v!r})" for k, v in info.params.items()) or "none"
    return ConfigError(
        f"loss {info.name!r} has no parameter {key!r}.{suggest(key, info.params)} "
        f"Its parameters: {accepted}; every loss also takes reduction and ignore_index."
    )


def get_loss(name: str, **params: Any) -> nn.Module:
    """Build the loss called ``name`` with ``params``.

    ``params`` may set the loss's own parameters (see :func:`loss_info`), ``reduction``,
    ``ignore_index`` and, for losses whose ``info.needs_class_counts`` is true,
    ``class_counts``. Unknown names raise ``KeyError`` suggesting close names; unknown or
    impossible parameters raise ``ValueError``.
    """
    info = loss_info(name)
    for key in params:
        if key in ("reduction", "ignore_index"):
            continue
        if key == "class_counts":
            if not info.needs_class_counts:
                raise ConfigError(
                    f"loss {name!r} does not use class counts; do not pass class_counts"
                )
            continue
        if key not in info.params:
            raise _unknown_param(info, key)
    if info.needs_class_counts and params.get("class_counts") is None:
        raise ConfigError(
            f"loss {name!r} needs class counts: pass class_counts=[n_0, ..., n_(C-1)], "
            "the number of training examples of each class"
        )
    return _LOSSES[name](**params)
