"""The loss registry: names are the interface (in the style of timm's model registry).

``register_loss(name, info=...)`` decorates a loss class; ``get_loss(name, **params)``
builds one; ``available_losses()`` and ``loss_info(name)`` list and describe them.
Registering a loss derives a pydantic model of its parameters from its constructor's
signature (types from the annotations, else from the defaults; ``reduction``,
``ignore_index`` and ``class_counts`` are not among them): :func:`parse_loss_params` checks
and types every parameter value with it -- from ``--loss-param``, a configuration file, a
sweep or :func:`get_loss` -- and every bad parameter gets the one message of
:func:`loss_param_error`.
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
from typing import Annotated, Any, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from torch import nn

from hem_bench.errors import ConfigError, quote, suggest, unknown_name
from hem_bench.losses.info import LossInfo, Paper
from hem_bench.plugins import PluginWarning

ENTRY_POINT_GROUP = "hem_bench.losses"
#: constructor arguments every loss takes, not listed among its parameters
COMMON_ARGS = ("reduction", "ignore_index", "class_counts")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")

_LOSSES: dict[str, Callable[..., nn.Module]] = {}
_INFOS: dict[str, LossInfo] = {}
_entry_points_loaded = False

T = TypeVar("T")


def _constructor_signature(factory: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(factory.__init__ if inspect.isclass(factory) else factory)


def _signature_params(
    name: str, factory: Callable[..., Any]
) -> tuple[dict[str, Any], dict[str, type], type[BaseModel]]:
    """Parameters (with defaults and types) of a loss constructor, minus the common ones,
    and the pydantic model that checks and types them (:func:`_params_model`)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    signature = _constructor_signature(factory)
    try:
        hints = typing.get_type_hints(target, include_extras=True)
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
    annotations: dict[str, Any] = {}
    for key, p in signature.parameters.items():
        if key in ("self", *COMMON_ARGS) or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is inspect.Parameter.empty:
            raise TypeError(
                f"loss parameter {key!r} of {factory!r} needs a default "
                "(only class_counts may be required)"
            )
        params[key] = p.default
        hint = hints.get(key)
        plain = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
        optional = [a for a in typing.get_args(plain) if a is not type(None)]
        if plain in (bool, int, float, str):
            types[key] = plain
        elif len(optional) == 1 and optional[0] in (bool, int, float, str):  # float | None
            types[key] = optional[0]
        elif p.default is not None:
            types[key] = type(p.default)
        else:
            types[key] = str
        if hint is None:  # not annotated: the default's type (anything, for None)
            hint = Any if p.default is None else type(p.default)
        if p.default is None:  # "scale: float = None" means: a float, or unset
            hint = Optional[hint]  # noqa: UP045  (hint is a runtime value)
        annotations[key] = hint
    return params, types, _params_model(name, annotations, params)


def _params_model(
    name: str, annotations: Mapping[str, Any], defaults: Mapping[str, Any]
) -> type[BaseModel]:
    """The pydantic model of a loss's parameters: one field per constructor parameter,
    typed by its annotation (by its default's type where it has none), defaulting to its
    default. ``Annotated[float, Field(gt=0)]`` in a signature adds a range."""
    fields = {key: (annotations[key], defaults[key]) for key in annotations}
    title = "".join(part.capitalize() for part in re.split(r"[^a-z0-9]+", name)) + "Params"
    try:
        return create_model(title, __config__=_PARAMS_CONFIG, **fields)
    except Exception as exc:  # an annotation pydantic cannot check: check nothing but names
        warnings.warn(
            f"hem-bench: the parameters of loss {name!r} are not type-checked ({exc})",
            PluginWarning,
            stacklevel=3,
        )
        return create_model(
            title, __config__=_PARAMS_CONFIG, **{k: (Any, v) for k, v in defaults.items()}
        )


_PARAMS_CONFIG = ConfigDict(
    extra="forbid",
    arbitrary_types_allowed=True,  # a default of any type: checked with isinstance
    coerce_numbers_to_str=True,  # a text parameter given a number in YAML: its text
    protected_namespaces=(),  # a parameter may be called model_...
)


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
        params, types, model = _signature_params(name, factory)
        takes_counts = "class_counts" in _constructor_signature(factory).parameters
        if base.needs_class_counts and not takes_counts:
            raise TypeError(f"loss {name!r} needs class counts but takes no class_counts argument")
        needs_counts = base.needs_class_counts or (
            takes_counts
            and _constructor_signature(factory).parameters["class_counts"].default
            is inspect.Parameter.empty
        )
        full = dataclasses.replace(
            base,
            name=name,
            params=params,
            param_types=types,
            params_model=model,
            needs_class_counts=needs_counts,
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
    from hem_bench.plugins import load_entry_points

    def register(ep, obj) -> None:
        # An entry point names either a module whose import registers losses, or a loss
        # class / factory to register under the entry point's name.
        if callable(obj) and ep.name not in _LOSSES:
            register_loss(ep.name)(obj)

    load_entry_points(ENTRY_POINT_GROUP, "loss", PluginWarning, register)


def available_losses() -> list[str]:
    """Names of all registered losses (built-in and plugins), sorted."""
    _load_entry_points()
    return sorted(_LOSSES)


def loss_info(name: str) -> LossInfo:
    """Metadata of the loss called ``name``; ``KeyError`` (with close names) if unknown."""
    _load_entry_points()
    if not isinstance(name, str):
        raise ConfigError(
            f"a loss is named by a text such as 'ce' (hem-bench losses lists them); got "
            f"{quote(name)}"
        )
    if name not in _INFOS:
        raise unknown_name("loss", name, _INFOS)
    return _INFOS[name]


def parse_loss_params(name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` checked and typed by the parameter model of the loss called ``name``
    (:attr:`LossInfo.params_model`): the one check of loss parameters, for ``--loss-param``
    (``KEY=VALUE`` text), configuration files, sweeps and :func:`get_loss`. Returns the
    given parameters only, typed (``"2"`` -> ``2.0`` for a float). A parameter the loss
    does not have, or a value its type refuses, is a :class:`ConfigError` in the format
    of :func:`loss_param_error`."""
    info = loss_info(name)
    if not isinstance(values, Mapping):
        raise loss_param_error(
            info, f"parameters must be a mapping of names to values; got {quote(values)}"
        )
    for key in values:
        if key not in info.params:
            raise loss_param_error(
                info, f"has no parameter {quote(str(key))}.{suggest(str(key), info.params)}"
            )
    for key, value in values.items():  # a yes/no is not a number (True is not 1.0)
        if isinstance(value, bool) and info.param_types.get(key) in (int, float):
            raise loss_param_error(info, _type_problem(info, key), key, value)
    model = info.params_model
    if model is None:
        return dict(values)
    try:
        checked = model.model_validate(dict(values))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else next(iter(values))
        if error["type"].endswith(("_type", "_parsing")) or error["type"] in TYPE_ERRORS:
            problem = _type_problem(info, key)
        else:
            problem = "must be " + _lower_first(error["msg"].removeprefix("Input should be "))
        raise loss_param_error(info, problem, key, values.get(key)) from None
    return {key: getattr(checked, key) for key in values}


#: pydantic error types that mean "not of the parameter's type"
TYPE_ERRORS = ("bool_parsing", "int_from_float", "finite_number", "is_instance_of")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _type_problem(info: LossInfo, key: str) -> str:
    kind = info.param_types.get(key)
    optional = info.params.get(key) is None
    name = getattr(kind, "__name__", str(kind))
    return f"must be of type {name}" + (" (or unset)" if optional else "")


def loss_param_error(
    info: LossInfo, problem: str, key: str | None = None, value: Any = None
) -> ConfigError:
    """The error of a bad loss parameter, in one format: what is wrong (with the key and
    value when one is at fault), then the parameters the loss accepts.

    ``loss parameter margin='abc' of 'hem' must be of type float. Its parameters: margin
    (default 1.0); every loss also takes reduction and ignore_index.``"""
    accepted = ", ".join(f"{k} (default {v!r})" for k, v in info.params.items()) or "none"
    subject = (
        f"loss {info.name!r}"
        if key is None
        else f"loss parameter {key}={quote(value)} of {info.name!r}"
    )
    sep = "" if problem.startswith(":") else " "
    text = f"{subject}{sep}{problem}".rstrip()
    end = "" if text.endswith((".", "?")) else "."
    return ConfigError(
        f"{text}{end} Its parameters: {accepted}; every loss also takes reduction and ignore_index."
    )


def check_loss_params(name: str, params: Mapping[str, Any]) -> None:
    """Build the loss once with ``params`` (and stand-in class counts where it needs them),
    so that impossible values (a negative margin, tau = 0) are reported before any data is
    loaded or any model trained."""
    info = loss_info(name)
    counts = {"class_counts": [2.0, 1.0]} if info.needs_class_counts else {}
    try:
        get_loss(name, **dict(params), **counts)
    except ConfigError as exc:
        if "Its parameters:" in str(exc):  # already in the format of loss_param_error
            raise
        raise loss_param_error(info, f": {exc}") from None
    except (TypeError, ValueError) as exc:
        raise loss_param_error(info, f": {exc}") from None


def get_loss(name: str, **params: Any) -> nn.Module:
    """Build the loss called ``name`` with ``params``.

    ``params`` may set the loss's own parameters (see :func:`loss_info`), ``reduction``,
    ``ignore_index`` and, for losses whose ``info.needs_class_counts`` is true,
    ``class_counts``. Unknown names raise ``KeyError`` suggesting close names; unknown or
    impossible parameters raise ``ValueError``.
    """
    info = loss_info(name)
    if "class_counts" in params and not info.needs_class_counts:
        raise ConfigError(f"loss {name!r} does not use class counts; do not pass class_counts")
    own = {k: v for k, v in params.items() if k not in COMMON_ARGS}
    params = {**params, **parse_loss_params(name, own)}
    if info.needs_class_counts and params.get("class_counts") is None:
        raise ConfigError(
            f"loss {name!r} needs class counts: pass class_counts=[n_0, ..., n_(C-1)], "
            "the number of training examples of each class"
        )
    return _LOSSES[name](**params)
