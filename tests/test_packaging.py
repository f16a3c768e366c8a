"""Packaging: tasks/ and datamodules/ install as hem_bench.tasks and hem_bench.datamodules,
for a regular and an editable install; the README's test command is what CI runs."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers import REPO

FIND = (
    "import importlib.util, json, sys\n"
    "{prelude}\n"
    "print(json.dumps({{name: importlib.util.find_spec(name).origin for name in "
    "('hem_bench', 'hem_bench.tasks', 'hem_bench.datamodules', 'hem_bench.losses')}}))\n"
    "print('tasks' in sys.modules or 'datamodules' in sys.modules)\n"
)


def _pip(*args, cwd=REPO):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--ignore-installed",
            "-q",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _find_specs(site_dir: Path, tmp_path: Path) -> dict:
    import json

    prelude = f"import site; site.addsitedir({str(site_dir)!r})"
    proc = subprocess.run(
        [sys.executable, "-S", "-c", FIND.format(prelude=prelude)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[1] == "False"  # nothing generic such as `tasks` is importable
    return json.loads(lines[0])


@pytest.mark.slow
def test_regular_install_maps_tasks_and_datamodules(tmp_path):
    target = tmp_path / "site"
    _pip("--target", str(target), str(REPO))
    origins = _find_specs(target, tmp_path)
    assert origins["hem_bench.tasks"] == str(target / "hem_bench" / "tasks" / "__init__.py")
    assert origins["hem_bench.datamodules"] == str(
        target / "hem_bench" / "datamodules" / "__init__.py"
    )
    assert not (target / "tasks").exists() and not (target / "datamodules").exists()


@pytest.mark.slow
def test_editable_install_maps_tasks_and_datamodules(tmp_path):
    prefix = tmp_path / "prefix"
    _pip("--prefix", str(prefix), "-e", str(REPO))
    site_dir = Path(
        sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)})
    )
    origins = _find_specs(site_dir, tmp_path)
    assert origins["hem_bench.tasks"] == str(REPO / "tasks" / "__init__.py")
    assert origins["hem_bench.datamodules"] == str(REPO / "datamodules" / "__init__.py")
    assert origins["hem_bench.losses"] == str(REPO / "hem_bench" / "losses" / "__init__.py")


def _quickstart_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", section, flags=re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    return [c for c in commands if not c.startswith("#")]


def test_readme_quickstart_has_exactly_two_commands():
    commands = _quickstart_commands()
    assert len(commands) == 2, commands
    assert commands[0].startswith("pip install ") and "hem-bench " in commands[0]
    assert commands[1].startswith("pip install ") and "[test]" in commands[1]


def test_ci_runs_the_readme_test_command_as_written():
    test_command = _quickstart_commands()[1]
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_every_package_directory_is_declared():
    """A new subpackage must be listed in pyproject.toml, or installs would miss it."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for package, folder in mapping.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            found.add(".".join([package, *rel.parts]))
    assert found == declared, f"declare {sorted(found - declared)}; drop {sorted(declared - found)}"
