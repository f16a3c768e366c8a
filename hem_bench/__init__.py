"""hem-bench: a benchmark suite for classification losses.

The Python interface (see :mod:`hem_bench.api`)::

    import hem_bench

    hem_bench.list_losses("hem*")                   # ['hem', 'hem-plus']
    loss = hem_bench.create_loss("focal", gamma=3.0)
    record = hem_bench.run(task="ood", loss="hem", max_epochs=2)
    frame = hem_bench.load_results("results")

The package is import-light on purpose: `import hem_bench` (and `hem-bench --help`) does not
import torch or lightning; the functions of :mod:`hem_bench.api` import them when first
called. The loss registry lives in :mod:`hem_bench.losses`.
"""

from __future__ import annotations

from typing import Any

#: functions of :mod:`hem_bench.api`, reached as ``hem_bench.<name>`` (the module itself
#: imports nothing heavy at the top: torch comes with the first call)
from hem_bench.api import __all__ as _API  # noqa: E402
from hem_bench.version import __version__

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from hem_bench import api

        return getattr(api, name)
    raise AttributeError(f"module 'hem_bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
