"""Plugins: single files (``--plugin path/to/file.py``) that register losses.

A plugin file is imported as a module; it registers what it provides with
:func:`hem_bench.losses.register_loss`. Installed packages use the entry-point group
``hem_bench.losses`` instead (see :mod:`hem_bench.losses._registry`).

A file that does not exist is an error (the user named it). A file that fails while
importing gives a :class:`PluginWarning` naming it, and everything built
in keeps working.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from hem_bench.errors import ConfigError


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = "".join(ch if ch.isalnum() else "_" for ch in path.stem)
    return f"hem_bench_plugin_{stem}_{digest}"


class PluginWarning(UserWarning):
    """A plugin could not be loaded; everything built in keeps working."""


def load_plugin_file(path: str | Path) -> ModuleType | None:
    """Import the plugin at ``path`` once; ``None`` (with a warning) if its import fails."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise ConfigError(f"plugin file {str(path)!r} does not exist (expected a .py file)")
    if resolved.suffix != ".py":
        raise ConfigError(f"plugin file {str(path)!r} is not a Python file (.py)")
    name = _module_name(resolved)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise ConfigError(f"plugin file {str(path)!r} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        warnings.warn(
            f"hem-bench: could not load plugin {str(path)!r}: {type(exc).__name__}: {exc}",
            PluginWarning,
            stacklevel=2,
        )
        return None
    return module


def load_plugin_files(paths: Iterable[str | Path]) -> list[ModuleType]:
    """Import every plugin file in ``paths``; those that fail are skipped with a warning."""
    return [m for m in (load_plugin_file(p) for p in paths) if m is not None]


def load_entry_points(group: str, kind: str, warning: type[Warning], register) -> None:
    """Load every entry point of ``group`` (installed packages' ``kind`` plugins) and hand
    each to ``register(entry_point, loaded_object)``. An entry point that fails to load or to
    register gives one ``warning`` naming it; the built-in ones keep working."""
    from importlib import metadata

    for ep in metadata.entry_points(group=group):
        try:
            register(ep, ep.load())
        except Exception as exc:  # a broken plugin must not break the built-ins
            warnings.warn(
                f"hem-bench: could not load {kind} plugin {ep.name!r} ({ep.value}): "
                f"{type(exc).__name__}: {exc}",
                warning,
                stacklevel=3,
            )
