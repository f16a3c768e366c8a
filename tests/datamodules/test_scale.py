"""Scale: device-resident data (tested through the same code path on the CPU), streamed
corruption metrics, the corruption subset, --compile / --channels-last, the GPU check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from hem_bench.cli import main
from hem_bench.datamodules.base import ImageSet
from hem_bench.datamodules.classification import ClassificationDataModule

REPO = Path(__file__).resolve().parents[2]
FAST = ["--max-epochs", "1", "--no-progress"]


def record_of(out: Path) -> dict:
    (path,) = out.glob("*/record.json")
    return json.loads(path.read_text())


def _batches(loader, epoch=0):
    loader.sampler.set_epoch(epoch)
    return list(loader)


# -- device-resident data --------------------------------------------------------------


def test_data_stay_in_host_memory_on_the_cpu():
    dm = ClassificationDataModule("digits", crop_padding=1)
    dm.setup()
    assert dm.resident_device() is None
    assert dm.resident_device("cpu") is None
    assert dm.resident(dm.train_set) is dm.train_set  # nothing moves, nothing is copied
    # a GPU trained on would hold the data (no GPU needed to decide it)
    assert dm.resident_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    # by default, the device of the trainer the data module is attached to
    from types import SimpleNamespace

    dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cuda", 0)))
    assert dm.resident_device() == torch.device("cuda", 0)
    dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")))
    assert dm.resident_device() is None


def test_resident_path_on_the_cpu_gives_the_same_batches():
    host = ClassificationDataModule("digits", seed=3, crop_padding=1, flip=True)
    resident = ClassificationDataModule(
        "digits", seed=3, crop_padding=1, flip=True, data_device="cpu"
    )
    host.setup(), resident.setup()
    assert resident.resident_device() == torch.device("cpu")
    # already on the data device: used as it is, not copied
    assert resident.resident(resident.train_set) is resident.train_set
    for make in ("train_dataloader", "val_dataloader", "test_dataloader"):
        for epoch in (0, 1):
            a = _batches(getattr(host, make)(), epoch)
            b = _batches(getattr(resident, make)(), epoch)
            assert len(a) == len(b) > 0
            for (xa, ya), (xb, yb) in zip(a, b, strict=True):
                assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # augmentation on the resident batches equals that on host batches
    xa, _ = next(iter(host.train_dataloader()))
    xb, _ = next(iter(resident.train_dataloader()))
    assert torch.equal(host.augment(xa, 2, 5), resident.augment(xb, 2, 5))


def test_resident_batches_are_cut_on_the_data_device():
    """The meta device holds shapes only: batches made there prove nothing came from host
    memory (the same path a GPU takes)."""
    dm = ClassificationDataModule("digits", batch_size=32, crop_padding=1, data_device="meta")
    dm.setup()
    images, labels = next(iter(dm.train_dataloader()))
    assert images.device.type == "meta" and labels.device.type == "meta"
    assert images.shape == (32, *dm.input_shape) and images.dtype == torch.float32
    assert dm.resident(dm.train_set) is dm.resident(dm.train_set)  # copied once, then reused
    augmented = dm.augment(images, 0, 0)
    assert augmented.device.type == "meta" and augmented.shape == images.shape


def test_classify_run_with_resident_data_equals_the_host_run(tmp_path, monkeypatch):
    from hem_bench.config import RunConfig
    from hem_bench.runner import run

    options = {"corruptions": "contrast,rotate", "severities": "2"}
    config = RunConfig(task="classify", max_epochs=1, progress=False, task_options=options)
    host, _ = run(config.model_copy(update={"out": str(tmp_path / "h")}).resolve())
    calls = []
    original = ClassificationDataModule.resident

    def spy(self, data, device=None):
        calls.append(self.resident_device(device))
        return original(self, data, device)

    cpu = torch.device("cpu")
    monkeypatch.setattr(ClassificationDataModule, "resident_device", lambda self, d=None: cpu)
    monkeypatch.setattr(ClassificationDataModule, "resident", spy)
    resident, _ = run(config.model_copy(update={"out": str(tmp_path / "r")}).resolve())
    # train, validation and test sets went through the resident path
    assert len(calls) >= 3 and all(c == cpu for c in calls)
    assert resident["metrics"] == host["metrics"]


# -- corruption evaluation ---------------------------------------------------------------


def _independent_corruption_metrics(run_dir: Path, size: int, pairs):
    """acc / ECE per (corruption, severity) from the saved model, batch by batch as the
    task corrupts them, with torch and torchmetrics' functional ECE."""
    from hem_bench.config import RunConfig
    from hem_bench.datamodules.corruptions import corrupt
    from hem_bench.runner import build_datamodule, build_task

    record = json.loads((run_dir / "record.json").read_text())
    config = RunConfig(
        **{k: v for k, v in record["config"].items() if k in RunConfig.model_fields}
    ).resolve()
    dm = build_datamodule(config)
    dm.setup()
    task = build_task(config, dm)
    task.model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
    task.model.eval()
    test = dm.test_set
    index = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:size]
    images, labels = test.float_images(index.sort().values), test.labels[index.sort().values]
    out = {}
    for name, severity in pairs:
        probs = []
        for start in range(0, size, config.eval_batch_size):
            seed = (config.seed * 1_000_003 + severity) * 1_000_003 + start
            batch = corrupt(images[start : start + config.eval_batch_size], name, severity, seed)
            with torch.no_grad():
                probs.append(task.model(batch).softmax(1))
        p = torch.cat(probs)
        out[f"corruption/{name}/{severity}/acc"] = (p.argmax(1) == labels).double().mean().item()
        out[f"corruption/{name}/{severity}/ece"] = multiclass_calibration_error(
            p, labels, num_classes=p.shape[1], n_bins=15, norm="l1"
        ).item()
    return out


def test_corruption_subset_is_fixed_recorded_and_metrics_agree(tmp_path):
    args = ["run", "--task", "classify", "--loss", "ce", *FAST, "--seed", "2"]
    args += ["--task-option", "corruptions=gaussian_noise,shear", "--task-option", "severities=1,4"]
    assert main([*args, "--task-option", "corruption_subset=150", "--out", str(tmp_path)]) == 0
    record = record_of(tmp_path)
    assert record["config"]["task_options"]["corruption_subset"] == 150
    assert record["corruption_subset"] == {"size": 150, "of": 539, "seed": 0}
    evaluated = record["evaluated"]
    assert evaluated["test"] == 539  # the clean metrics keep the whole test set
    assert {evaluated[f"corruption/{c}/{s}"] for c in ("gaussian_noise", "shear") for s in (1, 4)}
    assert all(v == 150 for k, v in evaluated.items() if k.startswith("corruption/"))
    pairs = [(c, s) for c in ("gaussian_noise", "shear") for s in (1, 4)]
    expected = _independent_corruption_metrics(next(tmp_path.glob("*/")), 150, pairs)
    for key, value in expected.items():
        assert record["metrics"][key] == pytest.approx(value, abs=1e-6), key


def test_default_evaluates_corruptions_on_the_whole_test_set(tmp_path):
    args = ["run", "--task", "classify", *FAST, "--task-option", "corruptions=contrast"]
    assert main([*args, "--task-option", "severities=3", "--out", str(tmp_path)]) == 0
    record = record_of(tmp_path)
    assert record["corruption_subset"] == {"size": 539, "of": 539, "seed": None}
    assert record["evaluated"] == {"test": 539, "corruption/contrast/3": 539}


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("corruption_subset=-5", "corruption_subset must be a number of test images >= 0"),
        ("corruption_subset=many", "corruption_subset='many' must be of type int"),
        ("corruptions=fog", "unknown corruption 'fog'"),
    ],
)
def test_bad_corruption_options_exit_2_before_training(tmp_path, option, message):
    proc = subprocess.run(
        [sys.executable, "-m", "hem_bench", "run", "--task", "classify", *FAST]
        + ["--task-option", option, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*/checkpoints"))  # no training started


def test_memory_does_not_keep_logits_of_corrupted_sets(tmp_path):
    """Streamed sets keep one confidence and one hit per image, not C logits."""
    from hem_bench.config import RunConfig
    from hem_bench.runner import build_datamodule, build_task
    from hem_bench.trainer import build_trainer

    config = RunConfig(
        task="classify",
        max_epochs=1,
        progress=False,
        out=str(tmp_path),
        task_options={"corruptions": "contrast,scale", "severities": "1,2"},
    ).resolve()
    dm = build_datamodule(config)
    dm.setup()
    task = build_task(config, dm)
    trainer = build_trainer(config, tmp_path)
    trainer.test(task, dataloaders=task.evaluation_loaders(), verbose=False)
    keys = set(task.outputs.keys())
    assert {"0_logits", "0_labels"} <= keys
    assert not any(k.endswith("_logits") for k in keys - {"0_logits"})
    for i in range(1, 5):  # reset after the summary: nothing left of the streamed sets
        assert task.outputs[f"{i}_ece"].confidences == []
    assert task.record_extra["evaluated"]["corruption/scale/2"] == 539


# -- --compile and --channels-last -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["--channels-last", "--compile"])
def test_execution_flags_complete_a_run_and_are_recorded(tmp_path, flag):
    if flag == "--compile" and not any(
        Path(d, c).exists() for d in os.environ.get("PATH", "").split(":") for c in ("cc", "gcc")
    ):
        pytest.skip("torch.compile on the CPU needs a C compiler")
    args = ["run", "--task", "classify", "--loss", "ce", *FAST, "--batch-size", "256"]
    args += ["--task-option", "corruptions=none"]
    assert main([*args, flag, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = record_of(tmp_path / "a"), record_of(tmp_path / "b")
    field = flag.removeprefix("--").replace("-", "_")
    assert a["status"] == "completed" and a["config"][field] is True
    assert b["config"][field] is False
    assert a["run_id"] != b["run_id"]  # rounding differs: never one record for the other
    assert a["metrics"]["acc"] == pytest.approx(b["metrics"]["acc"], abs=0.02)
    # the state dict keeps its keys (compiled in place)
    state = torch.load(next((tmp_path / "a").glob("*/model.pt")), weights_only=True)
    assert not any("_orig_mod" in k for k in state)


def test_execution_settings_are_applied_to_the_model():
    from hem_bench.config import RunConfig
    from hem_bench.runner import apply_execution_settings

    config = RunConfig(task="classify", channels_last=True, compile=True).resolve()
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    model.backbone = torch.nn.Conv2d(4, 4, 3)
    apply_execution_settings(model, config)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert model.backbone._compiled_call_impl is not None  # compiled in place
    assert model._compiled_call_impl is None


# -- the GPU check ------------------------------------------------------------------------


def test_gpu_check_without_a_gpu_says_so_and_exits_0():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "perf" / "gpu_check.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no CUDA GPU" in proc.stdout


def test_image_set_on_another_device_batches_there():
    data = ImageSet(torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.arange(4))
    moved = ImageSet(data.images.to("meta"), data.labels.to("meta"))
    images, labels = moved.batch(torch.tensor([0, 2]))
    assert images.device.type == "meta" and images.shape == (2, 1, 2, 2)
