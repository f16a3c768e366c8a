"""A record's ``env``: the versions of every package a run relies on, and the git commit of
the checkout it was run from."""

from __future__ import annotations

import shutil
import subprocess
from importlib import metadata

import pytest

from hem_bench.env import environment, git_state, package_versions
from tests.helpers import REPO


def test_env_holds_the_versions_of_the_packages_a_run_uses():
    import segmentation_models_pytorch
    import timm
    import torchattacks

    env = environment()
    packages = env["packages"]
    assert packages["timm"] == timm.__version__
    assert packages["torchattacks"] == torchattacks.__version__
    assert packages["segmentation-models-pytorch"] == segmentation_models_pytorch.__version__
    assert packages["pytorch-ood"] == metadata.version("pytorch-ood")
    for requirement in metadata.requires("hem-bench"):
        if "extra ==" not in requirement:
            name = requirement.split(">")[0].split("=")[0].split("<")[0].strip()
            assert name in packages, f"{name} missing from env['packages']"
    assert "pytest" not in packages  # the test extra is not part of a run
    assert env["torch"].startswith(packages["torch"])


def test_optional_packages_are_recorded_only_when_installed():
    versions = package_versions(extra=("surely-not-installed-package",))
    assert "surely-not-installed-package" not in versions


@pytest.mark.skipif(
    not (REPO / ".git").exists() or shutil.which("git") is None, reason="not a git checkout"
)
def test_env_holds_the_git_commit_of_the_checkout():
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    state = git_state()
    assert state["git_commit"] == head
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert state["git_dirty"] == bool(dirty)
    assert environment()["git_commit"] == head


def test_env_names_the_processor_and_the_vector_instructions_torch_uses():
    """The same run rounds differently on processors with other vector instructions: the
    record says which it ran on."""
    import platform
    from pathlib import Path

    import torch

    env = environment()
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability() != ""
    if platform.system() == "Linux" and Path("/proc/cpuinfo").is_file():
        names = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        assert env["cpu"] == (names[0] if names else platform.processor())
