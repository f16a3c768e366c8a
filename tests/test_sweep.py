"""``hem-bench sweep``: the grid, skipping, failures, resuming, workers, submitit; and
multi-device runs (DDP on CPU, bf16 on CPU)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hem_bench.cli import main
from tests.helpers import run_cli

QUICK = ["--max-epochs", "1", "--task-option", "corruptions=none", "--no-progress"]
BOOM = (
    "from hem_bench.losses import ClassificationLoss, LossInfo, Paper, register_loss\n"
    "@register_loss('boom', info=LossInfo(summary='fails', paper=Paper('t', 'a', 'v', 2020, 'https://x')))\n"
    "class Boom(ClassificationLoss):\n"
    "    '''Raises (a 2020).'''\n"
    "    def per_example(self, logits, target):\n"
    "        raise RuntimeError('boom inside the loss')\n"
)


def records(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/record.json")}


def test_dry_run_of_the_embedded_preset(capsys):
    assert main(["sweep", "--preset", "embedded", "--dry-run"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    # the main grid (6 tasks x 7 losses x 5 seeds) and the segmentation arm at lr/10
    # (7 losses x 5 seeds)
    assert len(lines) == 6 * 7 * 5 + 7 * 5 and "245 runs" in captured.err
    tasks = {line.split()[1] for line in lines}
    assert tasks == {"classify", "ood", "adversarial", "imbalanced", "continual", "segmentation"}
    assert sum(line.split()[1] == "segmentation" for line in lines) == 7 * 5 + 7 * 5
    from hem_bench.presets import preset_grid
    from hem_bench.tasks import get_task

    recipe_lr = get_task("segmentation").recipe("digit-scenes").lr
    lrs = sorted({c.lr for c in preset_grid("embedded") if c.task == "segmentation"})
    assert lrs == [pytest.approx(recipe_lr / 10), recipe_lr]
    arm = [c for c in preset_grid("embedded") if c.task == "segmentation" and c.lr != recipe_lr]
    assert {c.seed for c in arm} == {0, 1, 2, 3, 4} and {c.task for c in arm} == {"segmentation"}
    # given tasks without segmentation: no arm; given seeds replace the arm's too
    only_ood = preset_grid("embedded", tasks=["ood"])
    assert len(only_ood) == 7 * 5 and {c.task for c in only_ood} == {"ood"}
    one_seed = preset_grid("embedded", tasks=["segmentation"], seeds=[4])
    assert len(one_seed) == 7 * 2 and {c.seed for c in one_seed} == {4}


def test_the_grid_is_validated_before_anything_runs(tmp_path, capsys):
    assert (
        main(
            [
                "sweep",
                "--tasks",
                "ood",
                "--losses",
                "ce,hemm",
                "--seeds",
                "0",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "unknown loss 'hemm'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    assert main(["sweep", "--tasks", "ood", "--losses", "ce", "--seeds", "zero"]) == 2
    assert "--seeds must be integers" in capsys.readouterr().err
    assert main(["sweep", "--losses", "ce", "--seeds", "0"]) == 2
    assert "the sweep has no tasks" in capsys.readouterr().err
    assert (
        main(
            [
                "sweep",
                "--tasks",
                "ood",
                "--losses",
                "ce",
                "--seeds",
                "0",
                "--task-option",
                "colour=red",
            ]
        )
        == 2
    )
    assert "no task of the sweep has option 'colour'" in capsys.readouterr().err


def test_missing_data_stops_the_sweep_before_any_run(tmp_path, capsys):
    args = ["sweep", "--tasks", "ood,classify", "--losses", "ce", "--seeds", "0,1"]
    args += ["--datasets", "cifar10", "--out", str(tmp_path / "out")]
    assert main([*args, "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert "dataset 'cifar10' not found: expected" in err and "--download" in err
    assert main(args) == 2
    assert "pass --data-dir DIR" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    # with the folder present (or --download) the grid goes on; the loader checks the files
    (tmp_path / "data" / "cifar-10-batches-py").mkdir(parents=True)
    assert main([*args, "--data-dir", str(tmp_path / "data"), "--dry-run"]) == 0
    assert main([*args, "--data-dir", str(tmp_path / "x"), "--download", "--dry-run"]) == 0


def test_loss_params_go_to_the_losses_that_have_them(capsys):
    from hem_bench.sweep import grid

    configs = grid(["ood"], ["hem", "focal", "ce"], [0], loss_params={"margin": "2", "gamma": "3"})
    assert [(c.loss, c.loss_params) for c in configs] == [
        ("hem", {"margin": 2.0}),
        ("focal", {"gamma": 3.0}),
        ("ce", {}),
    ]
    default = grid(["ood"], ["hem"], [0])[0]
    assert default.loss_params == {"margin": 1.0} and default.run_id != configs[0].run_id
    args = ["sweep", "--tasks", "ood", "--seeds", "0", "--dry-run"]
    assert main([*args, "--losses", "ce,hem", "--loss-param", "margin=2"]) == 0
    assert main([*args, "--losses", "ce", "--loss-param", "margin=2"]) == 2
    assert "no loss of the sweep has parameter 'margin'" in capsys.readouterr().err
    assert main([*args, "--losses", "hem", "--loss-param", "margin=wide"]) == 2
    assert "loss parameter margin='wide' of 'hem' must be of type float" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--slurm-time", "0"], "--slurm-time must be at least 1; got 0"),
        (["--slurm-gpus", "-1"], "--slurm-gpus must be at least 0; got -1"),
        (["--slurm-array-parallelism", "0"], "--slurm-array-parallelism must be at least 1"),
        # no SLURM on this machine: submitit cannot submit, and says so without a traceback
        ([], "--launcher slurm could not submit the 1 runs through submitit"),
    ],
)
def test_slurm_settings_and_a_machine_without_slurm(tmp_path, capsys, flags, message):
    if not flags and __import__("shutil").which("srun"):
        pytest.skip("this machine has SLURM's srun")
    args = ["sweep", "--tasks", "ood", "--losses", "ce", "--seeds", "0", "--out", str(tmp_path)]
    assert main([*args, "--launcher", "slurm", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_completed_runs_are_skipped_and_failures_recorded(tmp_path, capsys):
    plugin = tmp_path / "boom.py"
    plugin.write_text(BOOM)
    out = tmp_path / "results"
    args = [
        "sweep",
        "--tasks",
        "classify",
        "--losses",
        "ce,boom",
        "--seeds",
        "0,1",
        *QUICK,
        "--plugin",
        str(plugin),
        "--out",
        str(out),
    ]
    assert main(args) == 1  # a run failed
    first = records(out)
    assert len(first) == 4
    states = sorted(r["status"] for r in first.values())
    assert states == ["completed", "completed", "failed", "failed"]
    failed = [r for r in first.values() if r["status"] == "failed"]
    assert all("boom inside the loss" in r["error"] for r in failed)
    capsys.readouterr()
    # again: completed runs are skipped and left untouched; failed ones are retried
    assert main(args) == 1
    second = records(out)
    for name, record in first.items():
        if record["status"] == "completed":
            assert second[name] == record
    assert "2 skipped" in capsys.readouterr().err
    assert (
        main(
            [
                "sweep",
                "--tasks",
                "classify",
                "--losses",
                "ce",
                "--seeds",
                "0,1",
                *QUICK,
                "--out",
                str(out),
            ]
        )
        == 0
    )


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_without_repeating_work(tmp_path):
    out = tmp_path / "results"
    args = [
        sys.executable,
        "-m",
        "hem_bench",
        "sweep",
        "--tasks",
        "ood",
        "--losses",
        "ce,hem",
        "--seeds",
        "0,1",
        "--max-epochs",
        "2",
        "--no-progress",
        "--out",
        str(out),
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None and not list(out.glob("*/record.json")):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = records(out)
    assert 1 <= len(done_before) < 4, "the sweep was not interrupted mid-way"
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    after = records(out)
    assert len(after) == 4 and all(r["status"] == "completed" for r in after.values())
    for name, record in done_before.items():
        assert after[name] == record  # not run again, not rewritten
    assert f"{len(done_before)} skipped" in resumed.stderr


def test_local_workers_divide_the_threads(tmp_path):
    out = tmp_path / "results"
    assert (
        main(
            [
                "sweep",
                "--tasks",
                "ood",
                "--losses",
                "ce,hem",
                "--seeds",
                "0",
                "--max-epochs",
                "1",
                "--no-progress",
                "--workers",
                "2",
                "--then-leaderboard",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    found = records(out)
    assert len(found) == 2
    import torch

    expected = max(1, torch.get_num_threads() // 2)
    assert all(r["env"]["cpu_threads"] == expected for r in found.values())
    assert all(r["config"]["threads"] == expected for r in found.values())
    assert (out / "leaderboard" / "leaderboard.md").is_file()


def test_slurm_launcher_through_submitits_local_executor(tmp_path):
    out = tmp_path / "results"
    proc = run_cli(
        "sweep",
        "--tasks",
        "ood",
        "--losses",
        "ce",
        "--seeds",
        "0,1",
        "--max-epochs",
        "1",
        "--no-progress",
        "--launcher",
        "slurm",
        "--slurm-cluster",
        "local",
        "--slurm-folder",
        str(tmp_path / "logs"),
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    found = records(out)
    assert len(found) == 2 and all(r["status"] == "completed" for r in found.values())
    assert list((tmp_path / "logs").iterdir())  # submitit's job logs


@pytest.mark.slow
def test_ddp_on_cpu_writes_one_record_and_evaluates_each_example_once(tmp_path):
    proc = run_cli(
        "run",
        "--task",
        "classify",
        "--loss",
        "hem",
        "--accelerator",
        "cpu",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        *QUICK,
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    found = records(tmp_path)
    assert len(found) == 1
    (record,) = found.values()
    assert record["status"] == "completed" and record["config"]["devices"] == 2
    from hem_bench.datamodules.base import load_dataset

    assert record["evaluated"] == {"test": len(load_dataset("digits", seed=0).test)}
    assert proc.stdout.count("record:") == 1  # one summary, from rank 0


def test_bf16_mixed_precision_on_cpu(tmp_path):
    assert (
        main(
            [
                "run",
                "--task",
                "classify",
                "--loss",
                "hem",
                "--precision",
                "bf16-mixed",
                *QUICK,
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    (record,) = records(tmp_path).values()
    assert record["config"]["precision"] == "bf16-mixed"
    assert (
        0 <= record["metrics"]["acc"] <= 1 and record["metrics"]["nll"] == record["metrics"]["nll"]
    )


def test_a_worker_hands_a_finished_runs_memory_back(tmp_path, monkeypatch):
    """After every run, finished, skipped or failed, a sweep worker collects what the run
    left and returns the free heap pages to the system before the next one: without it a
    worker of the mnist preset grew by about 50 MB a run (0.96 to 1.16 GB over five
    one-epoch classify runs; flat at 0.88 GB with it; tests/perf/README.md)."""
    import hem_bench.allocator as allocator
    from hem_bench.config import RunConfig
    from hem_bench.sweep import execute

    calls = []
    real = allocator.release_free_memory
    monkeypatch.setattr(allocator, "release_free_memory", lambda: calls.append(1) or real())
    config = RunConfig(
        task="classify", max_epochs=1, threads=1, progress=False, out=str(tmp_path),
        task_options={"corruptions": "none"},
    ).resolve()  # fmt: skip
    assert execute(config.model_dump())["state"] == "done"
    assert execute(config.model_dump())["state"] == "skipped"
    broken = {**config.model_dump(), "lr": -1.0}  # fails before training
    assert execute(broken)["state"] == "failed"
    assert len(calls) == 3
