"""``hem-bench run`` end to end: both tasks, records, determinism, resume, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from hem_bench.cli import main
from hem_bench.config import RunConfig
from tests.helpers import run_cli

FAST = ["--max-epochs", "2", "--no-progress"]
RECORD_KEYS = {
    "schema_version",
    "run_id",
    "status",
    "task",
    "dataset",
    "model",
    "loss",
    "loss_params",
    "seed",
    "config",
    "metrics",
    "headline",
    "timings",
    "env",
    "started_at",
    "finished_at",
}


def record_of(out: Path) -> dict:
    (path,) = out.glob("*/record.json")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def ood_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ood")
    code = main(["run", "--task", "ood", "--loss", "hem", "--out", str(out), *FAST])
    assert code == 0
    return out, record_of(out)


def test_ood_record_follows_the_design(ood_run):
    out, record = ood_run
    assert set(record) >= RECORD_KEYS
    assert record["status"] == "completed" and record["task"] == "ood"
    assert record["dataset"] == "digits" and record["model"] == "digits-cnn"
    assert record["loss"] == "hem" and record["loss_params"] == {"margin": 1.0}
    assert record["headline"] == {
        "name": "auroc",
        "value": record["metrics"]["auroc"],
        "higher_is_better": True,
    }
    metrics = record["metrics"]
    assert all(isinstance(v, float) for v in metrics.values())
    assert all(k == k.lower() for k in metrics)
    for detector in ("msp", "maxlogit", "energy", "mahalanobis", "vim"):
        for ood_set in ("unknown", "gaussian", "uniform"):
            for key in ("auroc", "fpr95", "aupr_in", "aupr_out"):
                value = metrics[f"{detector}/{ood_set}/{key}"]
                assert 0.0 <= value <= 1.0
    assert metrics["auroc"] == metrics["msp/unknown/auroc"]
    assert 0.5 < metrics["acc"] <= 1.0
    run_dir = next(out.glob("ood-digits-hem-seed0-*"))
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "logs" / "metrics.csv").is_file()
    assert (run_dir / "model.pt").is_file() and (run_dir / "config.yaml").is_file()
    assert record["run_id"][:8] in run_dir.name
    assert not list(run_dir.glob(".*.tmp"))  # no temporary files left behind


def test_ood_metrics_recomputed_with_scikit_learn(ood_run):
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    out, record = ood_run
    scores = np.load(next(out.glob("*/scores/ood_scores.npz")))
    for detector in ("msp", "energy", "mahalanobis", "vim"):
        id_scores = scores[f"{detector}__test"]
        for ood_set in ("unknown", "gaussian"):
            ood_scores = scores[f"{detector}__{ood_set}"]
            y_ood = np.r_[np.zeros(len(id_scores)), np.ones(len(ood_scores))]
            s = np.r_[id_scores, ood_scores]
            m = {
                k: record["metrics"][f"{detector}/{ood_set}/{k}"]
                for k in ("auroc", "fpr95", "aupr_in", "aupr_out")
            }
            assert m["auroc"] == pytest.approx(roc_auc_score(y_ood, s), abs=1e-9)
            fpr, tpr, _ = roc_curve(1 - y_ood, -s)  # in-distribution positive
            assert m["fpr95"] == pytest.approx(fpr[np.argmax(tpr >= 0.95)], abs=1e-9)
            # average precision, one step per threshold, written out from the definition
            for positive, score, key in ((y_ood, s, "aupr_out"), (1 - y_ood, -s, "aupr_in")):
                order = np.argsort(-score, kind="stable")
                ap, hits, previous = 0.0, 0, 0.0
                for rank, i in enumerate(order, 1):
                    last_of_tie = rank == len(order) or score[order[rank]] != score[i]
                    hits += positive[i]
                    if last_of_tie:
                        recall = hits / positive.sum()
                        ap += (recall - previous) * hits / rank
                        previous = recall
                assert m[key] == pytest.approx(ap, abs=1e-9)
                assert m[key] == pytest.approx(average_precision_score(positive, score), abs=1e-9)
    # the known-class test set: 6 of the 10 digit classes
    assert len(scores["msp__test"]) == pytest.approx(0.6 * 540, abs=15)


def test_same_config_is_recognised_and_not_run_again(ood_run, capsys):
    out, record = ood_run
    capsys.readouterr()
    assert main(["run", "--task", "ood", "--loss", "hem", "--out", str(out), *FAST]) == 0
    captured = capsys.readouterr()
    assert "already completed" in captured.err
    assert record_of(out)["finished_at"] == record["finished_at"]


def test_classify_run_and_determinism(tmp_path):
    args = [
        "run",
        "--task",
        "classify",
        "--loss",
        "focal",
        *FAST,
        "--task-option",
        "corruptions=gaussian_noise,contrast",
        "--task-option",
        "severities=1,5",
    ]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = record_of(tmp_path / "a"), record_of(tmp_path / "b")
    assert a["metrics"] == b["metrics"]  # same config and seed on the CPU: identical
    assert a["run_id"] == b["run_id"]
    m = a["metrics"]
    assert a["headline"]["name"] == "acc" and a["headline"]["value"] == m["acc"]
    for key in ("acc", "nll", "ece", "brier", "corruption/mean_acc"):
        assert np.isfinite(m[key])
    assert set(k for k in m if k.startswith("corruption/") and k.count("/") == 3) == {
        f"corruption/{c}/{s}/{x}"
        for c in ("gaussian_noise", "contrast")
        for s in (1, 5)
        for x in ("acc", "ece")
    }
    assert m["corruption/mean_acc"] == pytest.approx(
        np.mean(
            [m[f"corruption/{c}/{s}/acc"] for c in ("gaussian_noise", "contrast") for s in (1, 5)]
        )
    )
    c = main([*args, "--out", str(tmp_path / "c"), "--seed", "1"])
    assert c == 0 and record_of(tmp_path / "c")["metrics"] != m


def test_classify_metrics_agree_with_an_independent_computation(tmp_path):
    """acc, nll, Brier and ECE recomputed from the saved model's test logits."""
    import torch

    from hem_bench.config import RunConfig
    from hem_bench.runner import build_datamodule, build_task

    assert (
        main(
            [
                "run",
                "--task",
                "classify",
                "--loss",
                "ce",
                *FAST,
                "--task-option",
                "corruptions=none",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
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
        logits = task.model(dm.test_set.float_images()).double()
    y = dm.test_set.labels
    p = logits.softmax(1)
    conf, pred = p.max(1)
    assert record["metrics"]["acc"] == pytest.approx((pred == y).double().mean().item(), abs=1e-6)
    assert record["metrics"]["nll"] == pytest.approx(
        -p[torch.arange(len(y)), y].log().mean().item(), abs=1e-5
    )
    brier = ((p - torch.nn.functional.one_hot(y, 10)) ** 2).sum(1).mean().item()
    assert record["metrics"]["brier"] == pytest.approx(brier, abs=1e-5)
    bins = torch.linspace(0, 1, 16)
    ece = 0.0
    for lo, hi in zip(bins[:-1], bins[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += (
                inside.double().mean()
                * ((pred[inside] == y[inside]).double().mean() - conf[inside].mean()).abs()
            )
    assert record["metrics"]["ece"] == pytest.approx(float(ece), abs=1e-4)


def test_print_config_merges_file_and_flags(tmp_path, capsys):
    config_file = tmp_path / "run.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "task": "classify",
                "loss": "hem",
                "max_epochs": 7,
                "seed": 3,
                "loss_params": {"margin": 2.0},
            }
        )
    )
    assert main(["run", "--config", str(config_file), "--seed", "5", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["task"] == "classify" and printed["max_epochs"] == 7  # from the file
    assert printed["seed"] == 5  # the flag overrides the file
    assert printed["loss_params"] == {"margin": 2.0}
    assert printed["model"] == "digits-cnn" and printed["lr"] == 0.05  # the recipe fills the rest
    assert not list(tmp_path.glob("results"))


def test_loss_param_is_typed_by_the_loss(capsys):
    assert (
        main(
            [
                "run",
                "--loss",
                "multi-margin",
                "--loss-param",
                "p=2",
                "--loss-param",
                "margin=0.5",
                "--print-config",
            ]
        )
        == 0
    )
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["loss_params"] == {"margin": 0.5, "p": 2}


def test_class_counts_reach_losses_that_need_them(tmp_path):
    assert (
        main(["run", "--task", "ood", "--loss", "logit-adjusted", *FAST, "--out", str(tmp_path)])
        == 0
    )
    assert record_of(tmp_path)["status"] == "completed"


def test_run_ids_differ_when_the_experiment_differs():
    base = RunConfig(task="ood", loss="hem").resolve()
    assert base.run_id == RunConfig(task="ood", loss="hem", out="elsewhere").resolve().run_id
    assert base.run_id != RunConfig(task="ood", loss="hem", seed=1).resolve().run_id
    assert (
        base.run_id
        != RunConfig(task="ood", loss="hem", loss_params={"margin": 2.0}).resolve().run_id
    )


BAD_INPUT = [
    (["--task", "odd"], "unknown task 'odd'. Did you mean 'ood'"),
    (["--loss", "hemm"], "unknown loss 'hemm'"),
    (["--dataset", "cifar11"], "unknown dataset 'cifar11'"),
    (["--dataset", "digit-scenes"], "needs a classification data set"),
    (["--model", "resnet99"], "unknown model 'resnet99'"),
    (["--model", "timm/notamodel"], "unknown timm model 'notamodel'"),
    (["--max-epochs", "-3"], "--max-epochs -3: Input should be greater than or equal to 1"),
    (["--lr", "0"], "--lr 0.0: Input should be greater than 0"),
    (["--dropout", "1.5"], "--dropout 1.5: Input should be less than 1"),
    (["--loss-param", "margin"], "expected KEY=VALUE; got 'margin'"),
    (
        ["--loss-param", "margin=abc", "--loss", "hem"],
        "margin='abc' of 'hem' must be of type float",
    ),
    (["--loss-param", "gamma=2", "--loss", "hem"], "loss 'hem' has no parameter 'gamma'"),
    (["--loss-param", "margin=-1", "--loss", "hem"], "margin must be a finite number >= 0"),
    (["--config", "missing.yaml"], "config file 'missing.yaml' does not exist"),
    (["--precision", "8-bit"], "--precision '8-bit': must be one of"),
    (["--accelerator", "tpu9"], "--accelerator 'tpu9': must be one of"),
    (["--devices", "0"], "--devices '0': must be a positive number"),
    (["--task-option", "colour=red"], "task 'ood' has no option 'colour'"),
    (["--task-option", "known=many"], "task option known='many' must be of type int"),
    (["--task-option", "known=10"], "an open-set split needs 2 to 9 (the digits data set has 10"),
    (["--task", "classify", "--task-option", "corruptions=fog"], "unknown corruption 'fog'"),
    (["--dataset", "mnist"], "pass --data-dir"),
    (["--accelerator", "gpu"], "no CUDA GPU is available"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, message):
    epochs = [] if "--max-epochs" in args else ["--max-epochs", "1"]
    proc = run_cli("run", *args, *epochs, "--no-progress", "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_data_folder_exits_2(tmp_path):
    proc = run_cli(
        "run",
        "--task",
        "classify",
        "--dataset",
        "mnist",
        "--data-dir",
        str(tmp_path),
        "--no-progress",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 2
    assert "MNIST" in proc.stderr and "--download" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("task", "extra"),
    [("classify", ["--dataset", "mnist"]), ("ood", ["--task-option", "ood_sets=fashion-mnist"])],
)
def test_download_fetches_the_missing_data(tmp_path, monkeypatch, capsys, task, extra):
    """--download reaches torchvision's download for the data set (and for extra OOD
    sets); offline, its failure is one clear message and exit code 2."""
    import hem_bench.datamodules.mnist_family as real
    from hem_bench.errors import DataNotFoundError

    fetched = []

    def offline(name, data_dir, fetch):
        fetched.append((name, Path(data_dir)))
        raise DataNotFoundError(f"dataset {name!r}: download into {data_dir} failed (offline).")

    monkeypatch.setattr(real, "_download", offline)
    args = ["run", "--task", task, *extra, "--data-dir", str(tmp_path / "data")]
    args += ["--download", "--max-epochs", "1", "--no-progress", "--out", str(tmp_path / "out")]
    assert main(args) == 2
    expected = "mnist" if task == "classify" else "fashion-mnist"
    assert fetched and fetched[0][0] == expected
    assert "download into" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("noise_count=0", "noise_count must be a number of images from 1 to 10000"),
        ("ood_sets=imagenet-z", "unknown dataset 'imagenet-z'"),
        ("ood_sets=digit-scenes", "OOD set 'digit-scenes' must be an image classification"),
    ],
)
def test_bad_ood_sets_fail_before_training(tmp_path, capsys, option, message):
    args = ["run", "--task", "ood", "--task-option", option, "--no-progress"]
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.ckpt"))  # it stopped before the first epoch ended


def test_a_loss_that_cannot_serve_the_task(tmp_path):
    plugin = tmp_path / "seg_only.py"
    plugin.write_text(
        "from hem_bench.losses import ClassificationLoss, LossInfo, Paper, register_loss\n"
        "@register_loss('seg-only', info=LossInfo(summary='s', paper=Paper('t', 'a', 'v', 2020, 'https://x'), tasks={'segmentation'}))\n"
        "class SegOnly(ClassificationLoss):\n"
        "    '''A (2020).'''\n"
        "    def per_example(self, logits, target):\n"
        "        return logits.sum(1)\n"
    )
    proc = run_cli(
        "run",
        "--task",
        "classify",
        "--loss",
        "seg-only",
        "--plugin",
        str(plugin),
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 2
    assert "loss 'seg-only' cannot serve task 'classify'" in proc.stderr


#: quick settings per task for the plugin test
PLUGIN_TASKS = {
    "ood": [],
    "classify": ["--task-option", "corruptions=none"],
    "adversarial": ["--task-option", "attacks=fgsm,pgd", "--task-option", "pgd_steps=2"],
    "imbalanced": [],
    "continual": ["--task-option", "experiences=2"],
    "segmentation": ["--task-option", "scenes=train=24,val=8,test=8", "--batch-size", "8"],
}
SCALED_CE = '''
import torch.nn.functional as F
from hem_bench.losses import ClassificationLoss, LossInfo, Paper, register_loss


@register_loss("scaled-ce", info=LossInfo(summary="s", paper=Paper("t", "a", "v", 2020, "https://x")))
class Scaled(ClassificationLoss):
    """factor * CE (a 2020)."""

    def __init__(self, factor: float = 2.0, reduction="mean", ignore_index=-100):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.factor = factor

    def per_example(self, logits, target):
        return self.factor * F.cross_entropy(logits, target, reduction="none")
'''


def test_plugin_loss_runs_on_every_task(tmp_path):
    """A loss from a --plugin file runs on every task with no other change (segmentation
    passes it ignore_index=255, as it does the built-in losses)."""
    plugin = tmp_path / "scaled.py"
    plugin.write_text(SCALED_CE)
    for task, extra in PLUGIN_TASKS.items():
        proc = run_cli(
            "run",
            "--task",
            task,
            "--loss",
            "scaled-ce",
            "--loss-param",
            "factor=3",
            "--plugin",
            str(plugin),
            *extra,
            "--max-epochs",
            "1",
            "--no-progress",
            "--out",
            str(tmp_path / task),
        )
        assert proc.returncode == 0, f"{task}: {proc.stderr}"
        record = record_of(tmp_path / task)
        assert record["loss"] == "scaled-ce" and record["loss_params"] == {"factor": 3.0}
        assert record["status"] == "completed"


@pytest.mark.parametrize("loss", ["squared-error", "hem"])
def test_a_failing_run_writes_a_failed_record_and_exits_1(tmp_path, loss):
    """Diverging training (non-finite logits) stops the run with a failed record; HEM
    included, whose loss is NaN, not 0, when a logit is non-finite. Each setting is within
    its limit (the first step is finite); together, the learning rate and weight decay at
    their limits multiply the weights by about -9 a step, which overflows within the 160
    steps of batches of 8."""
    proc = run_cli(
        "run",
        "--task",
        "ood",
        "--loss",
        loss,
        "--lr",
        "10",
        "--weight-decay",
        "1",
        "--batch-size",
        "8",
        *FAST,
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 1, proc.stderr
    assert "failed" in proc.stderr and "the loss became" in proc.stderr
    assert "Traceback" not in proc.stderr
    record = record_of(tmp_path)
    assert record["status"] == "failed" and "NonFiniteLossError" in record["error"]
    assert record["metrics"] == {}
    assert (next(tmp_path.glob("*/error.log"))).read_text().startswith("Traceback")


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_record(tmp_path):
    args = ["run", "--task", "ood", "--loss", "hem", "--max-epochs", "40", "--no-progress"]
    reference = run_cli(*args, "--out", str(tmp_path / "whole"))
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "killed"
    env = dict(os.environ)
    process = subprocess.Popen(
        [sys.executable, "-m", "hem_bench", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.time() + 240
    checkpoint = None
    while time.time() < deadline and process.poll() is None:
        found = list(out.glob("*/checkpoints/last.ckpt"))
        if found:
            checkpoint = found[0]
            break
        time.sleep(0.01)
    assert checkpoint is not None, "the run ended before a checkpoint appeared"
    time.sleep(0.5)  # let it train a little past the checkpoint
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not list(out.glob("*/record.json")), "the run finished before it could be killed"
    resumed = run_cli(*args, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert record_of(out)["metrics"] == record_of(tmp_path / "whole")["metrics"]
