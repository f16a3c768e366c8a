"""Run settings: validated (pydantic) from command-line flags, a YAML file, or both.

Precedence: the task's recipe for the data set < the YAML file < the flags. A
:class:`RunConfig` holds what the user asked for; :meth:`RunConfig.resolve` fills in the
task's defaults and checks names against the registries, giving a :class:`ResolvedConfig`
in which every field is concrete. Its :attr:`~ResolvedConfig.run_id` is a hash of the
fields that define the experiment, so the same configuration run again is recognised.

This module imports neither torch nor lightning; :meth:`RunConfig.resolve` imports the
loss and data registries (torch) but nothing heavier.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from hem_bench.errors import ConfigError, quote, suggest
from hem_bench.settings import flag_of, number_fields, recipe_fields, run_id_fields, setting

PRECISIONS = ("32-true", "32", "64-true", "64", "16-mixed", "bf16-mixed", "16-true", "bf16-true")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_notebook", "ddp_find_unused_parameters_true", "fsdp")
#: fields written by ``--print-config`` that are recomputed on reading (a file may hold them)
DERIVED = ("recipe_source",)
#: Lightning loggers a run can write to (``--logger``); ``csv`` needs no extra package
LOGGERS = ("csv", "tensorboard", "wandb", "mlflow")
#: seeds Lightning and numpy accept (0 .. 2**32 - 1)
MAX_SEED = 2**32 - 1
#: Upper limits of the numeric settings. Each is finite and works: a run at the limit trains
#: (checked by the tests); beyond it the first steps overflow float32 (a learning rate of
#: 1e8 makes the loss NaN at the third step) or ask for absurd time or memory.
LIMITS: dict[str, float] = {
    "lr": 10.0,  # ~100x any recipe's; 1e4 still trains the digits, 1e8 overflows
    "weight_decay": 1.0,  # SGD multiplies the weights by 1 - lr * weight_decay per step
    "final_l2": 10.0,  # Kornblith et al. use 8e-4
    "max_epochs": 100_000,
    "batch_size": 2**20,
    "threads": 1024,
    "crop_padding": 64,  # pixels added on each side before the random crop
    "eval_batch_size": 2**20,
}
#: loss parameters every loss takes but the suite sets (not the user)
SUITE_LOSS_PARAMS = ("reduction", "ignore_index")
#: where a setting that only says where files go, or how a run is shown, counts: nowhere
_NOWHERE = {"run_id": False, "protocol": False}
#: how the same network is executed: part of the run id (CPU and GPU kernels round
#: differently with the thread count, compilation and memory format, so the metrics differ in
#: the last digits and a record must never pass for a run of other settings), not of the
#: protocol (runs that differ only here are repeats of one experiment)
_EXECUTION = {"run_id": True, "protocol": False, "group": "engine"}


class RunConfig(BaseModel):
    """What the user asked for. ``None`` means: the task's recipe decides.

    Each field is declared once, with :func:`~hem_bench.settings.setting`: its default,
    range, help and flag, and whether it enters the run id, the protocol and the recipe
    (:mod:`hem_bench.settings` derives every list of settings from these declarations)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    task: str = setting(
        "ood", help="task (hem-bench tasks lists them; default ood)", group="what",
        protocol=False, axis=True,
    )  # fmt: skip
    loss: str = setting(
        "ce", help="loss (hem-bench losses lists them; default ce)", group="what",
        protocol=False, axis=True,
    )  # fmt: skip
    loss_params: dict[str, Any] = setting(
        default_factory=dict,
        help="a parameter of the loss, typed by the loss (repeatable), e.g. margin=2",
        flag="--loss-param", group="what", protocol=False, metavar="KEY=VALUE",
    )  # fmt: skip
    dataset: str | None = setting(
        None, help="data set (hem-bench datasets lists them; default: the task's)",
        group="what", protocol=False, axis=True,
    )  # fmt: skip
    data_dir: str | None = setting(
        None, help="folder holding data sets that are not shipped", group="what", **_NOWHERE
    )
    download: bool = setting(False, help="fetch missing data sets", group="what", **_NOWHERE)
    verify: bool = setting(
        True, help="load data files whose checksums do not match the official release",
        group="what", **_NOWHERE,
    )  # fmt: skip
    model: str | None = setting(None, help="built-in model or timm/<name>", recipe=True, axis=True)
    head: Literal["linear", "cosine"] = setting("linear", help="output layer (default linear)")
    dropout: float = setting(
        0.0, help="dropout on the penultimate layer (default 0)", ge=0.0, lt=1.0,
        allow_inf_nan=False,
    )  # fmt: skip
    final_l2: float = setting(
        0.0, help="extra L2 penalty lambda/2 ‖W‖² on the final layer (default 0)", ge=0.0,
        le=LIMITS["final_l2"], allow_inf_nan=False,
    )  # fmt: skip
    seed: int = setting(
        0, help="random seed (default 0)", ge=0, le=MAX_SEED, protocol=False, axis=True
    )
    max_epochs: int | None = setting(
        None, help="training epochs", ge=1, le=LIMITS["max_epochs"], recipe=True
    )
    batch_size: int | None = setting(
        None, help="training batch size", ge=1, le=LIMITS["batch_size"], recipe=True
    )
    lr: float | None = setting(
        None, help="initial learning rate", gt=0.0, le=LIMITS["lr"], allow_inf_nan=False,
        recipe=True,
    )  # fmt: skip
    weight_decay: float | None = setting(
        None, help="weight decay", ge=0.0, le=LIMITS["weight_decay"], allow_inf_nan=False,
        recipe=True,
    )  # fmt: skip
    momentum: float | None = setting(
        None, help="SGD momentum", ge=0.0, lt=1.0, allow_inf_nan=False, recipe=True, flag=None
    )
    crop_padding: int | None = setting(
        None, help="pixels of zero padding before the random crop",
        ge=0, le=LIMITS["crop_padding"], recipe=True, flag=None,
    )  # fmt: skip
    flip: bool | None = setting(None, help="random horizontal flips", recipe=True, flag=None)
    eval_batch_size: int | None = setting(
        None, help="evaluation batch size", ge=1, le=LIMITS["eval_batch_size"], recipe=True,
        protocol=False, flag=None,
    )  # fmt: skip
    optimizer: Literal["sgd", "adamw"] | None = setting(
        None, help="sgd (with momentum 0.9) or adamw", recipe=True
    )
    output_bias: Literal["default", "prior"] | None = setting(
        None, recipe=True,
        help="start of the output layer's bias: the layer's default, or the log frequency of "
        "each class in the training set",
    )  # fmt: skip
    precision: str = setting(
        "32-true", help="32-true (default), bf16-mixed, 16-mixed, 64-true, ...", group="engine"
    )
    accelerator: str = setting(
        "auto", help="auto (default), cpu, gpu, mps", group="engine", protocol=False
    )
    devices: int | str = setting(
        1, help="number of devices, 'auto', or a list like 0,1 (default 1)", group="engine",
        protocol=False,
    )  # fmt: skip
    strategy: str = setting(
        "auto", help="auto (default), ddp, ddp_spawn, fsdp, ...", group="engine", protocol=False
    )
    threads: int | None = setting(
        None, ge=1, le=LIMITS["threads"], **_EXECUTION,
        help="CPU threads of torch (default: torch's default here; a sweep divides them among "
        "its local workers); part of the run id",
    )  # fmt: skip
    compile: bool = setting(False, help="torch.compile the model", **_EXECUTION)
    channels_last: bool = setting(
        False, help="channels-last memory format for the model (faster convolutions on GPUs)",
        **_EXECUTION,
    )  # fmt: skip
    out: str = setting(
        "results", help="results folder (default results/)", group="output", **_NOWHERE
    )
    task_options: dict[str, Any] = setting(
        default_factory=dict, help="a setting of the task (hem-bench tasks lists them; repeatable)",
        flag="--task-option", group="what", metavar="KEY=VALUE",
    )  # fmt: skip
    plugins: list[str] = setting(
        default_factory=list, help="a Python file that registers losses or tasks (repeatable)",
        flag="--plugin", group="output", metavar="FILE.py", **_NOWHERE,
    )  # fmt: skip
    progress: bool = setting(True, help="no progress bar", group="output", **_NOWHERE)
    loggers: list[str] = setting(
        default_factory=lambda: ["csv"], flag="--logger", group="output", metavar="NAME",
        help="experiment logger: csv (default), tensorboard, wandb (offline unless WANDB_MODE "
        "says otherwise) or mlflow (MLFLOW_TRACKING_URI, else <out>/mlruns); repeatable",
        **_NOWHERE,
    )  # fmt: skip

    @field_validator("loggers")
    @classmethod
    def _loggers(cls, value: list[str]) -> list[str]:
        names = [str(v) for v in value]
        for name in names:
            if name not in LOGGERS:
                raise ValueError(f"unknown logger {name!r}; accepted: {', '.join(LOGGERS)}")
        return list(dict.fromkeys(names))

    @field_validator("*", mode="before")
    @classmethod
    def _not_boolean(cls, value: Any, info: ValidationInfo) -> Any:
        """A number field given a yes/no value: an error (YAML ``seed: true`` is not the
        seed 1)."""
        if isinstance(value, bool) and info.field_name in number_fields(cls):
            raise ValueError("must be a number, not a yes/no value")
        return value

    @field_validator("loss", "task", "dataset", "model")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value or value != value.strip() or any(not c.isprintable() for c in value):
            raise ValueError("must be a name without spaces, line breaks or control characters")
        if ("/" in value and not value.startswith(("timm/", "smp/"))) or "\\" in value:
            raise ValueError("must be a name, not a path")
        return value

    @field_validator("out", "data_dir", mode="before")
    @classmethod
    def _path_like(cls, value: Any) -> Any:
        """A ``pathlib.Path`` (from the Python API) is taken as its text."""
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @field_validator("plugins", mode="before")
    @classmethod
    def _path_likes(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [os.fspath(v) if isinstance(v, os.PathLike) else v for v in value]
        return value

    @field_validator("out")
    @classmethod
    def _out(cls, value: str) -> str:
        if not str(value).strip():
            raise ValueError("must name a results folder")
        return check_path_text(value)

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: str | None) -> str | None:
        return value if value is None else check_path_text(value)

    @field_validator("plugins")
    @classmethod
    def _plugins(cls, value: list[str]) -> list[str]:
        return [check_path_text(v) for v in value]

    @field_validator("loss_params")
    @classmethod
    def _loss_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key in SUITE_LOSS_PARAMS:
                raise ValueError(
                    f"{key!r} is set by the suite for every loss (the task chooses it), "
                    "not by --loss-param"
                )
        return value

    @field_validator("precision")
    @classmethod
    def _precision(cls, value: str) -> str:
        if str(value) not in PRECISIONS:
            raise ValueError(f"must be one of {', '.join(PRECISIONS)}")
        return str(value)

    @field_validator("accelerator")
    @classmethod
    def _accelerator(cls, value: str) -> str:
        if value not in ACCELERATORS:
            raise ValueError(f"must be one of {', '.join(ACCELERATORS)}")
        return value

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"must be one of {', '.join(STRATEGIES)}")
        return value

    @field_validator("devices")
    @classmethod
    def _devices(cls, value: int | str) -> int | str:
        if isinstance(value, int):
            if value < 1:
                raise ValueError(
                    "must be a positive number of devices, 'auto', or a list like '0,1'"
                )
            return value
        text = str(value).strip()
        if text == "auto":
            return text
        if text.isdigit():
            return cls._devices(int(text))
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts or not all(p.isdigit() for p in parts):
            raise ValueError("must be a positive number of devices, 'auto', or a list like '0,1'")
        return ",".join(parts)

    @classmethod
    def from_sources(
        cls, file: str | Path | None = None, overrides: dict[str, Any] | None = None
    ) -> RunConfig:
        """Settings from a YAML file (optional) with ``overrides`` (flags) on top."""
        values: dict[str, Any] = {}
        if file is not None:
            values.update(read_yaml(file))
            for key in DERIVED:  # written by --print-config; recomputed by resolve()
                values.pop(key, None)
        for key, value in (overrides or {}).items():
            if key in ("loss_params", "task_options") and key in values:
                values[key] = {**values[key], **value}
            else:
                values[key] = value
        return validated(values, cls)

    @classmethod
    def resolved_class(cls) -> type[ResolvedConfig]:
        """The class of this configuration once resolved: :class:`ResolvedConfig`, with the
        fields a subclass of :class:`RunConfig` adds (made once per subclass)."""
        if cls is RunConfig or issubclass(cls, ResolvedConfig):
            return ResolvedConfig if cls is RunConfig else cls
        made = cls.__dict__.get("_resolved_class")
        if made is None:
            made = type(f"Resolved{cls.__name__}", (ResolvedConfig, cls), {})
            type.__setattr__(cls, "_resolved_class", made)
        return made

    def resolve(self) -> ResolvedConfig:
        """Fill in the task's defaults and check every name against its registry. The task
        is looked up here, once: the resolved configuration carries the :class:`Task`
        object (:attr:`ResolvedConfig.task_def`) and its validated options
        (:attr:`ResolvedConfig.options`) down to the run."""
        from hem_bench.datamodules.base import dataset_info
        from hem_bench.losses import loss_info, parse_loss_params
        from hem_bench.plugins import load_plugin_files
        from hem_bench.recipes import with_recipe
        from hem_bench.tasks import get_task

        load_plugin_files(self.plugins)
        task = get_task(self.task)
        dataset = self.dataset or task.default_dataset
        data = dataset_info(dataset)
        if task.kind == "classification" and data.kind != "classification":
            raise ConfigError(
                f"task {self.task!r} needs a classification data set; {dataset!r} is a "
                f"{data.kind} data set"
            )
        fields = recipe_fields(type(self))
        recipe = with_recipe(task, dataset, **{name: getattr(self, name) for name in fields})
        info = loss_info(self.loss)
        if not info.supports(task.kind):
            raise ConfigError(
                f"loss {self.loss!r} cannot serve task {self.task!r}: it supports "
                f"{', '.join(sorted(info.tasks))}, the task needs {task.kind}"
            )
        loss_params = parse_loss_params(self.loss, self.loss_params)  # checked and typed
        options_text, options = task.resolve_options(self.task_options, dataset=data)
        resolved = self.resolved_class()(
            **{
                **self.model_dump(),
                **{name: getattr(recipe, name) for name in fields},
                "dataset": dataset,
                "task_options": options_text,
                "loss_params": {**info.params, **loss_params},
                "threads": self.threads or _default_threads(),
            },
            recipe_source=recipe.source,
        )
        resolved._task, resolved._options = task, options
        return resolved


class ResolvedConfig(RunConfig):
    """A configuration with every default filled in: what a run actually does."""

    dataset: str
    model: str
    max_epochs: int = Field(ge=1, le=LIMITS["max_epochs"])
    batch_size: int = Field(ge=1, le=LIMITS["batch_size"])
    lr: float = Field(gt=0.0, le=LIMITS["lr"])
    weight_decay: float = Field(ge=0.0, le=LIMITS["weight_decay"])
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    crop_padding: int = Field(0, ge=0, le=LIMITS["crop_padding"])
    flip: bool = False
    eval_batch_size: int = Field(1024, ge=1, le=LIMITS["eval_batch_size"])
    optimizer: Literal["sgd", "adamw"] = "sgd"
    output_bias: Literal["default", "prior"] = "default"
    #: where the recipe comes from (recomputed when a file is read back)
    recipe_source: str = setting("", help="the recipe's source", flag=None, **_NOWHERE)
    threads: int = Field(ge=1, le=LIMITS["threads"])
    _task: Any = PrivateAttr(None)
    _options: Any = PrivateAttr(None)

    @property
    def task_def(self):
        """The :class:`~hem_bench.tasks.Task` object of the run, bound when the
        configuration was resolved (:meth:`RunConfig.resolve`, or :meth:`bind_task` for a
        configuration rebuilt from its fields in another process)."""
        if self._task is None:
            raise RuntimeError("the configuration's task is not bound: resolve it first")
        return self._task

    @property
    def options(self):
        """The task's options, typed and validated (its ``Options`` model)."""
        if self._options is None:
            raise RuntimeError("the configuration's task is not bound: resolve it first")
        return self._options

    def bind_task(self) -> ResolvedConfig:
        """Bind the task object and validate the options of a configuration rebuilt from its
        fields (a sweep worker's): the one lookup of the task in that process."""
        from hem_bench.tasks import get_task

        task = get_task(self.task)
        self._task, self._options = task, task.resolve_options(self.task_options)[1]
        return self

    def identity(self) -> dict[str, Any]:
        """The fields that define the experiment, those declared in the run id (the run id
        is their hash)."""
        keep = set(run_id_fields(type(self)))
        return {k: v for k, v in self.model_dump().items() if k in keep}

    @property
    def run_id(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def run_name(self) -> str:
        """Folder name of the run: readable parts and the run id."""
        return f"{self.task}-{self.dataset}-{self.loss}-seed{self.seed}-{self.run_id[:8]}"

    def run_dir(self) -> Path:
        return Path(self.out) / self.run_name


def _default_threads() -> int:
    import torch

    return torch.get_num_threads()


def validated(values: dict[str, Any], model: type[RunConfig] | None = None) -> RunConfig:
    """A :class:`RunConfig` (or ``model``) from ``values``; errors name the setting (as a
    flag) and value."""
    model = model or RunConfig
    values = {str(k).replace("-", "_"): v for k, v in values.items()}
    try:
        return model(**values)
    except ValidationError as exc:
        messages, unknown = [], []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            flag = flag_of(model, field) if field in model.model_fields else field
            if error["type"] == "extra_forbidden":
                unknown.append(repr(field))
                continue
            message = error["msg"].removeprefix("Value error, ")
            messages.append(f"{flag} {quote(error.get('input'))}: {message}")
        if unknown:  # the accepted settings are listed once, however many are unknown
            names = sorted([*model.model_fields, *DERIVED])
            unknown = [quote(name.strip("'")) for name in unknown]
            hints = "".join(
                suggest(name.strip("'"), names, n=1).rstrip("?") + f" for {name}?"
                for name in unknown
                if suggest(name.strip("'"), names, n=1)
            )
            plural = "s" if len(unknown) > 1 else ""
            messages.append(
                f"unknown setting{plural} {', '.join(unknown)} (accepted: {', '.join(names)})"
                + hints
            )
        raise ConfigError("; ".join(messages)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML configuration file."""
    import yaml

    shown = quote(str(path))
    check_path_text(str(path), f"config file {shown}")
    file = Path(path)
    if file.is_dir():
        raise ConfigError(f"config file {shown} is a folder; give a YAML file of settings")
    if not file.is_file():
        raise ConfigError(f"config file {shown} does not exist")
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {shown} is not a UTF-8 text file (byte {exc.start}); "
            "give a YAML file of settings"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config file {shown} cannot be read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config file {shown} is not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"config file {shown} is nested too deeply to be settings") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {shown} must hold a mapping of settings; it holds a {type(data).__name__}"
        )
    return {str(key): value for key, value in data.items()}


#: the longest name of one file or folder, and of a whole path, most file systems accept
NAME_MAX, PATH_MAX = 255, 4096


def check_path_text(value: str, what: str = "") -> str:
    """``value`` if the operating system can take it as a path: no NUL character, no part
    longer than 255 bytes, at most 4096 bytes in all. Raises ``ValueError`` (``ConfigError``
    when ``what`` names the path for the message) before anything is created."""
    text = str(value)
    problem = ""
    if "\x00" in text:
        problem = "a path cannot hold a NUL character"
    elif len(text.encode("utf-8", "surrogateescape")) > PATH_MAX:
        problem = f"a path is at most {PATH_MAX} bytes long"
    else:
        longest = max(text.split("/"), key=lambda part: len(part.encode("utf-8", "replace")))
        if len(longest.encode("utf-8", "replace")) > NAME_MAX:
            problem = (
                f"a file or folder name is at most {NAME_MAX} bytes long; "
                f"{quote(longest, 40)} is longer"
            )
    if problem and what:
        raise ConfigError(f"{what}: {problem}")
    if problem:
        raise ValueError(problem)
    return value


def to_yaml(config: RunConfig) -> str:
    import yaml

    return yaml.safe_dump(config.model_dump(), sort_keys=False)
