"""The Python interface, in timm's manner: registries listed by pattern, objects made by name.

>>> import hem_bench
>>> hem_bench.list_losses("hem*")
['hem', 'hem-plus']
>>> loss = hem_bench.create_loss("focal", gamma=3.0)     # a torch.nn.Module
>>> record = hem_bench.run(task="ood", loss="hem", max_epochs=2)   # the run record (dict)
>>> frame = hem_bench.load_results("results")           # one row per run (pandas)

:func:`run` goes through the same settings, checks and run folders as ``hem-bench run``:
bad input raises :class:`hem_bench.errors.HemBenchError` (a ``ValueError`` for a bad value, a
``KeyError`` for an unknown name) before anything is trained, and a configuration whose completed record exists is not run again (its record is
returned) unless ``force=True``. These functions are reached as ``hem_bench.<name>``; the
package imports this module only when one of them is first used, so ``import hem_bench``
and ``hem-bench --help`` stay light.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

__all__ = [
    "create_loss",
    "list_datasets",
    "list_losses",
    "list_models",
    "list_tasks",
    "load_results",
    "run",
]


def _match(names: list[str], pattern: str | None) -> list[str]:
    if pattern is not None and not isinstance(pattern, str):
        from hem_bench.errors import ConfigError, quote

        raise ConfigError(
            f"pattern must be a text such as 'hem*' (or None for all); got {quote(pattern)}"
        )
    if not pattern:
        return list(names)
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def list_losses(pattern: str | None = None) -> list[str]:
    """Names of the registered losses, sorted; ``pattern`` is a shell-style filter
    (``"hem*"``). Losses registered by plugins are included once their file is loaded."""
    from hem_bench.losses import available_losses

    return _match(available_losses(), pattern)


def create_loss(name: str, **params: Any):
    """The loss ``name`` as a ``torch.nn.Module``, called as ``loss(logits, target)``.

    ``params`` are the loss's parameters (``hem_bench.losses.loss_info(name).params``) and
    ``reduction`` / ``ignore_index``; losses that need class counts take ``class_counts``.
    An unknown name or parameter raises an error listing what is accepted.
    """
    from hem_bench.losses import get_loss

    return get_loss(name, **params)


def list_tasks(pattern: str | None = None) -> list[str]:
    """Names of the tasks (``classify``, ``ood``, ...), sorted, filtered by ``pattern``."""
    from hem_bench.tasks import available_tasks

    return _match(sorted(available_tasks()), pattern)


def list_datasets(pattern: str | None = None) -> list[str]:
    """Names of the registered data sets, filtered by ``pattern``."""
    from hem_bench.datamodules.base import available_datasets

    return _match(available_datasets(), pattern)


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the built-in models, filtered by ``pattern``; any ``timm/<name>`` and, for
    segmentation, ``smp/<arch>:<encoder>`` are accepted as well."""
    from hem_bench.models import available_models

    return _match([m for m in available_models() if "<" not in m], pattern)


def run(
    task: str | None = None,
    loss: str | None = None,
    *,
    config: str | Path | None = None,
    force: bool = False,
    resume: bool = False,
    **settings: Any,
) -> dict[str, Any]:
    """Train and evaluate one model, as ``hem-bench run`` does; returns the run record.

    ``settings`` are those of the command line and of ``--print-config``'s output
    (``max_epochs=2``, ``seed=1``, ``head="cosine"``, ``loss_params={"gamma": 3}``,
    ``task_options={"buffer": 50}``, ``out="results"``, ``loggers=["csv", "tensorboard"]``,
    ...); ``config`` is a YAML settings file that ``task``, ``loss`` and ``settings``
    override (``task`` and ``loss`` only when given: the file's own are kept otherwise; with
    neither, ``ood`` and ``ce``). A configuration already completed under ``out`` is not run
    again: its record is returned, unless ``force``. ``resume`` and ``force`` behave as
    ``--resume`` and ``--force``. Bad input raises :class:`~hem_bench.errors.HemBenchError`
    before any training (a record that cannot be read, an interrupted run that needs
    ``resume`` or ``force``, included); a run that fails while training raises
    :class:`hem_bench.runner.RunFailed` after writing a failed record.
    """
    from hem_bench.checks import resolve_settings
    from hem_bench.errors import ConfigError
    from hem_bench.runner import AlreadyCompleted
    from hem_bench.runner import run as run_one

    for name, value in (("force", force), ("resume", resume)):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be True or False; got {value!r}")
    overrides = dict(settings)
    overrides.update({k: v for k, v in (("task", task), ("loss", loss)) if v is not None})
    overrides.setdefault("progress", False)
    resolved = resolve_settings(config, overrides)
    try:
        record, _ = run_one(resolved, resume=resume, force=force)
    except AlreadyCompleted as done:
        return done.record
    return record


def load_results(path: str | Path = "results"):
    """Every completed run record under ``path`` as a pandas DataFrame, one row per run:
    the run's columns (task, dataset, model, loss, seed, headline, ...) then one column per
    metric. Records left out (failed runs, other schema versions, invalid files) are named
    in a warning; :func:`hem_bench.results.store.load_results` gives the details."""
    from hem_bench.errors import ConfigError, quote
    from hem_bench.results.store import load_results as load

    if not isinstance(path, (str, Path)):
        raise ConfigError(f"path must name a results folder; got {quote(path)}")
    return load(path).frame
