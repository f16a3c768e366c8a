"""The MNIST family's recipes and the ``mnist`` preset, on the real MNIST in
``../shared/data`` (skipped, saying why, where that folder is absent).

Every classification task runs briefly on the real files (one epoch of a small subset of
the digits, so that each run takes seconds), and the data folder is checked not to have
been written: the same files, sizes and modification times before and after.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hem_bench.cli import main
from tests.datamodules.test_real_formats import write_mnist
from tests.tasks.helpers import record_of

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
needs_mnist = pytest.mark.skipif(
    not (DATA / "MNIST" / "raw").is_dir(),
    reason=f"the real MNIST is not in {DATA} (../shared/data from the repository's root)",
)
CLASSIFICATION_TASKS = ("classify", "ood", "adversarial", "imbalanced", "continual")


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``: kind, size and modification time."""
    out = {}
    for path in sorted(folder.rglob("*")):
        stat = path.lstat()
        out[str(path.relative_to(folder))] = (path.is_dir(), stat.st_size, stat.st_mtime_ns)
    return out


@pytest.fixture
def small_mnist(monkeypatch):
    """The real loader, its result cut to 3,000 training and 500 test digits (a real run
    of a task on them takes seconds)."""
    from hem_bench.datamodules import mnist_family as real

    load = real._load_mnist_family

    def first(images, count):
        return replace(images, images=images.images[:count], labels=images.labels[:count])

    def cut(*args, **kwargs):
        data = load(*args, **kwargs)
        return replace(data, train=first(data.train, 3000), test=first(data.test, 500))

    monkeypatch.setattr(real, "_load_mnist_family", cut)


@needs_mnist
def test_every_classification_task_runs_on_the_real_mnist_and_leaves_it_unwritten(
    tmp_path, small_mnist
):
    before = snapshot(DATA)
    extra = {
        "classify": [
            "--task-option",
            "corruptions=rotate,contrast",
            "--task-option",
            "severities=1",
        ],
        "ood": [],
        "adversarial": [
            "--task-option",
            "attacks=fgsm,pgd",
            "--task-option",
            "pgd_steps=2",
            "--task-option",
            "attack_subset=100",
        ],
        "imbalanced": [],
        "continual": [],
    }
    for task in CLASSIFICATION_TASKS:
        out = tmp_path / task
        args = ["run", "--task", task, "--dataset", "mnist", "--data-dir", str(DATA)]
        args += ["--max-epochs", "1", "--no-progress", "--threads", "1", "--out", str(out)]
        assert main(args + extra[task]) == 0, task
        record = record_of(out)
        assert record["status"] == "completed" and record["model"] == "mnist-fast"
        assert "MNIST family" in record["config"]["recipe_source"], task
        headline = record["headline"]["value"]
        assert 0.0 <= headline <= 1.0, (task, headline)
    # one epoch of 2,700 digits is far from the recipe, but well above chance (0.1)
    assert record_of(tmp_path / "classify")["metrics"]["acc"] > 0.5
    adversarial = record_of(tmp_path / "adversarial")
    assert adversarial["attacks"]["examples"]["size"] == 100
    assert adversarial["attacks"]["examples"]["of"] == 500
    assert snapshot(DATA) == before


@needs_mnist
def test_the_real_files_read_as_published():
    # independent of the loader: the IDX headers and the label counts of the test set
    # (LeCun et al.: 10,000 test digits; the class counts are MNIST's published ones)
    import numpy as np

    from hem_bench.datamodules.base import load_dataset

    raw = DATA / "MNIST" / "raw"
    header = (raw / "t10k-images-idx3-ubyte").read_bytes()[:16]
    assert int.from_bytes(header[:4], "big") == 2051
    assert [int.from_bytes(header[i : i + 4], "big") for i in (4, 8, 12)] == [10000, 28, 28]
    labels = np.frombuffer((raw / "t10k-labels-idx1-ubyte").read_bytes()[8:], dtype=np.uint8)
    data = load_dataset("mnist", DATA)
    assert data.train.images.shape == (60000, 1, 28, 28) and len(data.test) == 10000
    assert data.test.labels.tolist() == labels.tolist()
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_the_family_shares_one_recipe_per_task():
    from hem_bench.tasks import get_task

    for task in CLASSIFICATION_TASKS:
        recipes = {
            name: get_task(task).recipe(name) for name in ("mnist", "fashion-mnist", "kmnist")
        }
        assert recipes["mnist"] == recipes["fashion-mnist"] == recipes["kmnist"], task
        assert recipes["mnist"].model == "mnist-fast"
        assert recipes["mnist"].source, task


def test_the_mnist_preset_grid(tmp_path):
    from hem_bench.presets import preset_grid

    write_mnist(tmp_path, "MNIST")
    tasks = list(CLASSIFICATION_TASKS)
    configs = preset_grid("mnist", tasks=tasks, settings={"data_dir": str(tmp_path)})
    # the main grid, and the continual arm: cross-entropy without replay, seeds 0-4
    assert len(configs) == 5 * 7 * 5 + 5
    arm = [c for c in configs if c.task == "continual" and c.task_options["buffer"] == 0]
    assert {(c.loss, c.seed) for c in arm} == {("ce", s) for s in range(5)}
    assert {c.dataset for c in configs} == {"mnist"} and {c.threads for c in configs} == {1}
    assert {c.seed for c in configs} == {0, 1, 2, 3, 4}
    by_task = {t: [c for c in configs if c.task == t] for t in tasks}
    classify = by_task["classify"][0].task_options
    assert classify["corruption_subset"] == 1000 and classify["severities"] == "1,3,5"
    adversarial = by_task["adversarial"][0].task_options
    assert adversarial["attack_subset"] == 1000 and adversarial["autoattack_n"] == 200
    assert adversarial["attacks"] == "fgsm,pgd,autoattack"
    # no other 28x28 set in the folder: the noise sets only
    assert {c.task_options["ood_sets"] for c in by_task["ood"]} == {""}

    # another member of the family present: it becomes a far-OOD set
    write_mnist(tmp_path, "KMNIST")
    ood = preset_grid("mnist", tasks=["ood"], settings={"data_dir": str(tmp_path)})
    assert {c.task_options["ood_sets"] for c in ood} == {"kmnist"}
    # run on KMNIST, MNIST is the far-OOD set; the user's own choice is kept
    on_kmnist = preset_grid(
        "mnist",
        tasks=["ood", "classify"],
        datasets=["kmnist"],
        settings={"data_dir": str(tmp_path)},
    )
    assert {c.dataset for c in on_kmnist} == {"kmnist"}
    assert {c.task_options["ood_sets"] for c in on_kmnist if c.task == "ood"} == {"mnist"}
    chosen = preset_grid(
        "mnist",
        tasks=["ood"],
        per_task={"ood": {"task_options": {"ood_sets": "kmnist"}}},
        settings={"data_dir": str(tmp_path)},
    )
    assert {c.task_options["ood_sets"] for c in chosen} == {"kmnist"}


def test_the_mnist_preset_takes_a_segmentation_set_only_for_segmentation(tmp_path, capsys):
    write_mnist(tmp_path, "MNIST")
    args = ["sweep", "--preset", "mnist", "--tasks", "classify", "--dry-run"]
    assert main([*args, "--data-dir", str(tmp_path), "--datasets", "digit-scenes"]) == 2
    err = capsys.readouterr().err
    assert "'digit-scenes' is a segmentation data set, and no task of the sweep" in err
    assert main([*args]) == 2  # the real data sets need a folder
    assert "pass --data-dir" in capsys.readouterr().err
    assert main([*args, "--data-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "35 runs" in captured.err and " classify mnist mnist-fast " in captured.out


def test_the_mnist_preset_segments_mnist_scenes(tmp_path):
    from hem_bench.datamodules.base import available_datasets
    from hem_bench.presets import PRESETS, preset_grid

    assert PRESETS["mnist"]["datasets"]["segmentation"] == "mnist-scenes"
    if "mnist-scenes" not in available_datasets():
        pytest.skip("the mnist-scenes data set is not part of this checkout")
    write_mnist(tmp_path, "MNIST")
    configs = preset_grid("mnist", settings={"data_dir": str(tmp_path)})
    assert {c.dataset for c in configs if c.task == "segmentation"} == {"mnist-scenes"}
    assert len([c for c in configs if c.task == "segmentation"]) >= 7 * 5
    write_mnist(tmp_path, "KMNIST")  # the classification tasks move to KMNIST, the scenes stay
    on_kmnist = preset_grid("mnist", datasets=["kmnist"], settings={"data_dir": str(tmp_path)})
    assert {c.dataset for c in on_kmnist if c.task != "segmentation"} == {"kmnist"}
    assert {c.dataset for c in on_kmnist if c.task == "segmentation"} == {"mnist-scenes"}


def test_a_read_only_mnist_folder_serves_a_run(tmp_path):
    write_mnist(tmp_path, "MNIST", gz=True, sizes=(200, 50))
    raw = tmp_path / "MNIST" / "raw"
    before = snapshot(tmp_path / "MNIST")
    for path in (raw, raw.parent):
        path.chmod(0o555)
    try:
        args = ["run", "--task", "classify", "--dataset", "mnist", "--data-dir", str(tmp_path)]
        args += ["--max-epochs", "1", "--no-progress", "--no-verify", "--threads", "1"]
        args += ["--task-option", "corruptions=none", "--out", str(tmp_path / "out")]
        assert main(args) == 0
    finally:
        for path in (raw.parent, raw):
            path.chmod(0o755)
    assert snapshot(tmp_path / "MNIST") == before
