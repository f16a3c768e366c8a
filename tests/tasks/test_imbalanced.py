"""The imbalanced task: the long tail, class counts reaching the loss, the metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hem_bench.cli import main
from hem_bench.config import RunConfig
from hem_bench.datamodules.splits import long_tail_counts
from hem_bench.metrics.classification import shot_groups
from hem_bench.runner import build_datamodule, build_task
from tests.datamodules.test_real_formats import write_cifar10
from tests.tasks.helpers import record_of

QUICK = ["--max-epochs", "2", "--no-progress"]


def test_shot_groups_partition_the_classes():
    counts = long_tail_counts(500, 100, 100)  # CIFAR-100-LT: Liu et al.'s thresholds apply
    groups, rule = shot_groups(counts)
    assert rule.startswith("Liu")
    assert sorted(sum(groups.values(), [])) == list(range(100))
    assert all(counts[c] > 100 for c in groups["many"]) and all(
        counts[c] < 20 for c in groups["few"]
    )
    digits = long_tail_counts(107, 10, 10)  # one class above 100: thirds instead
    groups, rule = shot_groups(digits)
    assert rule.startswith("thirds")
    assert groups == {"many": [0, 1, 2], "medium": [3, 4, 5, 6], "few": [7, 8, 9]}
    groups, _ = shot_groups([5, 50, 20, 40, 10, 30])  # order by frequency, not index
    assert groups == {"many": [1, 3], "medium": [2, 5], "few": [0, 4]}
    groups, rule = shot_groups(long_tail_counts(5000, 10, 100))  # CIFAR-10-LT: no few-shot class
    assert (
        rule.startswith("Liu")
        and groups["few"] == []
        and len(groups["many"]) + len(groups["medium"]) == 10
    )


def test_class_counts_of_the_long_tail_reach_the_loss():
    config = RunConfig(task="imbalanced", loss="hem-plus").resolve()
    dm = build_datamodule(config)
    dm.setup()
    task = build_task(config, dm)
    counts = dm.class_counts
    assert counts == long_tail_counts(min(torch.bincount(dm.raw.train.labels).tolist()), 10, 10.0)
    assert counts[0] / counts[-1] == pytest.approx(10, rel=0.1)
    assert task.loss.class_counts.tolist() == counts
    margins = task.loss.class_margins.numpy()
    np.testing.assert_allclose(margins, np.sqrt(np.mean(counts) / np.array(counts)), rtol=1e-6)


@pytest.mark.parametrize("loss", ["hem-plus", "ldam", "balanced-softmax"])
def test_imbalanced_run(tmp_path, loss):
    assert (
        main(["run", "--task", "imbalanced", "--loss", loss, *QUICK, "--out", str(tmp_path)]) == 0
    )
    record = record_of(tmp_path)
    m = record["metrics"]
    assert record["headline"]["name"] == "balanced_acc"
    per_class = [m[f"class_acc/{c}"] for c in range(10)]
    assert m["balanced_acc"] == pytest.approx(np.mean(per_class))
    groups = record["groups"]
    for name in ("many", "medium", "few"):
        assert m[f"group/{name}/acc"] == pytest.approx(
            np.mean([per_class[c] for c in groups[name]])
        )
    assert groups["rule"].startswith("thirds")
    assert sorted(groups["many"] + groups["medium"] + groups["few"]) == list(range(10))
    counts = record["class_counts"]
    assert counts == sorted(counts, reverse=True) and counts[0] / counts[-1] == pytest.approx(
        10, rel=0.1
    )
    assert record["imbalance"] == {"ratio": 10.0, "kind": "exp"}
    assert 0 <= m["macro_f1"] <= 1


def test_macro_f1_agrees_with_scikit_learn(tmp_path):
    from sklearn.metrics import f1_score

    assert (
        main(["run", "--task", "imbalanced", "--loss", "ce", *QUICK, "--out", str(tmp_path)]) == 0
    )
    record = record_of(tmp_path)
    config = RunConfig(
        **{k: v for k, v in record["config"].items() if k in RunConfig.model_fields}
    ).resolve()
    dm = build_datamodule(config)
    dm.setup()
    task = build_task(config, dm)
    task.model.load_state_dict(torch.load(next(tmp_path.glob("*/model.pt")), weights_only=True))
    task.model.eval()
    with torch.no_grad():
        predictions = task.model(dm.test_set.float_images()).argmax(1)
    expected = f1_score(dm.test_set.labels.numpy(), predictions.numpy(), average="macro")
    assert record["metrics"]["macro_f1"] == pytest.approx(expected, abs=1e-6)


def test_step_imbalance_and_bad_ratio(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "--task",
                "imbalanced",
                "--task-option",
                "kind=step",
                *QUICK,
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    counts = record_of(tmp_path)["class_counts"]
    assert len(set(counts[:5])) == 1 and len(set(counts[5:])) == 1 and counts[0] // 10 == counts[-1]
    assert (
        main(
            [
                "run",
                "--task",
                "imbalanced",
                "--task-option",
                "ratio=0.5",
                *QUICK,
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 2
    )
    assert "ratio must be a finite number >= 1" in capsys.readouterr().err


def test_runs_on_cifar_format_data(tmp_path):
    write_cifar10(tmp_path, per_batch=40)
    args = [
        "run",
        "--task",
        "imbalanced",
        "--dataset",
        "cifar10",
        "--data-dir",
        str(tmp_path),
        "--no-verify",
        "--model",
        "timm/resnet10t",
        "--max-epochs",
        "1",
        "--batch-size",
        "32",
        "--no-progress",
        "--task-option",
        "ratio=2",
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(args) == 0
    record = record_of(tmp_path / "out")
    assert record["dataset"] == "cifar10" and record["imbalance"]["ratio"] == 2.0
    assert record["class_counts"][0] / record["class_counts"][-1] == pytest.approx(2, rel=0.25)
