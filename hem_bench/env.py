"""Provenance of a run, for its record's ``env``: versions of the interpreter, of every
package the run relies on, the devices, and the source commit when run from a checkout.

``packages`` lists the installed distributions this project requires (read from its own
metadata, so it follows ``pyproject.toml``: timm, torchattacks, pytorch-ood,
segmentation-models-pytorch, ...), plus the optional ones a run used (its loggers). The git
commit is read with ``git rev-parse HEAD`` when the imported package lives in a git work
tree (an editable install of a checkout); ``git_dirty`` says whether tracked files differ
from that commit. An installed wheel has no commit; the version then identifies it.

``cpu`` names the processor and ``cpu_capability`` the vector instructions torch's CPU
kernels chose on it (``AVX512``, ``AVX2``, ...; ``torch.backends.cpu``). They are part of
what a run was: the same run (same code, versions, seed and thread count) trains to
slightly different weights on a processor with other vector instructions, because the
kernels round differently; every metric then moves a little. The run id leaves them out
(a run is the same experiment anywhere); the record keeps them, so that a difference can be
traced to the machine.
"""

from __future__ import annotations

import platform
import re
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

DISTRIBUTION = "hem-bench"
#: packages a run may use beyond the requirements (recorded when installed)
OPTIONAL = ("tensorboard", "wandb", "mlflow-skinny", "mlflow")


def _requirement_names() -> list[str]:
    try:
        requires = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        requires = []
    names = []
    for line in requires:
        if "extra ==" in line:  # test tools and optional loggers are added below if present
            continue
        name = re.split(r"[\s\[<>=!~;(]", line, maxsplit=1)[0]
        if name:
            names.append(name)
    return names


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """``{distribution: version}`` for the project's requirements and ``extra``, sorted,
    leaving out what is not installed."""
    versions = {}
    for name in sorted({*_requirement_names(), *OPTIONAL, *extra}, key=str.lower):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@lru_cache(maxsize=1)
def cpu_name() -> str:
    """The processor's name: the ``model name`` of ``/proc/cpuinfo`` on Linux, else what
    :func:`platform.processor` says ('' when nothing says)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor()


@lru_cache(maxsize=1)
def git_state() -> dict[str, Any]:
    """``{"git_commit": sha, "git_dirty": bool}`` when this package is in a git checkout,
    else ``{}``."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return {}
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        return {}
    return {"git_commit": commit, "git_dirty": bool(status.strip())}


def environment() -> dict[str, Any]:
    """Versions, devices and source commit, for the record."""
    import lightning
    import torch

    from hem_bench.version import __version__

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hem_bench": __version__,
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "cpu_threads": torch.get_num_threads(),
        "cpu": cpu_name(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        **git_state(),
        "packages": package_versions(),
    }
    try:
        from hem_bench.losses.hem import kernel_available

        env["hem_kernel"] = kernel_available()
    except ImportError:  # pragma: no cover
        pass
    return env
