"""The task registry: one registered :class:`Task` object per task (as timm registers models).

A task holds everything the suite knows about it, in one place: its name and summary, its
kind (the losses it accepts must support it), its default data set and recipes per data
set, a pydantic :class:`TaskOptions` model (typed ``--task-option`` settings with defaults,
ranges and help), its headline and key metrics with their direction, and how it builds its
DataModule, its model and its LightningModule and evaluates them (returning a
:class:`TaskResult`), and its extras: the direction of every metric it reports, the files
it saves into a run folder, the notes under its run summary, and its section and plots in
the leaderboard's report. Generic code (runner, command line, leaderboard, report) asks the
task object and never tests a task's name. ``register_task(task)`` adds one;
``get_task(name)`` and ``available_tasks()`` find and list them. The built-in tasks are
one file each (``hem_bench.tasks.<name>``, imported by the package); installed packages add
tasks through the entry-point group ``hem_bench.tasks`` (loaded the first time the registry
is consulted), and a single file adds one with ``--plugin path/to/file.py``.

This module imports neither torch nor lightning: the command line lists tasks and checks
their options before any heavy import. A task reaches its heavy parts through callables
that import them when called, and its LightningModule may be written as a
:class:`TaskModule`: a plain class holding the task's part of the module, combined with
its Lightning base class (:attr:`TaskModule.lightning_base`) on first use, so that a task's
file, its Options, module and registration together, imports no lightning.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hem_bench.errors import ConfigError, quote, unknown_name
from hem_bench.recipes import Recipe

ENTRY_POINT_GROUP = "hem_bench.tasks"
TASK_KINDS = ("classification", "segmentation")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")
#: words a yes/no option accepts
BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class Margin(NamedTuple):
    """The equivalence margin of a metric: how far apart two losses' means may lie for one
    to be "as good as" the other (:func:`hem_bench.results.stats.equivalence_test`).

    ``kind`` ``absolute``: ``±value`` in the metric's units. ``kind`` ``error``: ``±value``
    times the reference loss's error, ``1 - mean``, for an accuracy in [0, 1] (higher is
    better), and at least ``floor``: near the ceiling a fixed number of points would be
    most of the errors (at 99 % accuracy one point is every error), so the margin follows the
    error rate (``Margin("error", 0.25)``: the error rate may move by a quarter)."""

    kind: str
    value: float
    floor: float = 0.0

    def of(self, reference_mean: float) -> float:
        """The margin in the metric's units, given the reference loss's mean."""
        if self.kind == "error":
            return max(self.value * (1.0 - float(reference_mean)), self.floor)
        return float(self.value)

    def describe(self, reference: str = "the reference") -> str:
        """The rule in words (``a quarter of ce's error rate``)."""
        if self.kind == "error":
            floor = f", at least {self.floor:g}" if self.floor else ""
            return f"{self.value:g} × {reference}'s error rate{floor}"
        return f"±{self.value:g} (fixed)"


#: the equivalence margins of the built-in headline metrics. Accuracies near the ceiling
#: (classify, imbalanced): a quarter of the reference's error rate, at least 0.001; mid-range
#: metrics (AUROC, robust accuracy, continual average accuracy, mIoU): one point (0.01), a
#: fixed fraction of the metric's range that papers on these tasks report as a difference
ERROR_MARGIN = Margin("error", 0.25, 0.001)
POINT_MARGIN = Margin("absolute", 0.01)


class Metric(NamedTuple):
    """A metric of a task's record and the direction in which it improves (``None``: a
    descriptive metric, with no better direction). ``name`` may be a shell-style pattern
    (``*/fpr95``) in :attr:`Task.metric_directions`. ``margin``: its equivalence margin
    (:class:`Margin`; None: "as good as" cannot be tested on it)."""

    name: str
    higher_is_better: bool | None = True
    margin: Margin | None = None

    @property
    def arrow(self) -> str:
        if self.higher_is_better is None:
            return ""
        return "↑" if self.higher_is_better else "↓"


class TaskOptions(BaseModel):
    """Base of a task's ``Options`` model: its ``--task-option KEY=VALUE`` settings.

    Declare each option with :func:`option` (default, help text, what it accepts, and
    pydantic constraints). An option's *recorded form* is what the run's configuration
    records (``task_options``, hashed into the run id, printed by ``--print-config``): the
    value as given, typed by its default's type (``bool``, ``int``, ``float``, ``str``; a
    yes/no option from the words ``true``/``yes``/``1`` and ``false``/``no``/``0``; lists from
    YAML joined with commas into the text form). The model's fields are the parsed values
    (tuples of attacks, budgets, severities, ...), validated when the configuration is
    resolved, before any data is loaded.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def option(default: Any, help: str, accepts: str, **constraints: Any) -> Any:
    """A task option: ``default`` (in its recorded form), ``help`` and ``accepts`` (shown by
    ``hem-bench tasks NAME``) and pydantic constraints (``ge=0``, ...)."""
    return Field(default, description=help, json_schema_extra={"accepts": accepts}, **constraints)


def _input_kind(default: Any) -> type:
    if isinstance(default, bool) or str(default).lower() in ("true", "false"):
        return bool
    return type(default) if isinstance(default, (int, float)) else str


@dataclass(frozen=True)
class OptionInfo:
    """How ``hem-bench tasks NAME`` describes an option."""

    name: str
    kind: type
    default: Any
    help: str
    accepts: str


def option_infos(options: type[TaskOptions]) -> dict[str, OptionInfo]:
    """Every option of an ``Options`` model: kind, default (recorded form), help, accepts."""
    out = {}
    for name, info in options.model_fields.items():
        kind = _input_kind(info.default)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        default = bool(info.default) if kind is bool else info.default
        out[name] = OptionInfo(
            name,
            kind,
            default,
            info.description or "",
            str(extra.get("accepts") or f"any {kind.__name__}"),
        )
    return out


def _recorded_form(key: str, value: Any, kind: type) -> Any:
    """A user's value of option ``key`` in its recorded form (see :class:`TaskOptions`)."""
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    if kind in (int, float) and isinstance(value, bool):
        raise ConfigError(f"task option {key}={quote(value)} must be of type {kind.__name__}")
    if kind is bool or isinstance(value, bool):
        word = str(value).strip().lower()
        if word not in BOOLEAN_WORDS:
            raise ConfigError(f"task option {key}={quote(value)} must be true or false")
        return BOOLEAN_WORDS[word]
    try:
        typed = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            f"task option {key}={quote(value)} must be of type {kind.__name__}"
        ) from None
    if kind is float and (typed != typed or typed in (float("inf"), float("-inf"))):
        raise ConfigError(f"task option {key}={quote(value)} must be a finite number")
    return typed


class TaskResult(NamedTuple):
    """What a task's evaluation returns: the record's metrics, the timings (seconds), the
    fields added to the record beside the metrics, and files saved into the run folder."""

    metrics: dict[str, float]
    timings: dict[str, float]
    extra: dict[str, Any]
    artifacts: dict[str, Any]


class _CombinedWithLightning:
    """``SomeTask.Lightning``: the task's :class:`TaskModule` combined with its Lightning
    base class, made once per class on first access. The combined class is named
    ``<module>.<SomeTask>.Lightning``, so that pickle (``--strategy ddp_spawn``) finds it
    again in another process through this same attribute."""

    def __get__(self, instance: Any, owner: type) -> type:
        if "_task_module" in owner.__dict__:  # already the combined class
            return owner
        combined = owner.__dict__.get("_lightning_class")
        if combined is None:
            module_name, _, name = owner.lightning_base.partition(":")
            base = getattr(importlib.import_module(module_name), name)
            combined = type(
                owner.__name__,
                (owner, base),
                {
                    "__module__": owner.__module__,
                    "__qualname__": f"{owner.__qualname__}.Lightning",
                    "__doc__": owner.__doc__,
                    "_task_module": owner,
                },
            )
            type.__setattr__(owner, "_lightning_class", combined)
        return combined


class TaskModule:
    """A task's part of its LightningModule, written as a plain class: the methods it adds
    to or overrides in its Lightning base class (:attr:`lightning_base`, by default
    :class:`hem_bench.tasks.base.ClassificationTask`: training with the loss under test,
    the recipe's optimiser, evaluation over named sets). ``SomeTask.Lightning`` is the
    combined LightningModule (a subclass of both), made when a run first needs it, so the
    task's file imports no lightning; its methods import torch where they use it.

    A task may instead give :class:`Task` a LightningModule subclass directly (as a plugin
    usually does); both are built as ``cls(model, loss, lr=..., options=...)``."""

    #: ``"module:Class"`` of the Lightning base the task's part is combined with
    lightning_base: ClassVar[str] = "hem_bench.tasks.base:ClassificationTask"
    Lightning = _CombinedWithLightning()


def lightning_class(module: type) -> type:
    """The LightningModule class of a task's ``module``: a :class:`TaskModule` combined
    with its Lightning base; any other class as it is."""
    if isinstance(module, type) and issubclass(module, TaskModule):
        return module.Lightning
    return module


def _build_classifier():
    from hem_bench.models import build_classifier

    return build_classifier


def _fit_and_test():
    from hem_bench.trainer import fit_and_test

    return fit_and_test


@dataclass(frozen=True, eq=False)
class Task:
    """One task family. See the module docstring; the callables import what they need."""

    name: str
    summary: str
    #: 'classification' or 'segmentation': the losses it accepts must support this
    kind: str
    default_dataset: str
    #: the ``--task-option`` settings (a :class:`TaskOptions` subclass)
    options: type[TaskOptions]
    #: one recipe per data set the task runs on
    recipes: Mapping[str, Recipe]
    #: the task's main metric
    headline: Metric
    #: metrics shown after the headline (run summary, leaderboard), where the runs have them
    key_metrics: tuple[Metric, ...]
    #: what the record's metrics are (listings)
    metrics: str
    #: ``datamodule(config)``: the task's DataModule (with its split) for a resolved config
    datamodule: Callable[[Any], Any]
    #: the LightningModule: a :class:`TaskModule` subclass (combined with its Lightning base
    #: on first use), a LightningModule class, or a callable returning either; built as
    #: ``cls(model, loss, lr=..., ..., options=<the typed options>)``
    module: type | Callable[[], type]
    #: ``model_builder()``: the function building the model (signature of
    #: :func:`hem_bench.models.build_classifier`)
    model_builder: Callable[[], Callable[..., Any]] = _build_classifier
    #: ``procedure()``: ``fn(config, module, datamodule, make_trainer, checkpoint) ->
    #: timings``, how the task is trained and evaluated (default: one fit, then one test)
    procedure: Callable[[], Callable[..., dict[str, float]]] = _fit_and_test
    #: ``summary_extras(metrics) -> keys``: further metrics of the run summary
    summary_extras: Callable[[Mapping[str, float]], list[str]] = field(default=lambda metrics: [])
    #: the direction of the task's other metrics (names or shell-style patterns such as
    #: ``*/fpr95``; ``higher_is_better=None`` for descriptive ones); the headline and the
    #: key metrics come first (:meth:`direction`)
    metric_directions: tuple[Metric, ...] = ()
    #: ``summary_notes(metrics) -> lines``: how to read the run summary (under its table)
    summary_notes: Callable[[Mapping[str, float]], list[str]] = field(default=lambda metrics: [])
    #: ``save_artifacts(artifacts, folder)``: writes the files of ``TaskResult.artifacts``
    #: into the run folder (a :class:`hem_bench.run_folder.RunFolder`); by default each
    #: artifact, a mapping of names to arrays, as ``<folder>/scores/<name>.npz``
    save_artifacts: Callable[[Mapping[str, Any], Any], None] = field(
        default=lambda artifacts, folder: _save_arrays(artifacts, folder)
    )
    #: ``report_section(view) -> html``: the task's part of a benchmark's section of the
    #: HTML report, after the benchmark's table (``view``: a
    #: :class:`hem_bench.results.views.BenchmarkView`)
    report_section: Callable[[Any], str] | None = None
    #: ``plots(view) -> [Plot]``: the task's plots of a benchmark
    #: (:class:`hem_bench.results.plotkit.Plot`), drawn into its report section and
    #: ``plots/``
    plots: Callable[[Any], list[Any]] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"task name {self.name!r} must be lowercase letters, digits and '-', '_', '.', '+'"
            )
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task {self.name!r}: kind must be one of {', '.join(TASK_KINDS)}")
        if not (isinstance(self.options, type) and issubclass(self.options, TaskOptions)):
            raise TypeError(f"task {self.name!r}: options must be a TaskOptions subclass")
        if self.default_dataset not in self.recipes:
            raise ValueError(
                f"task {self.name!r}: no recipe for its default data set {self.default_dataset!r}"
            )
        object.__setattr__(self, "headline", Metric(*self.headline))
        object.__setattr__(self, "key_metrics", tuple(Metric(*m) for m in self.key_metrics))
        object.__setattr__(
            self, "metric_directions", tuple(Metric(*m) for m in self.metric_directions)
        )

    # -- settings ------------------------------------------------------------------------
    def recipe(self, dataset: str) -> Recipe:
        if dataset in self.recipes:
            return self.recipes[dataset]
        raise unknown_name(f"dataset for task {self.name!r}", dataset, self.recipes)

    def option_infos(self) -> dict[str, OptionInfo]:
        return option_infos(self.options)

    def resolve_options(
        self, given: Mapping[str, Any], dataset: Any = None
    ) -> tuple[dict[str, Any], TaskOptions]:
        """The options' recorded form (every option, defaults filled in: what the configuration
        records) and the validated, parsed ``Options``. Bad values raise :class:`ConfigError`
        naming the option and what it accepts. ``dataset`` (the run's
        :class:`~hem_bench.datamodules.base.DatasetInfo`) reaches the ``Options``
        validators as ``info.context["dataset"]``, for limits that depend on the data set
        (no more known classes than it has), checked before it is loaded."""
        if not isinstance(given, Mapping):
            raise ConfigError(
                f"the options of task {self.name!r} must be a mapping of names to values; got "
                f"{quote(given, 80)}"
            )
        infos = self.option_infos()
        text = {name: info.default for name, info in infos.items()}
        for key, value in given.items():
            if key not in infos:
                accepted = ", ".join(infos) or "none"
                raise ConfigError(
                    f"task {self.name!r} has no option {quote(key, 60)}; its options: {accepted}"
                )
            text[key] = _recorded_form(key, value, infos[key].kind)
        try:
            parsed = self.options.model_validate(
                text, context={"dataset": dataset} if dataset is not None else None
            )
        except ValidationError as exc:
            raise _option_error(exc, text, infos) from None
        return text, parsed

    @property
    def key_metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.key_metrics)

    def metric(self, name: str) -> Metric | None:
        """The :class:`Metric` describing the record's metric ``name``: the headline, a key
        metric, or the first of :attr:`metric_directions` whose name or pattern matches;
        ``None`` for a metric the task does not describe."""
        for metric in (self.headline, *self.key_metrics):
            if metric.name == name:
                return metric
        for metric in self.metric_directions:
            if metric.name == name or fnmatch.fnmatchcase(name, metric.name):
                return metric
        return None

    def direction(self, name: str) -> bool | None:
        """Whether higher is better for the metric ``name`` (``None``: descriptive, or a
        metric the task does not describe)."""
        metric = self.metric(name)
        return None if metric is None else metric.higher_is_better

    def summary_keys(self, metrics: Mapping[str, float]) -> list[str]:
        """The run summary's rows: the headline, the key metrics the run has, the extras."""
        head = self.headline.name
        keys = [head] + [k for k in self.key_metric_names if k in metrics and k != head]
        return keys + [k for k in self.summary_extras(metrics) if k not in keys]

    # -- building and running ------------------------------------------------------------
    def build_datamodule(self, config):
        return self.datamodule(config)

    def build_model(self, config, datamodule):
        return self.model_builder()(
            config.model,
            datamodule.num_classes,
            datamodule.input_shape,
            datamodule.mean,
            datamodule.std,
            head=config.head,
            dropout=config.dropout,
        )

    def module_class(self) -> type:
        """The task's LightningModule class (:func:`lightning_class` of :attr:`module`)."""
        module = self.module
        if not isinstance(module, type):
            module = module()
        return lightning_class(module)

    def build_module(self, config, model, loss):
        return self.module_class()(
            model,
            loss,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            optimizer=config.optimizer,
            final_l2=config.final_l2,
            seed=config.seed,
            options=config.options,
        )

    def evaluate(self, config, module, datamodule, make_trainer, checkpoint) -> TaskResult:
        """Train and evaluate through the task's procedure; the typed result."""
        timings = self.procedure()(config, module, datamodule, make_trainer, checkpoint)
        return TaskResult(
            metrics=dict(module.results),
            timings=dict(timings),
            extra=dict(getattr(module, "record_extra", None) or {}),
            artifacts=dict(getattr(module, "artifacts", None) or {}),
        )


def _save_arrays(artifacts: Mapping[str, Any], folder) -> None:
    """Each artifact, a mapping of names to arrays, as ``scores/<name>.npz`` in the run
    folder (keys with ``/`` stored with ``__``), written atomically."""
    import numpy as np

    from hem_bench.atomic import atomic_path

    for name, arrays in artifacts.items():
        flat = {str(k).replace("/", "__"): np.asarray(v) for k, v in dict(arrays).items()}
        with atomic_path(folder.artifact(name), suffix=".npz") as tmp:
            np.savez_compressed(tmp, **flat)


def _option_error(exc: ValidationError, text: Mapping[str, Any], infos) -> ConfigError:
    """One line for the first bad option: the task's own message where its validator gave
    one (a :class:`ConfigError`), else the option, its value and what it accepts."""
    error = exc.errors()[0]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ConfigError):
        return cause
    key = str(error["loc"][0]) if error["loc"] else ""
    message = str(error["msg"]).removeprefix("Value error, ")
    if key in infos:
        return ConfigError(
            f"task option {key}={quote(text.get(key))}: {message} (accepts: {infos[key].accepts})"
        )
    return ConfigError(f"task options: {message}")


# -- the registry ----------------------------------------------------------------------------
_TASKS: dict[str, Task] = {}
_entry_points_loaded = False


class TaskPluginWarning(UserWarning):
    """A task plugin could not be loaded; the other tasks keep working."""


def register_task(task: Task, *, override: bool = False) -> Task:
    """Register ``task`` under its name; a name already taken raises ``ValueError`` unless
    ``override=True``. Returns the task (so a plugin may write ``TASK = register_task(...)``)."""
    if not isinstance(task, Task):
        raise TypeError(f"register_task expects a Task; got {task!r}")
    if task.name in _TASKS and not override and _TASKS[task.name] is not task:
        raise ValueError(
            f"a task named {task.name!r} is already registered; pass override=True to replace it"
        )
    _TASKS[task.name] = task
    return task


def _load_entry_points() -> None:
    """Import the tasks that installed packages declare in the entry-point group: an entry
    point names a module whose import registers tasks, or a :class:`Task` object."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from hem_bench.plugins import load_entry_points

    def register(ep, obj) -> None:
        if isinstance(obj, Task) and obj.name not in _TASKS:
            register_task(obj)

    load_entry_points(ENTRY_POINT_GROUP, "task", TaskPluginWarning, register)


def _load() -> None:
    """The built-in tasks are registered by importing the package (its ``__init__`` imports
    their files); installed packages' tasks come from the entry points."""
    _load_entry_points()


def available_tasks() -> list[str]:
    """Names of all registered tasks (built-in and plugins), sorted."""
    _load()
    return sorted(_TASKS)


def get_task(name: str) -> Task:
    """The task called ``name``; :class:`~hem_bench.errors.UnknownNameError` (with close
    names) if there is none."""
    _load()
    if name not in _TASKS:
        raise unknown_name("task", name, _TASKS)
    return _TASKS[name]


def find_task(name: str) -> Task | None:
    """The task called ``name``, or ``None`` (records of a task this installation lacks)."""
    _load()
    return _TASKS.get(name)
