"""The continual task: metric formulas, the reservoir buffer, forgetting, resume."""

from __future__ import annotations

import pytest
import torch

from hem_bench.cli import main
from hem_bench.datamodules.continual import ReservoirBuffer
from hem_bench.metrics.continual import continual_metrics
from tests.tasks.helpers import record_of

QUICK = ["--max-epochs", "3", "--no-progress"]


def test_metrics_against_hand_computed_matrices():
    # R[t][i]: after experience t, accuracy on experience i
    matrix = [[0.9], [0.6, 0.8], [0.5, 0.7, 0.95]]
    m = continual_metrics(matrix)
    assert m["avg_acc"] == pytest.approx((0.5 + 0.7 + 0.95) / 3)
    assert m["bwt"] == pytest.approx(((0.5 - 0.9) + (0.7 - 0.8)) / 2)
    # forgetting: exp 0 max(0.9, 0.6) - 0.5 = 0.4; exp 1 max(0.8) - 0.7 = 0.1
    assert m["forgetting"] == pytest.approx((0.4 + 0.1) / 2)
    assert m["learning_acc"] == pytest.approx((0.9 + 0.8 + 0.95) / 3)
    # a peak after the diagonal counts for forgetting, not for backward transfer
    m = continual_metrics([[0.5], [0.8, 0.9], [0.6, 0.9, 0.9]])
    assert m["forgetting"] == pytest.approx(((0.8 - 0.6) + 0.0) / 2)
    assert m["bwt"] == pytest.approx(((0.6 - 0.5) + 0.0) / 2)
    assert continual_metrics([[0.7]]) == {
        "avg_acc": 0.7,
        "learning_acc": 0.7,
        "bwt": 0.0,
        "forgetting": 0.0,
    }
    # never learning the later experiences is not remembering: bwt 0, learning_acc low
    m = continual_metrics([[1.0], [0.99, 0.0], [0.98, 0.0, 0.0]])
    assert m["bwt"] == pytest.approx(((0.98 - 1.0) + 0.0) / 2) and m[
        "learning_acc"
    ] == pytest.approx(1 / 3)


def test_reservoir_holds_at_most_m_and_samples_the_stream_uniformly():
    stream = torch.arange(200)
    inclusion = torch.zeros(200)
    trials = 400
    for seed in range(trials):
        buffer = ReservoirBuffer(20, seed=seed)
        buffer.add(stream.view(-1, 1, 1, 1).float(), stream)
        assert len(buffer) == 20 and buffer.seen == 200
        assert len(buffer.labels.unique()) == 20
        inclusion[buffer.labels] += 1
    freq = inclusion / trials
    # every example is kept with probability m / N = 0.1, early or late in the stream
    assert freq.mean().item() == pytest.approx(0.1, abs=1e-6)
    assert abs(freq[:100].mean().item() - freq[100:].mean().item()) < 0.01
    expected_std = (0.1 * 0.9 / trials) ** 0.5
    assert (freq - 0.1).abs().max().item() < 5 * expected_std


def test_reservoir_fills_first_and_zero_capacity_stores_nothing():
    buffer = ReservoirBuffer(5, seed=0)
    buffer.add(torch.zeros(3, 1, 2, 2), torch.tensor([1, 2, 3]))
    assert buffer.labels.tolist() == [1, 2, 3]
    empty = ReservoirBuffer(0)
    empty.add(torch.zeros(3, 1, 2, 2), torch.tensor([1, 2, 3]))
    assert len(empty) == 0
    with pytest.raises(ValueError, match="buffer size must be >= 0"):
        ReservoirBuffer(-1)


def test_continual_run_and_replay_against_fine_tuning(tmp_path):
    assert (
        main(["run", "--task", "continual", "--loss", "ce", *QUICK, "--out", str(tmp_path / "er")])
        == 0
    )
    assert (
        main(
            [
                "run",
                "--task",
                "continual",
                "--loss",
                "ce",
                *QUICK,
                "--task-option",
                "buffer=0",
                "--out",
                str(tmp_path / "ft"),
            ]
        )
        == 0
    )
    er, ft = record_of(tmp_path / "er"), record_of(tmp_path / "ft")
    for record in (er, ft):
        matrix = record["accuracy_matrix"]
        assert len(matrix) == 5 and all(
            row[t + 1 :] == [None] * (4 - t) for t, row in enumerate(matrix)
        )
        lower = [[v for v in row if v is not None] for row in matrix]
        expected = continual_metrics(lower)
        for key in ("avg_acc", "bwt", "forgetting"):
            assert record["metrics"][key] == pytest.approx(expected[key])
        assert record["metrics"]["acc_matrix/4/0"] == matrix[4][0]
        assert record["experiences"] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    # naive fine-tuning forgets: old experiences are lost, class-incrementally
    assert ft["metrics"]["forgetting"] > 0.5
    assert ft["buffer"]["stored"] == 0 and er["buffer"]["stored"] == 20
    # replay keeps more of the past
    assert er["metrics"]["avg_acc"] > ft["metrics"]["avg_acc"] + 0.1
    assert er["metrics"]["forgetting"] < ft["metrics"]["forgetting"]


def test_resume_continues_after_the_last_saved_experience(tmp_path):
    args = [
        "run",
        "--task",
        "continual",
        "--loss",
        "hem",
        "--max-epochs",
        "2",
        "--no-progress",
        "--task-option",
        "experiences=5",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    whole = record_of(tmp_path)
    run_dir = next(tmp_path.glob("continual-*"))
    (run_dir / "record.json").unlink()
    for late in sorted((run_dir / "checkpoints").glob("experience-*.pt"))[3:]:
        late.unlink()  # as if the run had been killed during experience 3
    assert main([*args, "--resume"]) == 0
    resumed = record_of(tmp_path)
    assert resumed["metrics"] == whole["metrics"]


def test_bad_continual_options(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "--task",
                "continual",
                "--task-option",
                "experiences=3",
                *QUICK,
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "10 classes do not divide into 3 experiences" in capsys.readouterr().err
    assert (
        main(
            [
                "run",
                "--task",
                "continual",
                "--task-option",
                "buffer=-5",
                *QUICK,
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 2
    )
    assert "buffer size must be >= 0; got -5" in capsys.readouterr().err


def _write_cifar100(root, train_per_class: int = 3, test_per_class: int = 1) -> None:
    """CIFAR-100's python pickles (``cifar-100-python/{train,test,meta}``) with every class
    present, as the class-incremental split needs."""
    from tests.datamodules.test_real_formats import cifar_rows, write_py2_pickle

    folder = root / "cifar-100-python"
    folder.mkdir()
    for seed, (split, per_class) in enumerate(
        (("train", train_per_class), ("test", test_per_class))
    ):
        fine = [c for _ in range(per_class) for c in range(100)]
        batch = {
            b"filenames": [f"{i}.png".encode() for i in range(len(fine))],
            b"batch_label": f"{split}ing batch 1 of 1".encode(),
            b"fine_labels": fine,
            b"coarse_labels": [f // 5 for f in fine],
            b"data": cifar_rows(len(fine), seed),
        }
        write_py2_pickle(folder / split, batch)
    write_py2_pickle(
        folder / "meta",
        {
            b"fine_label_names": [f"class{i:02d}".encode() for i in range(100)],
            b"coarse_label_names": [f"super{i:02d}".encode() for i in range(20)],
        },
    )


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_runs_on_the_real_cifar_formats(tmp_path, dataset):
    """CIFAR-10 splits into 5 experiences of 2 classes, CIFAR-100 into 10 of 10."""
    from tests.datamodules.test_real_formats import write_cifar10

    if dataset == "cifar10":
        write_cifar10(tmp_path, per_batch=60)
    else:
        _write_cifar100(tmp_path)
    args = ["run", "--task", "continual", "--dataset", dataset, "--data-dir", str(tmp_path)]
    args += ["--no-verify", "--model", "digits-cnn", "--max-epochs", "1", "--batch-size", "32"]
    assert main([*args, "--no-progress", "--out", str(tmp_path / "out")]) == 0
    record = record_of(tmp_path / "out")
    size, per = (5, 2) if dataset == "cifar10" else (10, 10)
    assert record["dataset"] == dataset
    assert record["experiences"] == [list(range(i * per, (i + 1) * per)) for i in range(size)]
    matrix = record["accuracy_matrix"]
    assert len(matrix) == size and all(
        (value is None) == (i > t) for t, row in enumerate(matrix) for i, value in enumerate(row)
    )
    assert 0.0 <= record["metrics"]["avg_acc"] <= 1.0


def test_replayed_uint8_images_join_the_batch_in_pixel_range():
    """A data set stored as uint8 (MNIST, CIFAR) keeps its images so in the buffer; replayed,
    they must reach the loss in [0, 1] like the batch they join (255 times brighter, they
    wrecked the batch-norm statistics and no experience after the first was learnt)."""
    from torch import nn

    from hem_bench.tasks.continual import ContinualTask, ReservoirBuffer
    from hem_bench.tasks.registry import TaskOptions

    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(x.detach().clone())
            return x.flatten(1)[:, :3] * 0 + torch.zeros(len(x), 3, requires_grad=True)

    task = ContinualTask(
        Probe(),
        nn.CrossEntropyLoss(),
        lr=0.1,
        momentum=0.0,
        weight_decay=0.0,
        options=TaskOptions(),
    )
    task.buffer, task.total_steps = ReservoirBuffer(4, seed=0), 0
    stored = torch.tensor([0, 51, 204, 255], dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    task.buffer.add(stored.contiguous(), torch.tensor([0, 1, 2, 1]))
    batch = torch.full((3, 1, 2, 2), 0.5), torch.tensor([0, 1, 2])
    task._loss_sum, task._loss_count = torch.zeros(()), 0
    task.training_step(batch, 0)
    (images,) = seen
    assert images.shape == (6, 1, 2, 2) and images.dtype == torch.float32
    assert torch.equal(images[:3], batch[0])
    replayed = {round(v * 255) for v in images[3:, 0, 0, 0].tolist()}
    assert replayed <= {0, 51, 204, 255} and float(images.max()) <= 1.0
