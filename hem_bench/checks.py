"""The one validation of a run's settings, below the command line.

``hem-bench run``, ``hem-bench sweep`` (every cell of the grid) and :func:`hem_bench.run`
all resolve their settings through :func:`resolve_settings`, so a setting is checked the
same way whichever door it came in by, and always before any data is loaded:

1. :meth:`RunConfig.from_sources <hem_bench.config.RunConfig.from_sources>`: every field
   typed and range-checked (pydantic; finite limits in :data:`hem_bench.config.LIMITS`);
2. :meth:`RunConfig.resolve <hem_bench.config.RunConfig.resolve>`: names against the
   registries, the task's recipe, its options, the loss's parameters;
3. :func:`check_resolved`: the loss built once with its parameters, the model's name, the
   loggers' packages, the run folder's path, and :func:`check_engine`: accelerator,
   precision, strategy and devices against this machine.

What can only be known once data is read stops the run the same way (a data set missing
or corrupt: :class:`~hem_bench.errors.DataNotFoundError`, exit code 2, no record); what can
only be known while training (a loss that diverges) fails the run with a failed record and
exit code 1.

Imports neither torch nor lightning at import time.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

from hem_bench.config import ResolvedConfig, RunConfig, check_path_text
from hem_bench.errors import ConfigError

#: strategies that need CUDA GPUs
CUDA_STRATEGIES = ("fsdp",)
#: precisions that cast the weights to half precision (refused: see :func:`check_engine`)
HALF_WEIGHTS = ("16-true", "bf16-true")


def resolve_settings(
    config_file: str | None, overrides: dict[str, Any], config_class: type[RunConfig] = RunConfig
) -> ResolvedConfig:
    """The resolved configuration of a settings file (optional) and ``overrides`` (flags,
    or the keyword arguments of :func:`hem_bench.run`), with every check; raises
    :class:`~hem_bench.errors.HemBenchError` for bad input. ``config_class``: a subclass of
    :class:`RunConfig` that declares more settings."""
    if config_file is not None and not isinstance(config_file, (str, os.PathLike)):
        raise ConfigError(
            f"config must be the path of a YAML file; got {type(config_file).__name__}"
        )
    config = config_class.from_sources(config_file, overrides)
    resolved = config.resolve()  # loss parameters checked and typed by the loss's model
    check_resolved(resolved)
    return resolved


def check_resolved(resolved: ResolvedConfig) -> None:
    """The checks that need the resolved settings (see the module docstring)."""
    from hem_bench.loggers import check_loggers
    from hem_bench.losses import check_loss_params
    from hem_bench.models import check_model_name

    check_loss_params(resolved.loss, resolved.loss_params)
    check_model_name(resolved.model, resolved.task_def.kind)
    check_engine(resolved)
    check_loggers(resolved.loggers)
    check_path_text(str(resolved.run_dir()), "the run folder")


@dataclass(frozen=True)
class Machine:
    """What this machine offers a run: CUDA GPUs, Apple's MPS, CPU cores."""

    cuda_devices: int
    cuda_bf16: bool
    mps: bool
    cpu_cores: int

    @classmethod
    def here(cls) -> Machine:
        return _this_machine()


@functools.lru_cache(maxsize=1)
def _this_machine() -> Machine:
    """Looked up once per process (a sweep checks every cell against it)."""
    import torch

    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return Machine(
        cuda_devices=cuda,
        cuda_bf16=bool(cuda) and torch.cuda.is_bf16_supported(),
        mps=torch.backends.mps.is_available(),
        cpu_cores=os.cpu_count() or 1,
    )


def effective_accelerator(accelerator: str, machine: Machine) -> str:
    """``cpu``, ``cuda`` or ``mps``: what Lightning will run on for ``--accelerator``."""
    if accelerator in ("gpu", "cuda"):
        if not machine.cuda_devices:
            raise ConfigError(
                f"--accelerator {accelerator}: no CUDA GPU is available here; use "
                "--accelerator cpu or auto"
            )
        return "cuda"
    if accelerator == "mps":
        if not machine.mps:
            raise ConfigError(
                "--accelerator mps: Apple's MPS is not available here; use cpu or auto"
            )
        return "mps"
    if accelerator == "auto":
        return "cuda" if machine.cuda_devices else "mps" if machine.mps else "cpu"
    return "cpu"


def check_engine(config: RunConfig, machine: Machine | None = None) -> str:
    """Accelerator, devices, strategy and precision checked against ``machine`` (this one
    by default), so that what the record states is what runs: nothing Lightning would
    swap for something else (``16-mixed`` on a CPU becomes ``bf16-mixed``), refuse only
    once training started (``fsdp`` on a CPU), or hang (``ddp_notebook``). Returns the
    accelerator the run will use (``cpu``, ``cuda`` or ``mps``)."""
    machine = machine or Machine.here()
    where = effective_accelerator(config.accelerator, machine)
    devices, strategy, precision = config.devices, config.strategy, config.precision
    if strategy == "ddp_notebook":
        raise ConfigError(
            "--strategy ddp_notebook forks this process after torch has started its threads, "
            "which can hang for good outside a Jupyter notebook; use --strategy ddp (or "
            "ddp_spawn), which starts fresh processes"
        )
    if strategy in CUDA_STRATEGIES and where != "cuda":
        raise ConfigError(
            f"--strategy {strategy} needs CUDA GPUs; this run would use the {where.upper()}: "
            "use --strategy ddp (or auto)"
        )
    if precision in HALF_WEIGHTS:
        raise ConfigError(
            f"--precision {precision} keeps the weights themselves in half precision, which "
            "the suite's evaluations outside Lightning's loop (the OOD detectors, the attacks) "
            "do not support: use "
            + ("16-mixed or bf16-mixed" if where == "cuda" else "bf16-mixed")
            + " (half-precision arithmetic, float32 weights), or 32-true"
        )
    listed = isinstance(devices, str) and devices != "auto"
    if where == "cpu":
        if listed:
            raise ConfigError(
                f"--devices {devices} lists GPU indices; on a CPU give a number of processes "
                "(--devices 2) or 'auto'"
            )
        if isinstance(devices, int) and devices > machine.cpu_cores:
            raise ConfigError(
                f"--devices {devices}: this machine has {machine.cpu_cores} CPU cores; give "
                f"at most {machine.cpu_cores} processes"
            )
        if precision in ("16-mixed", "16"):
            raise ConfigError(
                f"--precision {precision} (float16 autocast) needs a CUDA GPU; on a CPU "
                "Lightning would train in bf16-mixed instead: ask for --precision bf16-mixed, "
                "or 32-true"
            )
    if where == "cuda":
        indices = [int(p) for p in devices.split(",")] if listed else []
        wanted = devices if isinstance(devices, int) else len(indices)
        if any(i >= machine.cuda_devices for i in indices) or wanted > machine.cuda_devices:
            raise ConfigError(
                f"--devices {devices}: this machine has {machine.cuda_devices} CUDA "
                f"GPU{'s' if machine.cuda_devices != 1 else ''} (indices 0 to "
                f"{machine.cuda_devices - 1})"
            )
        if precision.startswith("bf16") and not machine.cuda_bf16:
            raise ConfigError(
                f"--precision {precision}: this GPU has no bfloat16 support; use 16-mixed or "
                "32-true"
            )
    return where


def limits_text() -> str:
    """The limits of the numeric settings as one sentence (the README quotes it; a test
    checks that the two agree)."""
    from hem_bench.config import LIMITS
    from hem_bench.losses._base import PARAM_MAX
    from hem_bench.settings import flag_of
    from hem_bench.tasks.ood import NOISE_MAX
    from hem_bench.tasks.options import EPS_MAX

    def number(value: float) -> str:
        return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"

    # a setting of a --config file only is named as it is written there
    flags = {key: flag_of(RunConfig, key) for key in LIMITS if key in RunConfig.model_fields}
    parts = [f"`{flag}` at most {number(LIMITS[key])}" for key, flag in flags.items()]
    parts += [
        f"every numeric loss parameter at most {number(PARAM_MAX)}",
        f"attack budgets at most {number(EPS_MAX['linf'])} (L-inf) or {number(EPS_MAX['l2'])} (L2)",
        f"`noise_count` at most {number(NOISE_MAX)}",
    ]
    return ", ".join(parts)
