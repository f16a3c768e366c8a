"""How a run setting is described: once, where it is declared on the configuration model.

Every field of :class:`hem_bench.config.RunConfig` is declared with :func:`setting`: its
default and pydantic constraints, its help text, its command-line flag, and where it
counts (:class:`Setting`): in the run id or not (does it change what is computed?), in the
protocol or not (must compared runs agree on it?), whether the task's recipe supplies it
(a field of :class:`hem_bench.recipes.Recipe`), and whether it is an axis of a sweep's grid
(task, loss, data set, model, seed) rather than a setting of every run. The lists other code
needs are derived from these declarations: the fields of the run id
(:func:`run_id_fields`), of the protocol (:func:`protocol_fields`), of the recipe
(:func:`recipe_fields`), the flags (:func:`flag_of`), the numeric fields
(:func:`number_fields`), the defaults of the protocol settings no recipe sets
(:func:`run_defaults`). The command line builds its flags from them
(:mod:`hem_bench.cli._settings`). A subclass of ``RunConfig`` that declares one more
setting gets it everywhere.

Import-light: pydantic and the standard library.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

#: the command line's groups of settings, in the order ``--help`` shows them
GROUPS = {
    "what": "what to run",
    "model": "model and recipe (defaults: the task's recipe for the data set)",
    "engine": "engineering (passed to Lightning's Trainer)",
    "output": "output",
}
_KEY = "hem_bench_setting"


@dataclass(frozen=True)
class Setting:
    """Where a setting counts, and how the command line offers it."""

    help: str = ""
    #: the flag: ``""`` for ``--<name with dashes>`` (``--no-<name>`` for a setting that is
    #: on by default), a flag of its own, or ``None`` for a setting of files only
    flag: str | None = ""
    #: the help group (a key of :data:`GROUPS`)
    group: str = "model"
    #: part of the run id: it changes what is computed
    run_id: bool = True
    #: part of the protocol: runs compared with each other must agree on it
    protocol: bool = True
    #: supplied by the task's recipe when not given (a field of ``Recipe``)
    recipe: bool = False
    #: an axis of a sweep's grid (the sweep has a flag of its own for it, in the plural)
    axis: bool = False
    #: a ``--flag KEY=VALUE`` setting (a mapping), or a repeatable flag (a list)
    metavar: str | None = None


def setting(default: Any = ..., *, help: str, **where: Any) -> Any:
    """A field of the configuration model: ``default`` (or ``default_factory=``), pydantic
    constraints (``ge=``, ``le=``, ...) and the :class:`Setting` fields (``flag``,
    ``group``, ``run_id``, ``protocol``, ``recipe``, ``axis``, ``metavar``)."""
    names = {f.name for f in dataclasses.fields(Setting)}
    described = {k: where.pop(k) for k in list(where) if k in names}
    info = dataclasses.asdict(Setting(help=help, **described))
    return Field(default, description=help, json_schema_extra={_KEY: info}, **where)


def _described(model: type, name: str) -> dict[str, Any] | None:
    """The declaration of field ``name`` by the first class in ``model``'s MRO that
    declared it with :func:`setting` (a subclass may narrow a field's type without
    describing it again: ``ResolvedConfig``'s concrete recipe fields)."""
    for klass in model.__mro__:
        fields = getattr(klass, "model_fields", None) or {}
        info = fields.get(name)
        extra = getattr(info, "json_schema_extra", None)
        if isinstance(extra, dict) and _KEY in extra:
            return extra[_KEY]
    return None


def settings_of(model: type[BaseModel]) -> dict[str, Setting]:
    """Every field of ``model`` with its :class:`Setting` (a field declared nowhere with
    :func:`setting` counts everywhere and has no flag of its own)."""
    out = {}
    for name in model.model_fields:
        described = _described(model, name)
        out[name] = Setting(**described) if described else Setting(flag=None)
    return out


def run_id_fields(model: type[BaseModel]) -> list[str]:
    return [n for n, s in settings_of(model).items() if s.run_id]


def protocol_fields(model: type[BaseModel]) -> list[str]:
    return [n for n, s in settings_of(model).items() if s.protocol]


def recipe_fields(model: type[BaseModel]) -> list[str]:
    return [n for n, s in settings_of(model).items() if s.recipe]


def _types(annotation: Any) -> tuple[Any, ...]:
    """The types an annotation admits (``int | None`` -> ``(int, NoneType)``)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def choices_of(annotation: Any) -> tuple[Any, ...] | None:
    """The values of a ``Literal`` annotation (``None`` for any other)."""
    for kind in _types(annotation):
        if typing.get_origin(kind) is Literal:
            return typing.get_args(kind)
    return None


def value_type(model: type[BaseModel], name: str) -> type | None:
    """``int``, ``float``, ``bool``, ``str``, ``list`` or ``dict`` of a field (``None`` if
    it has none of them); ``str`` for a field that admits numbers and text alike."""
    admitted = [t for t in _types(model.model_fields[name].annotation) if t is not type(None)]
    origins = {typing.get_origin(t) or t for t in admitted}
    if choices_of(model.model_fields[name].annotation) is not None or str in origins:
        return str
    for kind in (bool, int, float, list, dict):
        if kind in origins:
            return kind
    return None


def number_fields(model: type[BaseModel]) -> list[str]:
    """The fields that must be numbers (a YAML ``seed: true`` is not the seed 1)."""
    return [n for n in model.model_fields if value_type(model, n) in (int, float)]


def flag_of(model: type[BaseModel], name: str) -> str:
    """The command-line flag of setting ``name`` (for messages); a setting of files only is
    named as it is written in a file."""
    described = settings_of(model).get(name, Setting())
    if described.flag:
        return described.flag
    if described.flag is None:
        return name
    default = model.model_fields[name].default if name in model.model_fields else None
    dashed = name.replace("_", "-")
    return f"--no-{dashed}" if default is True else f"--{dashed}"


def run_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """The defaults of the protocol settings that no recipe supplies (and that are not the
    protocol's task, data set or the task's options): what a run has unless told otherwise."""
    out = {}
    for name, described in settings_of(model).items():
        field = model.model_fields[name]
        plain = field.default_factory is None and value_type(model, name) not in (dict, list)
        if described.protocol and not described.recipe and not described.axis and plain:
            out[name] = field.default
    return out
