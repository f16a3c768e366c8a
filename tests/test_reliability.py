"""Reliability: nothing lost, nothing run twice, no code from a checkpoint, no traceback.

Bad input (one table: command -> exit code -> message), completed records kept on
``--resume``, planted pickles, the CSV log of a resumed run, run-folder locks, concurrent
sweeps, ``run`` against ``sweep --workers 2``, Ctrl-C and a killed sweep parent.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hem_bench.config import RunConfig
from hem_bench.errors import HemBenchError
from hem_bench.runner import LOCK_NAME, RunInProgress, claim
from tests.datamodules.test_real_formats import idx_images, idx_labels, write_mnist
from tests.helpers import run_cli

QUICK = ["--max-epochs", "1", "--no-progress"]


def run_dir_of(*args: str) -> Path:
    """The run folder ``hem-bench run ARGS`` uses (same resolution as the command line)."""
    from hem_bench.cli import build_parser
    from hem_bench.cli.run import resolve

    return resolve(build_parser().parse_args(["run", *args])).run_dir()


def records(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/record.json")}


# --- bad input: one table ---------------------------------------------------------------


def _binary_yaml(tmp: Path) -> None:
    (tmp / "binary.yaml").write_bytes(b"\xff\xfe\x00seed: \x9c\x81\x00")


def _sweep_seeds_zero(tmp: Path) -> None:
    (tmp / "sweep.yaml").write_text("tasks: [ood]\nlosses: [ce]\nseeds: zero\n")


def _sweep_seeds_true(tmp: Path) -> None:
    (tmp / "sweep.yaml").write_text("tasks: [ood]\nlosses: [ce]\nseeds: [true]\n")


def _seed_true(tmp: Path) -> None:
    (tmp / "c.yaml").write_text("seed: true\n")


def _corruption_list(tmp: Path) -> None:
    (tmp / "c.yaml").write_text(
        "task: classify\ntask_options:\n  corruptions: [gaussian_noise, 2]\n"
    )


def _mnist_counts(tmp: Path) -> None:
    write_mnist(tmp / "data", "MNIST", sizes=(200, 20))
    labels = np.zeros(150, dtype=np.uint8)
    (tmp / "data" / "MNIST" / "raw" / "train-labels-idx1-ubyte").write_bytes(idx_labels(labels))


def _mnist_label_200(tmp: Path) -> None:
    write_mnist(tmp / "data", "MNIST", sizes=(40, 20))
    labels = np.full(40, 3, dtype=np.uint8)
    labels[17] = 200
    (tmp / "data" / "MNIST" / "raw" / "train-labels-idx1-ubyte").write_bytes(idx_labels(labels))


def _mnist_corrupt(tmp: Path) -> None:
    write_mnist(tmp / "data", "MNIST", sizes=(40, 20))
    images = np.zeros((20, 28, 28), dtype=np.uint8)
    path = tmp / "data" / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(idx_images(images)[:-300])  # truncated


def _existing_file(tmp: Path) -> None:
    (tmp / "a-file").write_text("not a folder")


def _read_only(tmp: Path) -> None:
    (tmp / "ro").mkdir()
    (tmp / "ro").chmod(0o555)


def _plugin_newline(tmp: Path) -> None:
    (tmp / "nl.py").write_text(
        "from hem_bench.losses import ClassificationLoss, LossInfo, Paper, register_loss\n"
        "import torch.nn.functional as F\n"
        "@register_loss('nl\\n', info=LossInfo(summary='s', paper=Paper('t', 'a', 'v', 2020, "
        "'https://x')))\n"
        "class NL(ClassificationLoss):\n"
        "    '''CE (a 2020).'''\n"
        "    def per_example(self, logits, target):\n"
        "        return F.cross_entropy(logits, target, reduction='none')\n"
    )


MNIST = ["--task", "classify", "--dataset", "mnist", "--data-dir", "{tmp}/data"]
MNIST += ["--task-option", "corruptions=none"]

#: (id, setup, command, exit code, fragment of the one-line message)
BAD_INPUT = [
    ("run binary yaml", _binary_yaml, ["run", "--config", "{tmp}/binary.yaml"], 2,
     "is not a UTF-8 text file"),
    ("sweep binary yaml", _binary_yaml, ["sweep", "--config", "{tmp}/binary.yaml"], 2,
     "is not a UTF-8 text file"),
    ("sweep seeds: zero", _sweep_seeds_zero, ["sweep", "--config", "{tmp}/sweep.yaml"], 2,
     "seeds must be integers, e.g. 0,1,2; got 'zero'"),
    ("sweep seeds: [true]", _sweep_seeds_true, ["sweep", "--config", "{tmp}/sweep.yaml"], 2,
     "seeds must be integers, e.g. 0,1,2; got True"),
    ("sweep --seeds x", None, ["sweep", "--tasks", "ood", "--losses", "ce", "--seeds", "0,x"], 2,
     "--seeds must be integers"),
    ("seed 2**32", None, ["run", "--seed", "4294967296"], 2,
     "--seed 4294967296: Input should be less than or equal to 4294967295"),
    ("IDX 200 images 150 labels", _mnist_counts, ["run", *MNIST], 2,
     "train-images-idx3-ubyte holds 200 images but"),
    ("--out in read-only folder", _read_only, ["run", "--out", "{tmp}/ro/results"], 2,
     "cannot create the folder (Permission denied)"),
    ("--out where no folder can be made", None, ["run", "--out", "/sys/hem-bench-results"], 2,
     "cannot create the folder (Operation not permitted)"),
    ("--out an existing file", _existing_file, ["run", "--out", "{tmp}/a-file"], 2,
     "is a file; give a folder"),
    ("sweep --out an existing file", _existing_file,
     ["sweep", "--tasks", "ood", "--losses", "ce", "--seeds", "0", "--out", "{tmp}/a-file"], 2,
     "is a file; give a folder"),
    ("corruptions=bogus", None, ["run", "--task", "classify", "--task-option",
     "corruptions=bogus"], 2, "unknown corruption 'bogus'"),
    ("severities=9", None, ["run", "--task", "classify", "--task-option", "severities=9"], 2,
     "severities must be integers 1..5; got '9'"),
    ("yaml corruptions list", _corruption_list, ["run", "--config", "{tmp}/c.yaml"], 2,
     "unknown corruption '2'"),
    ("sweep corruptions=bogus", None,
     ["sweep", "--tasks", "ood,classify", "--losses", "ce", "--seeds", "0", "--task-option",
      "corruptions=bogus"], 2, "sweep cell classify/default/ce/seed0: unknown corruption"),
    ("sweep severities=9", None,
     ["sweep", "--tasks", "classify", "--losses", "ce,hem", "--seeds", "0", "--task-option",
      "severities=9"], 2, "sweep cell classify/default/ce/seed0: severities must be integers 1..5"),
    ("MNIST label 200", _mnist_label_200, ["run", *MNIST], 2,
     "train-labels-idx1-ubyte holds label 200 at position 17; labels must be 0..9"),
    ("lr 1e308", None, ["run", "--lr", "1e308"], 2,
     "--lr 1e+308: Input should be less than or equal to 10"),
    ("shuffle=maybe", None, ["run", "--task", "continual", "--task-option", "shuffle=maybe"], 2,
     "task option shuffle='maybe' must be true or false"),
    ("yaml seed: true", _seed_true, ["run", "--config", "{tmp}/c.yaml"], 2,
     "--seed True: must be a number, not a yes/no value"),
    ("--out ''", None, ["run", "--out", ""], 2, "--out '': must name a results folder"),
    ("--loss-param reduction", None, ["run", "--loss-param", "reduction=none"], 2,
     "'reduction' is set by the suite for every loss"),
    ("--dropout nan", None, ["run", "--dropout", "nan"], 2,
     "--dropout nan: Input should be a finite number"),
    ("--final-l2 inf", None, ["run", "--final-l2", "inf"], 2,
     "--final-l2 inf: Input should be a finite number"),
    ("corrupt IDX names the file", _mnist_corrupt, ["run", *MNIST], 2,
     "t10k-images-idx3-ubyte ("),
    ("loss name with a newline", _plugin_newline,
     ["run", "--plugin", "{tmp}/nl.py", "--loss", "nl\n"], 2,
     "must be a name without spaces, line breaks or control characters"),
    ("--threads 0", None, ["run", "--threads", "0"], 2,
     "--threads 0: Input should be greater than or equal to 1"),
    ("sweep --threads 0", None,
     ["sweep", "--tasks", "ood", "--losses", "ce", "--seeds", "0", "--threads", "0"], 2,
     "--threads 0: Input should be greater than or equal to 1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "command", "code", "message"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_is_one_line_and_exit_2_before_training(tmp_path, setup, command, code, message):
    if setup is _read_only and os.geteuid() == 0:
        pytest.skip("root may write into read-only folders")
    if setup is not None:
        setup(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    out = [] if "--out" in args else ["--out", str(tmp_path / "results")]
    proc = run_cli(*args, "--max-epochs", "1", "--no-progress", *out, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr[-2000:]
    assert message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    # nothing trained, no half-made run folder left behind
    assert not list(tmp_path.rglob("*.ckpt"))
    assert not list(tmp_path.rglob("config.yaml"))


def test_every_bad_input_case_is_distinct():
    assert len({case[0] for case in BAD_INPUT}) == len(BAD_INPUT)


def test_yaml_lists_are_read_as_comma_separated_options():
    config = RunConfig(
        task="classify", task_options={"corruptions": ["gaussian_noise", "contrast"]}
    )
    resolved = config.resolve()
    assert resolved.task_options["corruptions"] == "gaussian_noise,contrast"
    shuffle = RunConfig(task="continual", task_options={"shuffle": "yes"}).resolve()
    assert shuffle.task_options["shuffle"] is True


# --- data loss and security -----------------------------------------------------------


@pytest.fixture(scope="module")
def completed(tmp_path_factory):
    """One completed ood run (1 epoch)."""
    out = tmp_path_factory.mktemp("completed")
    args = ["--task", "ood", "--max-epochs", "1", "--no-progress", "--out", str(out)]
    proc = run_cli("run", *args)
    assert proc.returncode == 0, proc.stderr
    return out, args


def test_resume_never_replaces_a_completed_record(completed, tmp_path):
    out, args = completed
    (run_dir,) = out.glob("ood-*")
    before = (run_dir / "record.json").read_bytes()
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    saved = checkpoint.read_bytes()
    try:
        checkpoint.write_bytes(saved[: len(saved) // 3])  # truncated
        proc = run_cli("run", *args, "--resume")
        assert proc.returncode == 0, proc.stderr
        assert "already completed" in proc.stderr and "--force" in proc.stderr
        assert (run_dir / "record.json").read_bytes() == before
        assert json.loads(before)["status"] == "completed"
    finally:
        checkpoint.write_bytes(saved)


def test_a_truncated_checkpoint_is_one_clear_error(tmp_path):
    """No record yet, a truncated last.ckpt: exit 2 naming the file, no failed record."""
    out = tmp_path / "out"
    args = ["--task", "ood", "--max-epochs", "1", "--no-progress", "--out", str(out)]
    run_dir = run_dir_of(*args)
    (run_dir / "checkpoints").mkdir(parents=True)
    buffer = run_dir / "checkpoints" / "last.ckpt"
    torch.save({"epoch": 0, "state_dict": {"w": torch.zeros(3)}}, buffer)
    buffer.write_bytes(buffer.read_bytes()[:40])
    proc = run_cli("run", *args, "--resume")
    assert proc.returncode == 2, proc.stderr
    assert f"checkpoint {buffer} cannot be loaded as plain weights" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (run_dir / "record.json").exists()


class Planted:
    """Unpickling this runs code (creates the file ``marker``)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _plant(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump({"model": Planted(str(marker))}, handle)


@pytest.mark.parametrize(
    ("task", "planted"),
    [("continual", "experience-009.pt"), ("ood", "last.ckpt")],
)
def test_a_planted_pickle_runs_no_code_on_resume(tmp_path, task, planted):
    out = tmp_path / "out"
    args = ["--task", task, "--max-epochs", "1", "--no-progress", "--out", str(out)]
    run_dir = run_dir_of(*args)
    marker = tmp_path / "pwned"
    checkpoints = run_dir / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save({"epoch": 0}, checkpoints / "last.ckpt")  # a resumable run
    _plant(checkpoints / planted, marker)
    proc = run_cli("run", *args, "--resume")
    assert not marker.exists(), "the planted pickle ran"
    assert proc.returncode == 2, proc.stderr
    assert str(checkpoints / planted) in proc.stderr
    assert "cannot be loaded as plain weights" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (run_dir / "record.json").exists()


def test_the_safe_loader_rejects_what_torch_weights_only_rejects(tmp_path):
    from hem_bench.runner import load_checkpoint_safely

    marker = tmp_path / "pwned"
    _plant(tmp_path / "evil.pt", marker)
    with pytest.raises(HemBenchError, match="evil.pt"):
        load_checkpoint_safely(tmp_path / "evil.pt")
    assert not marker.exists()
    torch.save({"w": torch.arange(3)}, tmp_path / "good.pt")
    assert torch.equal(load_checkpoint_safely(tmp_path / "good.pt")["w"], torch.arange(3))


def _epochs_logged(run_dir: Path) -> list[int]:
    with open(run_dir / "logs" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [int(float(r["epoch"])) for r in rows if r.get("train/loss")]


@pytest.mark.slow
def test_killed_run_resumes_appending_its_log(tmp_path):
    """Killed after a few epochs, resumed: the CSV log keeps the epochs before the
    checkpoint, has each epoch once, and the record equals an uninterrupted run's."""
    args = ["run", "--task", "ood", "--max-epochs", "6", "--no-progress"]
    whole = tmp_path / "whole"
    assert run_cli(*args, "--out", str(whole)).returncode == 0
    out = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "hem_bench", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        found = list(out.glob("*/checkpoints/last.ckpt"))
        if found and torch.load(found[0], weights_only=True)["epoch"] >= 1:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    (run_dir,) = out.glob("ood-*")
    assert not (run_dir / "record.json").exists(), "finished before it was killed"
    assert (run_dir / LOCK_NAME).exists()  # left by the killed process: stale
    before = _epochs_logged(run_dir)
    assert 0 in before and 1 in before
    resumed = run_cli(*args, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    epochs = _epochs_logged(run_dir)
    assert sorted(set(epochs)) == list(range(6))
    assert epochs == sorted(epochs)  # each epoch's rows once, in order
    assert epochs == _epochs_logged(next(whole.glob("ood-*")))
    assert records(out).popitem()[1]["metrics"] == records(whole).popitem()[1]["metrics"]
    assert not (run_dir / LOCK_NAME).exists()


# --- locks and concurrency ---------------------------------------------------------------


def test_a_live_lock_stops_a_second_process_and_a_dead_one_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with claim(run_dir):
        assert (run_dir / LOCK_NAME).read_text().split()[0] == str(os.getpid())
        busy = pytest.raises(RunInProgress, match=f"in use by process {os.getpid()}")
        with busy, claim(run_dir):
            pass
    assert not (run_dir / LOCK_NAME).exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    (run_dir / LOCK_NAME).write_text(f"{dead.pid} {socket.gethostname()}\n")
    with claim(run_dir):
        assert (run_dir / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    # a lock from another host cannot be checked: it is respected
    (run_dir / LOCK_NAME).write_text(f"{dead.pid} another-host\n")
    with pytest.raises(RunInProgress, match="another-host"), claim(run_dir):
        pass


def test_run_refuses_a_folder_another_process_holds(tmp_path):
    out = tmp_path / "out"
    args = ["--task", "ood", *QUICK, "--out", str(out)]
    run_dir = run_dir_of(*args)
    run_dir.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        import socket

        (run_dir / LOCK_NAME).write_text(f"{holder.pid} {socket.gethostname()}\n")
        proc = run_cli("run", *args)
        assert proc.returncode == 2, proc.stderr
        assert f"is in use by process {holder.pid}" in proc.stderr
        assert not list(run_dir.rglob("*.ckpt")) and not (run_dir / "record.json").exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_two_sweeps_into_one_folder_train_each_cell_once(tmp_path):
    out = tmp_path / "results"
    args = [sys.executable, "-m", "hem_bench", "sweep", "--tasks", "ood", "--losses", "ce,hem"]
    args += ["--seeds", "0,1", "--max-epochs", "1", "--no-progress", "--out", str(out)]
    first = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    errors = [first.communicate(timeout=900)[1], second.communicate(timeout=900)[1]]
    assert first.returncode == 0 and second.returncode == 0, errors
    found = records(out)
    assert len(found) == 4 and all(r["status"] == "completed" for r in found.values())
    done = [line for text in errors for line in text.splitlines() if "    done ood/" in line]
    assert len(done) == 4, errors  # each cell trained by one sweep only
    for path in out.glob("*/logs/metrics.csv"):
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        assert all(len(row) == len(rows[0]) for row in rows)
        assert all(row != rows[0] for row in rows[1:])  # one header
    assert not list(out.glob(f"*/{LOCK_NAME}"))


@pytest.mark.slow
def test_run_and_sweep_with_two_workers_agree_on_one_cell(tmp_path):
    """A sweep's workers use a fixed thread count, part of the run id: the same cell run by
    ``run --threads N`` has the same run id and the same metrics; with another thread count
    it is another run id, so neither record passes for the other."""
    cell = ["--max-epochs", "1", "--no-progress"]
    sweep_out = tmp_path / "sweep"
    proc = run_cli(
        "sweep", "--tasks", "ood", "--losses", "ce", "--seeds", "0", "--workers", "2",
        *cell, "--out", str(sweep_out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (swept,) = records(sweep_out).values()
    threads = swept["config"]["threads"]
    assert threads == max(1, torch.get_num_threads() // 2) == swept["env"]["cpu_threads"]
    run_out = tmp_path / "run"
    args = ["--task", "ood", "--loss", "ce", *cell, "--threads", str(threads)]
    proc = run_cli("run", *args, "--out", str(run_out))
    assert proc.returncode == 0, proc.stderr
    (ran,) = records(run_out).values()
    assert ran["run_id"] == swept["run_id"]
    assert ran["metrics"] == swept["metrics"]
    other = run_dir_of("--task", "ood", "--loss", "ce", *cell, "--threads", str(threads + 1))
    assert other.name != next(run_out.glob("ood-*")).name


# --- interruption ------------------------------------------------------------------------


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_ctrl_c_during_training_says_where_and_exits_130(tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "hem_bench", "run", "--task", "ood", "--max-epochs", "50"]
        + ["--no-progress", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a test suite started in the background (``pytest &``)
        # inherits an ignored SIGINT, which Python keeps ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert _wait_for(lambda: list(out.glob("*/checkpoints/last.ckpt")), 300)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("hem-bench run: interrupted during epoch ")
    assert "of 50" in lines[0] and "--resume" in lines[0]
    assert not list(out.glob(f"*/{LOCK_NAME}"))


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_sweep_workers_exit_when_the_parent_is_killed(tmp_path):
    out = tmp_path / "results"
    process = subprocess.Popen(
        [sys.executable, "-m", "hem_bench", "sweep", "--tasks", "ood", "--losses", "ce,hem"]
        + ["--seeds", "0", "--max-epochs", "50", "--workers", "2", "--no-progress"]
        + ["--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert _wait_for(lambda: len(list(out.glob("*/config.yaml"))) == 2, 300)
    workers = _children(process.pid)
    assert workers, "no worker processes found"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _wait_for(lambda: not any(_alive(pid) for pid in workers), 15), [
        pid for pid in workers if _alive(pid)
    ]


# --- the leaderboard names bad records ---------------------------------------------------


def test_the_leaderboard_names_records_with_bad_metrics_or_unknown_tasks(tmp_path):
    from hem_bench.results.store import RecordWarning, load_results
    from tests.results.records import record, write

    write(tmp_path, "good", record("ood", "digits", "ce", 0, {"auroc": 0.8}, "auroc"))
    write(tmp_path, "inf", record("ood", "digits", "ce", 1, {"auroc": float("inf")}, "auroc"))
    write(tmp_path, "text", record("ood", "digits", "ce", 2, {"auroc": "high"}, "auroc"))
    write(tmp_path, "odd", record("oddtask", "digits", "ce", 0, {"auroc": 0.7}, "auroc"))
    with pytest.warns(RecordWarning) as caught:
        results = load_results(tmp_path)
    messages = [str(w.message) for w in caught]
    (skipped,) = [m for m in messages if "could not be read" in m]
    assert str(tmp_path / "inf" / "record.json") in skipped and "'auroc' is infinite" in skipped
    assert str(tmp_path / "text" / "record.json") in skipped
    assert "'auroc' is not a number: 'high'" in skipped
    (unknown,) = [m for m in messages if "unknown tasks" in m]
    assert "'oddtask'" in unknown and str(tmp_path / "odd" / "record.json") in unknown
    assert sorted(results.frame["task"]) == ["oddtask", "ood"]
