"""The Python interface (``hem_bench.list_losses``, ``create_loss``, ``run``, ...): the same
checks and run folders as the command line, and the README's example, run as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import hem_bench
from hem_bench.errors import HemBenchError
from tests.helpers import REPO


def test_import_is_light():
    code = "import sys, hem_bench; hem_bench.__version__; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_listings_filter_by_pattern():
    from hem_bench.losses import available_losses

    assert hem_bench.list_losses() == available_losses()
    assert hem_bench.list_losses("hem*") == ["hem", "hem-plus"]
    assert hem_bench.list_losses("*margin*") == [n for n in available_losses() if "margin" in n]
    assert hem_bench.list_losses("nothing*") == []
    assert set(hem_bench.list_tasks()) == {
        "adversarial",
        "classify",
        "continual",
        "imbalanced",
        "ood",
        "segmentation",
    }
    assert hem_bench.list_tasks("c*") == ["classify", "continual"]
    assert "resnet18-cifar" in hem_bench.list_models("resnet*")
    assert hem_bench.list_datasets("*mnist") == ["fashion-mnist", "kmnist", "mnist"]


def test_create_loss_computes_the_registered_loss():
    logits = torch.randn(16, 5, generator=torch.Generator().manual_seed(0))
    target = torch.arange(16) % 5
    ce = hem_bench.create_loss("ce")
    assert torch.allclose(ce(logits, target), F.cross_entropy(logits, target))
    focal = hem_bench.create_loss("focal", gamma=3.0)
    p = F.softmax(logits, 1)[torch.arange(16), target]
    assert torch.allclose(focal(logits, target), (-((1 - p) ** 3) * p.log()).mean(), atol=1e-6)
    with pytest.raises(ValueError, match="has no parameter 'gama'. Did you mean 'gamma'"):
        hem_bench.create_loss("focal", gama=3.0)
    with pytest.raises(KeyError, match="unknown loss 'hemm'"):
        hem_bench.create_loss("hemm")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"loss": "nope"}, "unknown loss 'nope'"),
        ({"max_epoch": 2}, "unknown setting 'max_epoch'"),
        ({"max_epochs": 0}, "--max-epochs 0: Input should be greater than or equal to 1"),
        ({"loss_params": {"gama": 2}}, "has no parameter 'gama'"),
        ({"task_options": {"bufer": 2}}, "has no option 'bufer'"),
        ({"model": "smp/unet:resnet18"}, "is a segmentation model"),
    ],
)
def test_run_applies_the_command_line_checks(tmp_path, settings, message):
    settings = {"task": "ood", "loss": "focal", "out": str(tmp_path), **settings}
    with pytest.raises(HemBenchError, match=re.escape(message)):
        hem_bench.run(**settings)
    assert not list(tmp_path.iterdir())  # nothing started


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    text = (REPO / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "hem_bench.run(" in code and "load_results" in code
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "example").mkdir(parents=True)  # as in a checkout: a store apart
    (tmp_path / "results" / "example" / ".hem-bench-separate").write_text("")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert not [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    out = capsys.readouterr().out
    assert "['hem', 'hem-plus']" in out
    (folder,) = Path(tmp_path, "runs").iterdir()
    record = json.loads((folder / "record.json").read_text())
    assert record["task"] == "ood" and record["loss"] == "hem"
    assert record["config"]["max_epochs"] == 2
    assert {"timm", "torchattacks", "pytorch-ood", "segmentation-models-pytorch"} <= set(
        record["env"]["packages"]
    )
    frame = hem_bench.load_results(tmp_path / "runs")
    assert len(frame) == 1
    assert frame.loc[0, "auroc"] == pytest.approx(record["metrics"]["auroc"])
    assert f"{record['metrics']['auroc']:.6f}"[:5] in out  # the printed frame holds it
    # the CLI recognises the API's run as the same experiment
    from hem_bench.cli import main

    assert (
        main(["run", "--task", "ood", "--loss", "hem", "--max-epochs", "2", "--out", "runs"]) == 0
    )
    assert f"already completed (run {record['run_id']})" in capsys.readouterr().err
