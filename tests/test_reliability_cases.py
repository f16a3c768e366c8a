"""Reliability, second table: records are evidence, one validation, no hang, no traceback.

Every case is a command (run in this process through :func:`hem_bench.cli.main`) or a call
of the Python API, with what must happen: the exit code (or the exception type), a fragment
of the one-line message, and that nothing was written or replaced (the folder's files are
compared byte for byte before and after). Cases that must train use one epoch of the
embedded digits on one thread; the limits of the documented ranges are trained at the limit,
and must work.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from hem_bench.cli import main
from hem_bench.errors import HemBenchError
from hem_bench.results.record import read_record
from tests.helpers import REPO

QUICK = ["--max-epochs", "1", "--no-progress", "--threads", "1"]
ON_CPU = not torch.cuda.is_available() and not torch.backends.mps.is_available()


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a hash of its bytes ('dir' for a folder)."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        out[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """``hem-bench ARGS`` in this process: exit code, stdout, stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def completed(tmp_path_factory) -> Path:
    """A completed ood run (cross-entropy, one epoch, one thread): its results folder."""
    out = tmp_path_factory.mktemp("completed")
    assert main(["run", "--task", "ood", *QUICK, "--out", str(out)]) == 0
    return out


def copy_of(completed: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the completed results folder, and its run folder."""
    out = tmp_path / "out"
    shutil.copytree(completed, out)
    (run_dir,) = out.glob("ood-*")
    return out, run_dir


# --- the table ----------------------------------------------------------------------------
# A setup gets (tmp_path, the completed results folder) and returns the results folder the
# command uses (or None: tmp_path/out, empty); "{out}" and "{tmp}" in the command are filled
# in.


def _schema_2(tmp, completed):
    out, run_dir = copy_of(completed, tmp)
    record = json.loads((run_dir / "record.json").read_text())
    record["schema_version"] = 2
    (run_dir / "record.json").write_text(json.dumps(record))
    return out


def _garbage_record(tmp, completed):
    out, run_dir = copy_of(completed, tmp)
    (run_dir / "record.json").write_bytes(bytes(range(256)) * 4)
    return out


def _no_metrics(tmp, completed):
    out, run_dir = copy_of(completed, tmp)
    record = json.loads((run_dir / "record.json").read_text())
    del record["metrics"]
    (run_dir / "record.json").write_text(json.dumps(record))
    return out


def _edited_run_id(tmp, completed):
    out, run_dir = copy_of(completed, tmp)
    record = json.loads((run_dir / "record.json").read_text())
    record["run_id"] = "0123456789abcdef"
    (run_dir / "record.json").write_text(json.dumps(record))
    return out


def _record_folder(tmp, completed):
    out, run_dir = copy_of(completed, tmp)
    (run_dir / "record.json").unlink()
    (run_dir / "record.json").mkdir()
    return out


def _lock_folder(tmp, completed):
    out, run_dir = copy_of(completed, tmp)
    (run_dir / "record.json").unlink()
    shutil.rmtree(run_dir / "checkpoints")
    (run_dir / ".lock").mkdir()
    return out


def _killed(tmp, completed):
    """The state a run killed (kill -9) after its first epoch leaves: a checkpoint and the
    logs of that epoch, no record (its stale lock is taken over, as
    tests/test_reliability.py shows)."""
    out, run_dir = copy_of(completed, tmp)
    (run_dir / "record.json").unlink()
    (run_dir / "model.pt").unlink()
    return out


def _checkpoint(content):
    def setup(tmp, completed):
        out, run_dir = copy_of(completed, tmp)
        (run_dir / "record.json").unlink()
        last = run_dir / "checkpoints" / "last.ckpt"
        if content == "folder":
            last.unlink()
            last.mkdir()
        elif content == "random":
            last.write_bytes(bytes((i * 97 + 13) % 256 for i in range(3000)))
        elif content == "other run":
            saved = torch.load(last, weights_only=True)
            saved["hem_bench"] = {"run_id": "fedcba9876543210"}
            torch.save(saved, last)
        elif content == "other model":
            saved = torch.load(last, weights_only=True)
            saved.pop("hem_bench", None)  # as saved by an earlier version: no run id
            saved["state_dict"] = {"model.net.w": torch.zeros(3)}
            torch.save(saved, last)
        return out

    return setup


def _config(text):
    def setup(tmp, completed):
        (tmp / "c.yaml").write_text(text)

    return setup


def _big_config(tmp, completed):
    (tmp / "c.yaml").write_text("loss: " + "x" * 6_000_000 + "\n")


def _sweep_file(settings):
    def setup(tmp, completed):
        (tmp / "s.yaml").write_text(
            f"tasks: [ood]\nlosses: [ce]\nseeds: [0]\nsettings: {settings}\n"
        )

    return setup


def _sweep_over_schema_2(tmp, completed):
    return _schema_2(tmp, completed)


LONG = "a" * 300
TASK_OPTION = "--task-option"
SWEEP = ["sweep", "--tasks", "ood", "--losses", "ce", "--seeds", "0"]

#: (id, setup, command, exit code, fragment of the one-line message)
CASES = [
    # records are evidence
    ("record of schema 2", _schema_2, ["run", "--task", "ood"], 2,
     "cannot be read as this run's record (schema_version 2 (this version of hem-bench reads 1))"),
    ("record of schema 2, --resume", _schema_2, ["run", "--task", "ood", "--resume"], 2,
     "it is kept: move it away, or run with --force to move it aside"),
    ("record of garbage bytes", _garbage_record, ["run", "--task", "ood", "--resume"], 2,
     "record.json cannot be read as this run's record (cannot read it: 'utf-8' codec"),
    ("record without metrics", _no_metrics, ["run", "--task", "ood"], 2,
     "the field 'metrics' is missing"),
    ("record with an edited run id", _edited_run_id, ["run", "--task", "ood"], 2,
     "it holds run id '0123456789abcdef', not this run's"),
    ("record.json a folder", _record_folder, ["run", "--task", "ood"], 2,
     "(it is a folder, not a record file); it is kept"),
    (".lock a folder", _lock_folder, ["run", "--task", "ood"], 2,
     ".lock of run folder"),
    ("killed run, rerun without --resume", _killed, ["run", "--task", "ood"], 2,
     "holds an interrupted run (its last checkpoint is from epoch 1, and no record): add "
     "--resume to continue it, or --force"),
    ("--resume, checkpoint of random bytes", _checkpoint("random"),
     ["run", "--task", "ood", "--resume"], 2, "cannot be loaded as plain weights (it holds"),
    ("--resume, checkpoint a folder", _checkpoint("folder"),
     ["run", "--task", "ood", "--resume"], 2, "last.ckpt is a folder, not a checkpoint file"),
    ("--resume, checkpoint of another run", _checkpoint("other run"),
     ["run", "--task", "ood", "--resume"], 2, "was saved by run fedcba9876543210, not by this"),
    ("--resume, checkpoint of another model", _checkpoint("other model"),
     ["run", "--task", "ood", "--resume"], 2, "holds the weights of another model"),
    ("sweep over a record of schema 2", _sweep_over_schema_2, SWEEP, 2,
     "a sweep replaces no record"),
    # one validation: values and ranges
    ("eps=1e309", None, ["run", "--task", "adversarial", TASK_OPTION, "eps=1e309"], 2,
     "attack budget '1e309' must be a number such as 0.1 or 8/255, and finite"),
    ("eps=1e300", None, ["run", "--task", "adversarial", TASK_OPTION, "eps=1e300"], 2,
     "attack budget 1e+300 is above the limit of norm linf, 1"),
    ("hem margin=1e300", None, ["run", "--loss", "hem", "--loss-param", "margin=1e300"], 2,
     "margin must be a finite number >= 0 and at most 10000; got 1e+300"),
    ("--lr 3e38", None, ["run", "--lr", "3e38"], 2,
     "--lr 3e+38: Input should be less than or equal to 10"),
    ("--max-epochs 10**6", None, ["run", "--max-epochs", "1000000"], 2,
     "--max-epochs 1000000: Input should be less than or equal to 100000"),
    ("--weight-decay 5", None, ["run", "--weight-decay", "5"], 2,
     "--weight-decay 5.0: Input should be less than or equal to 1"),
    ("ood known=1", None, ["run", TASK_OPTION, "known=1"], 2,
     "an open-set split needs 2 to 9 (the digits data set has 10 classes) known classes"),
    ("noise_count of terabytes", None, ["run", TASK_OPTION, "noise_count=100000000000"], 2,
     "noise_count must be a number of images from 1 to 10000"),
    ("headline_eps not one of eps", None,
     ["run", "--task", "adversarial", TASK_OPTION, "eps=0.1", TASK_OPTION, "headline_eps=0.3"],
     2, "headline_eps=0.3 must be one of eps (0.1)"),
    ("headline_eps not a default budget", None,
     ["run", "--task", "adversarial", TASK_OPTION, "headline_eps=0.3"], 2,
     "must be one of the default budgets of digits (0.05, 0.1, 0.2)"),
    ("continual experiences=3", None, ["run", "--task", "continual", TASK_OPTION,
     "experiences=3"], 2, "do not divide into 3 experiences"),
    ("segmentation scenes of terabytes", None, ["run", "--task", "segmentation", TASK_OPTION,
     "scenes=train=100000000000"], 2, "1 to 100000 scenes"),
    ("segmentation size 100000", None, ["run", "--task", "segmentation", TASK_OPTION,
     "size=100000"], 2, "each side is 1 to 4096"),
    # paths and files
    ("--out with a 300-character name", None, ["run", "--out", "{tmp}/" + LONG], 2,
     "a file or folder name is at most 255 bytes long"),
    ("config with a NUL byte in out", _config('out: "a\\0b"\n'), ["run", "--config",
     "{tmp}/c.yaml"], 2, "a path cannot hold a NUL character"),
    ("--config a folder", None, ["run", "--config", "{tmp}"], 2, "is a folder; give a YAML file"),
    ("6 MB config value", _big_config, ["run", "--config", "{tmp}/c.yaml"], 2,
     "(6000000 characters)"),
    ("config of a list", _config("- 1\n- 2\n"), ["run", "--config", "{tmp}/c.yaml"], 2,
     "must hold a mapping of settings; it holds a list"),
    # the machine
    ("--strategy ddp_notebook", None, ["run", "--strategy", "ddp_notebook", "--devices", "2"],
     2, "--strategy ddp_notebook forks this process"),
    ("--precision 16-true", None, ["run", "--precision", "16-true"], 2,
     "--precision 16-true keeps the weights themselves in half precision"),
    ("--precision bf16-true", None, ["run", "--precision", "bf16-true"], 2,
     "--precision bf16-true keeps the weights themselves in half precision"),
    # argparse
    ("argparse error", None, ["run", "--max-epochs", "x"], 2,
     "hem-bench run: error: argument --max-epochs: invalid int value: 'x' ('hem-bench run "
     "--help' lists the options)"),
    # sweep files
    ("sweep settings seed and task", _sweep_file("{seed: 7, task: classify}"),
     ["sweep", "--config", "{tmp}/s.yaml"], 2, "set 'task', which a sweep takes from its grid"),
    ("sweep settings a list", _sweep_file("[1, 2]"), ["sweep", "--config", "{tmp}/s.yaml"], 2,
     "must be a mapping of run settings, e.g. {max_epochs: 5, lr: 0.1}; got a list"),
    ("sweep settings a string", _sweep_file("abc"), ["sweep", "--config", "{tmp}/s.yaml"], 2,
     "got a str: 'abc'"),
    ("sweep task_options a string", _sweep_file("{task_options: abc}"),
     ["sweep", "--config", "{tmp}/s.yaml"], 2, "task_options must be a mapping"),
    ("sweep seed in settings", _sweep_file("{seed: 7}"), ["sweep", "--config", "{tmp}/s.yaml"],
     2, "set 'seed', which a sweep takes from its grid: give it as seeds: [...]"),
]  # fmt: skip

if ON_CPU:
    CASES += [
        ("--precision 16-mixed on a CPU", None, ["run", "--precision", "16-mixed"], 2,
         "--precision 16-mixed (float16 autocast) needs a CUDA GPU; on a CPU Lightning would "
         "train in bf16-mixed instead"),
        ("--strategy fsdp on a CPU", None, ["run", "--strategy", "fsdp"], 2,
         "--strategy fsdp needs CUDA GPUs"),
        ("--devices 0,1 on a CPU", None, ["run", "--devices", "0,1"], 2,
         "--devices 0,1 lists GPU indices; on a CPU give a number of processes"),
        ("--devices 4096 on a CPU", None, ["run", "--accelerator", "cpu", "--devices", "4096"],
         2, "--devices 4096: this machine has"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "command", "code", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_case(tmp_path, capsys, completed, setup, command, code, message):
    out = (setup(tmp_path, completed) if setup else None) or tmp_path / "out"
    args = [a.replace("{tmp}", str(tmp_path)).replace("{out}", str(out)) for a in command]
    if "--out" not in args and "--config" not in args:
        args += ["--out", str(out)]
    # the settings of the completed run, whose folder some cases reuse; first, so that a
    # case's own value of one of them wins
    args = [args[0], *QUICK, *args[1:]]
    before = snapshot(tmp_path)
    got, _, err = cli(capsys, *args)
    line = one_line(err)
    assert got == code, err
    assert message in line, line
    assert len(line) < 1000, len(line)
    assert "weights_only" not in line  # never the advice to load a file unsafely
    assert snapshot(tmp_path) == before  # nothing written, nothing replaced


def test_every_case_is_distinct():
    assert len({case[0] for case in CASES}) == len(CASES)


# --- what --force and --resume do ------------------------------------------------------------


def _epochs_logged(run_dir: Path) -> list[int]:
    with open(run_dir / "logs" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [int(float(r["epoch"])) for r in rows if r.get("train/loss")]


def test_force_moves_an_unreadable_record_aside_and_says_so(tmp_path, capsys, completed):
    out = _schema_2(tmp_path, completed)
    (run_dir,) = out.glob("ood-*")
    old = (run_dir / "record.json").read_bytes()
    code, _, err = cli(capsys, "run", "--task", "ood", *QUICK, "--out", out, "--force")
    assert code == 0, err
    (moved,) = run_dir.glob("record.json.replaced-*")
    assert moved.read_bytes() == old  # kept, byte for byte
    assert f"moved it to {moved}" in err and "schema_version 2" in err
    assert read_record(run_dir / "record.json").status == "completed"
    (logs,) = run_dir.glob("logs.replaced-*")  # the earlier logs: moved, not appended to
    assert _epochs_logged(run_dir) == [0]
    assert "Traceback" not in err


def test_a_killed_run_resumes_on_request_and_logs_each_epoch_once(tmp_path, capsys, completed):
    out = _killed(tmp_path, completed)
    (run_dir,) = out.glob("ood-*")
    code, _, err = cli(capsys, "run", "--task", "ood", *QUICK, "--out", out, "--resume")
    assert code == 0, err
    assert _epochs_logged(run_dir) == [0]  # the checkpoint's epoch, not trained again
    fresh = json.loads(next(completed.glob("ood-*/record.json")).read_text())
    assert read_record(run_dir / "record.json").metrics == fresh["metrics"]


def test_force_starts_a_killed_run_again_without_repeating_log_rows(tmp_path, capsys, completed):
    out = _killed(tmp_path, completed)
    (run_dir,) = out.glob("ood-*")
    code, _, err = cli(capsys, "run", "--task", "ood", *QUICK, "--out", out, "--force")
    assert code == 0, err
    assert _epochs_logged(run_dir) == [0]
    assert "--force: removed" in err and "moved the earlier logs to" in err


def test_a_record_path_that_becomes_a_folder_loses_no_result(tmp_path, capsys, monkeypatch):
    """record.json made a folder while the run trains: the completed record is saved beside
    it, the command says where (exit 1, one line)."""
    import hem_bench.runner as runner

    real = runner.make_record

    def make_record(config, *args, **kwargs):
        (config.run_dir() / "record.json").mkdir()
        return real(config, *args, **kwargs)

    monkeypatch.setattr(runner, "make_record", make_record)
    code, _, err = cli(capsys, "run", "--task", "ood", *QUICK, "--out", tmp_path)
    line = one_line(err)
    assert code == 1 and "(it is a folder); the completed record was saved as" in line
    (saved,) = tmp_path.glob("ood-*/record.json.saved-*")
    assert read_record(saved).status == "completed" and saved.name in line


# --- the limits of the ranges work ------------------------------------------------------------


#: runs at the limits of the documented ranges (crop_padding and eval_batch_size, settings
#: of a file only, come from limits.yaml)
AT_THE_LIMITS = {
    "hem margin and lr": "--task ood --loss hem --loss-param margin=10000 --lr 10",
    "decay, l2, noise, batches, padding": "--task ood --weight-decay 1 --final-l2 10 "
    "--task-option noise_count=10000 --batch-size 1048576 --config {tmp}/limits.yaml",
    "linf budget 1": "--task adversarial --task-option eps=0,1 --task-option headline_eps=1 "
    "--task-option attacks=fgsm,pgd --task-option autoattack_n=0 --task-option pgd_steps=2",
    "l2 budget 1000": "--task adversarial --task-option norm=l2 --task-option eps=0,1000 "
    "--task-option attacks=fgsm,pgd --task-option autoattack_n=0 --task-option pgd_steps=2",
}


@pytest.mark.parametrize("args", list(AT_THE_LIMITS.values()), ids=list(AT_THE_LIMITS))
def test_a_value_at_a_documented_limit_runs(tmp_path, capsys, args):
    (tmp_path / "limits.yaml").write_text("crop_padding: 64\neval_batch_size: 1048576\n")
    args = args.replace("{tmp}", str(tmp_path)).split()
    code, _, err = cli(capsys, "run", *args, *QUICK, "--out", tmp_path / "out")
    assert code == 0, err
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("out/*/record.json")]
    assert record["status"] == "completed"
    assert all(v == v for v in record["metrics"].values())  # no NaN


def test_the_record_states_what_lightning_ran_with(completed):
    record = json.loads(next(completed.glob("ood-*/record.json")).read_text())
    trainer = record["env"]["trainer"]
    assert trainer["accelerator"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert trainer["precision"] == record["config"]["precision"] == "32-true"
    assert trainer["devices"] == 1 and trainer["strategy"] == "single_device"
    assert trainer["threads"] == record["config"]["threads"] == 1


# --- the Python API raises HemBenchError ----------------------------------------------------


def _api_cases():
    import hem_bench

    return [
        ("create_loss(None)", lambda t: hem_bench.create_loss(None), "a loss is named by a text"),
        ("create_loss(5)", lambda t: hem_bench.create_loss(5), "got 5"),
        ("class_counts='abc'", lambda t: hem_bench.create_loss("hem-plus", class_counts="abc"),
         "must be a list of numbers, one per class; got 'abc'"),
        ("class_counts=[1, 'a']",
         lambda t: hem_bench.create_loss("hem-plus", class_counts=[1, "a"]),
         "must be a list of numbers"),
        ("margin=1e300", lambda t: hem_bench.create_loss("hem", margin=1e300), "at most 10000"),
        ("load_results(None)", lambda t: hem_bench.load_results(None), "got None"),
        ("load_results(5)", lambda t: hem_bench.load_results(5), "got 5"),
        ("list_losses(5)", lambda t: hem_bench.list_losses(5), "pattern must be a text"),
        ("list_losses(['a'])", lambda t: hem_bench.list_losses(["a"]), "pattern must be a text"),
        ("list_tasks(5)", lambda t: hem_bench.list_tasks(5), "pattern must be a text"),
        ("list_models(5)", lambda t: hem_bench.list_models(5), "pattern must be a text"),
        ("list_datasets(5)", lambda t: hem_bench.list_datasets(5), "pattern must be a text"),
        ("run(force='yes')", lambda t: hem_bench.run(force="yes", out=str(t)),
         "force must be True or False"),
        ("run(config=5)", lambda t: hem_bench.run(config=5, out=str(t)),
         "config must be the path of a YAML file"),
        ("run(task_options='x')", lambda t: hem_bench.run(task_options="x", out=str(t)),
         "Input should be a valid dictionary"),
        ("run(precision='16-true')", lambda t: hem_bench.run(precision="16-true", out=str(t)),
         "keeps the weights themselves in half precision"),
        ("run(strategy='ddp_notebook')",
         lambda t: hem_bench.run(strategy="ddp_notebook", out=str(t)), "ddp_notebook forks"),
    ]  # fmt: skip


API_IDS = [
    "create_loss(None)", "create_loss(5)", "class_counts='abc'", "class_counts=[1, 'a']",
    "margin=1e300", "load_results(None)", "load_results(5)", "list_losses(5)",
    "list_losses(['a'])", "list_tasks(5)", "list_models(5)", "list_datasets(5)",
    "run(force='yes')", "run(config=5)", "run(task_options='x')", "run(precision='16-true')",
    "run(strategy='ddp_notebook')",
]  # fmt: skip


@pytest.mark.parametrize("name", API_IDS)
def test_api_case(tmp_path, name):
    (call, message) = {n: (c, m) for n, c, m in _api_cases()}[name]
    before = snapshot(tmp_path)
    with pytest.raises(HemBenchError) as caught:
        call(tmp_path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert snapshot(tmp_path) == before


def test_the_api_table_names_every_case():
    assert [n for n, _, _ in _api_cases()] == API_IDS


def test_api_run_honours_the_files_task_and_loss(tmp_path):
    import hem_bench

    config = tmp_path / "cls.yaml"
    config.write_text(
        f"task: imbalanced\nloss: focal\nmax_epochs: 1\nthreads: 1\nout: {tmp_path / 'out'}\n"
    )
    record = hem_bench.run(config=config)
    assert (record["task"], record["loss"]) == ("imbalanced", "focal")
    # a pathlib.Path is a path: the same run, found completed, not trained again
    assert hem_bench.run(config=str(config), out=tmp_path / "out") == record
    assert hem_bench.run(config=config, loss="ce")["loss"] == "ce"  # given: it wins


def test_api_resume_of_an_unreadable_record_raises(tmp_path, completed):
    import hem_bench
    from hem_bench.runner import RecordInTheWay

    out = _garbage_record(tmp_path, completed)
    with pytest.raises(RecordInTheWay, match="it is kept"):
        hem_bench.run(task="ood", max_epochs=1, threads=1, out=str(out), resume=True)


# --- readers are defensive -------------------------------------------------------------------


def _malformed_store(tmp_path: Path, completed: Path) -> tuple[Path, list[Path]]:
    """The completed run and, beside it, records a reader must name and skip."""
    store = tmp_path / "store"
    shutil.copytree(completed, store)
    good = json.loads(next(store.glob("ood-*/record.json")).read_text())
    bad = []
    for name, content in [
        ("nested", "[" * 100_000 + "]" * 100_000),
        ("lr-text", json.dumps({**good, "seed": 1, "config": {**good["config"], "lr": "x"}})),
        ("no-config", json.dumps({**good, "seed": 2, "config": None})),
        ("headline-text", json.dumps({**good, "seed": 3, "headline": "abc"})),
    ]:
        path = store / name / "record.json"
        path.parent.mkdir()
        path.write_text(content)
        bad.append(path)
    (store / "folder" / "record.json").mkdir(parents=True)
    bad.append(store / "folder" / "record.json")
    return store, bad


def test_load_results_names_and_skips_malformed_records(tmp_path, completed):
    from hem_bench.results.store import RecordWarning, load_results

    store, bad = _malformed_store(tmp_path, completed)
    with pytest.warns(RecordWarning) as caught:
        results = load_results(store)
    text = " ".join(str(w.message) for w in caught)
    for path in bad[:2] + bad[3:]:  # a record without config is read (older records had none)
        assert str(path) in text, path
    assert "nested too deeply" in text and "'config.lr' should be a valid number" in text
    assert "it is a folder" in text
    assert sorted(results.frame["seed"]) == [0, 2]


def test_leaderboard_and_analyze_name_malformed_records(tmp_path, capsys, completed):
    store, bad = _malformed_store(tmp_path, completed)
    code, _, err = cli(capsys, "leaderboard", "--results", store, "--out", tmp_path / "board",
                       "--format", "md,csv")  # fmt: skip
    assert code == 0, err
    assert "Traceback" not in err and str(bad[0]) in err
    assert (tmp_path / "board" / "leaderboard.md").is_file()
    code, _, err = cli(capsys, "analyze", "--results", store, "--out", tmp_path / "analysis",
                       "--no-plots")  # fmt: skip
    assert "Traceback" not in err and str(bad[0]) in err
    assert code == 2 and "no completed runs of task 'classify'" in err


def test_the_readme_states_the_limits_the_code_has():
    from hem_bench.checks import limits_text

    assert " ".join(limits_text().split()) in " ".join((REPO / "README.md").read_text().split())
