"""Plugins for real: a single file given with --plugin, and an installed distribution that
declares the entry-point group ``hem_bench.losses`` (a dist-info on a temporary path)."""

from __future__ import annotations

import json
import os
import textwrap

from tests.helpers import run_cli

PLUGIN_SOURCE = textwrap.dedent(
    '''
    """A scaled cross-entropy, registered from a plugin file."""
    import torch.nn.functional as F

    from hem_bench.losses import ClassificationLoss, LossInfo, Paper, register_loss


    @register_loss(
        "scaled-ce",
        info=LossInfo(
            summary="cross-entropy times a factor",
            paper=Paper(title="A plugin", authors="Doe", venue="none", year=2024,
                        url="https://example.org/plugin"),
        ),
    )
    class ScaledCE(ClassificationLoss):
        """Cross-entropy times ``factor`` (Doe 2024)."""

        def __init__(self, factor: float = 2.0, reduction="mean", ignore_index=-100):
            super().__init__(reduction=reduction, ignore_index=ignore_index)
            self.factor = factor

        def per_example(self, logits, target):
            return self.factor * F.cross_entropy(logits, target, reduction="none")
    '''
)

CHECK_LOSS = textwrap.dedent(
    """
    import sys, torch, torch.nn.functional as F
    from hem_bench.losses import get_loss
    from hem_bench.plugins import load_plugin_files
    load_plugin_files(sys.argv[1:])
    y, t = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    loss = get_loss("{name}", factor=3.0)
    assert abs(loss(y, t).item() - 3.0 * F.cross_entropy(y, t).item()) < 1e-5
    # the parameter model derived from the plugin's signature types and checks values
    from hem_bench.losses import parse_loss_params
    assert parse_loss_params("{name}", {{"factor": "3"}}) == {{"factor": 3.0}}
    try:
        get_loss("{name}", factor="three")
    except ValueError as exc:
        assert "loss parameter factor='three' of '{name}' must be of type float" in str(exc)
        assert "Its parameters: factor (default 2.0)" in str(exc)
    else:
        raise AssertionError("factor='three' was accepted")
    print("ok")
    """
)


def _losses_json(proc):
    assert proc.returncode == 0, proc.stderr
    return {row["name"]: row for row in json.loads(proc.stdout)}


def test_plugin_file_is_listed_and_usable(tmp_path):
    plugin = tmp_path / "my_losses.py"
    plugin.write_text(PLUGIN_SOURCE)
    rows = _losses_json(run_cli("losses", "--format", "json", "--plugin", str(plugin)))
    assert rows["scaled-ce"]["parameters"] == {"factor": 2.0}
    assert rows["scaled-ce"]["paper"] == "Doe" and rows["scaled-ce"]["year"] == 2024
    assert "hem" in rows
    import subprocess
    import sys

    check = subprocess.run(
        [sys.executable, "-c", CHECK_LOSS.format(name="scaled-ce"), str(plugin)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0 and "ok" in check.stdout, check.stderr


def test_plugin_file_that_fails_to_import_warns_and_builtins_keep_working(tmp_path):
    plugin = tmp_path / "broken.py"
    plugin.write_text("raise RuntimeError('boom at import')\n")
    proc = run_cli("losses", "--format", "json", "--plugin", str(plugin))
    assert proc.returncode == 0
    assert "could not load plugin" in proc.stderr and "broken.py" in proc.stderr
    assert "boom at import" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "hem" in _losses_json(proc)


def test_missing_plugin_file_is_a_usage_error(tmp_path):
    proc = run_cli("losses", "--plugin", str(tmp_path / "absent.py"))
    assert proc.returncode == 2
    assert "absent.py" in proc.stderr and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def _write_distribution(root, package, entry_points, body):
    (root / package).mkdir()
    (root / package / "__init__.py").write_text(body)
    dist_info = root / f"{package}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[hem_bench.losses]\n" + entry_points)
    (dist_info / "RECORD").write_text("")


def test_entry_point_plugin_from_an_installed_distribution(tmp_path):
    body = PLUGIN_SOURCE.replace(
        '@register_loss(\n    "scaled-ce",', '@register_loss(\n    "ep-scaled-ce",'
    )
    _write_distribution(
        tmp_path, "hembench_demo_plugin", "ep-scaled-ce = hembench_demo_plugin\n", body
    )
    # a second distribution names a loss class, registered under the entry point's name
    class_body = textwrap.dedent(
        """
        import torch.nn.functional as F
        from hem_bench.losses import ClassificationLoss


        class ScaledCE(ClassificationLoss):
            \"\"\"Cross-entropy times ``factor``.\"\"\"

            def __init__(self, factor: float = 2.0, reduction="mean", ignore_index=-100):
                super().__init__(reduction=reduction, ignore_index=ignore_index)
                self.factor = factor

            def per_example(self, logits, target):
                return self.factor * F.cross_entropy(logits, target, reduction="none")
        """
    )
    _write_distribution(
        tmp_path, "hembench_class_plugin", "class-ce = hembench_class_plugin:ScaledCE\n", class_body
    )
    env = {"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    rows = _losses_json(run_cli("losses", "--format", "json", env=env))
    assert rows["ep-scaled-ce"]["parameters"] == {"factor": 2.0}
    assert rows["class-ce"]["parameters"] == {"factor": 2.0}
    import subprocess
    import sys

    for name in ("ep-scaled-ce", "class-ce"):
        check = subprocess.run(
            [sys.executable, "-c", CHECK_LOSS.format(name=name)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **env},
        )
        assert check.returncode == 0 and "ok" in check.stdout, check.stderr


def test_broken_entry_point_warns_and_builtins_keep_working(tmp_path):
    _write_distribution(
        tmp_path,
        "hembench_broken_plugin",
        "broken-loss = hembench_broken_plugin:Missing\n",
        "x = 1\n",
    )
    env = {"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = run_cli("losses", "--format", "json", env=env)
    assert proc.returncode == 0
    assert "could not load loss plugin 'broken-loss'" in proc.stderr
    rows = _losses_json(proc)
    assert "broken-loss" not in rows and "hem" in rows


TYPED_PLUGIN = textwrap.dedent(
    '''
    """A loss whose parameters are typed by its signature, one with a range."""
    from typing import Annotated

    import torch.nn.functional as F
    from pydantic import Field

    from hem_bench.losses import ClassificationLoss, register_loss


    @register_loss("typed-ce")
    class TypedCE(ClassificationLoss):
        """Cross-entropy times ``scale``, ``steps`` times, optionally halved."""

        def __init__(
            self,
            scale: Annotated[float, Field(gt=0)] = 1.0,
            steps: int = 1,
            halve: bool = False,
            note=None,
            reduction="mean",
            ignore_index=-100,
        ):
            super().__init__(reduction=reduction, ignore_index=ignore_index)
            self.factor = scale * steps * (0.5 if halve else 1.0)

        def per_example(self, logits, target):
            return self.factor * F.cross_entropy(logits, target, reduction="none")
    '''
)


def test_plugin_loss_parameters_are_checked_by_its_signature(tmp_path):
    """--loss-param and configuration files are typed and checked by the model derived
    from the plugin's constructor: types, the range of an Annotated field, one message."""
    plugin = tmp_path / "typed.py"
    plugin.write_text(TYPED_PLUGIN)
    base = ["run", "--plugin", str(plugin), "--loss", "typed-ce", "--print-config"]
    good = run_cli(
        *base,
        *("--loss-param", "scale=2", "--loss-param", "steps=3", "--loss-param", "halve=yes"),
        cwd=tmp_path,
    )
    assert good.returncode == 0, good.stderr
    import yaml

    printed = yaml.safe_load(good.stdout)
    assert printed["loss_params"] == {"scale": 2.0, "steps": 3, "halve": True, "note": None}
    # the printed configuration runs as a file: the same values, typed the same way
    (tmp_path / "config.yaml").write_text(good.stdout)
    again = run_cli(
        "run", "--config", str(tmp_path / "config.yaml"), "--print-config", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert yaml.safe_load(again.stdout)["loss_params"] == printed["loss_params"]
    accepted = (
        "Its parameters: scale (default 1.0), steps (default 1), halve (default False), "
        "note (default None); every loss also takes reduction and ignore_index."
    )
    for flag, message in (
        ("steps=2.5", "loss parameter steps='2.5' of 'typed-ce' must be of type int. "),
        ("halve=maybe", "loss parameter halve='maybe' of 'typed-ce' must be of type bool. "),
        ("scale=0", "loss parameter scale='0' of 'typed-ce' must be greater than 0. "),
        ("scal=2", "loss 'typed-ce' has no parameter 'scal'. Did you mean 'scale'? "),
    ):
        proc = run_cli(*base, "--loss-param", flag, cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout
        assert message + accepted in proc.stderr
        assert "Traceback" not in proc.stderr
