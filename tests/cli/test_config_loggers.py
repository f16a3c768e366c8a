"""The configuration round trip (``--print-config`` -> ``--config``, and a run folder's own
``config.yaml``) and the experiment loggers (``--logger``), each checked against what the
run's record says."""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from hem_bench.cli import main
from hem_bench.config import RunConfig

FAST = ["--max-epochs", "1", "--no-progress"]


def _printed(capsys, *args: str) -> str:
    assert main(["run", *args, "--print-config"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["--task", "ood", "--loss", "hem"],
        ["--task", "imbalanced", "--loss", "ldam", "--loss-param", "max_margin=0.3"],
        ["--task", "segmentation", "--loss", "dice"],
        ["--task", "classify", "--loss", "squared-error", "--head", "cosine", "--seed", "4"],
        ["--task", "continual", "--loss", "focal", "--buffer", "20"],
    ],
)
def test_print_config_reads_back_unchanged(tmp_path, capsys, args):
    first = _printed(capsys, *args)
    path = tmp_path / "c.yaml"
    path.write_text(first)
    assert _printed(capsys, "--config", str(path)) == first
    # flags still override the file
    again = yaml.safe_load(_printed(capsys, "--config", str(path), "--seed", "9"))
    assert again["seed"] == 9 and {k: v for k, v in again.items() if k != "seed"} == {
        k: v for k, v in yaml.safe_load(first).items() if k != "seed"
    }


def test_recipe_settings_in_a_file_override_the_recipe(tmp_path, capsys):
    base = yaml.safe_load(_printed(capsys, "--task", "classify"))
    assert base["momentum"] == 0.9 and base["crop_padding"] == 1
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**base, "momentum": 0.5, "crop_padding": 0, "flip": True}))
    changed = yaml.safe_load(_printed(capsys, "--config", str(path)))
    assert (changed["momentum"], changed["crop_padding"], changed["flip"]) == (0.5, 0, True)
    # recipe_source is derived: whatever a file says, it is the recipe's own description
    path.write_text(yaml.safe_dump({**base, "recipe_source": "edited by hand"}))
    assert (
        yaml.safe_load(_printed(capsys, "--config", str(path)))["recipe_source"]
        == (base["recipe_source"])
    )


def test_run_folder_config_reruns_the_same_experiment(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--task", "ood", "--loss", "ce", "--out", str(out), *FAST]) == 0
    (folder,) = out.iterdir()
    record = json.loads((folder / "record.json").read_text())
    capsys.readouterr()
    # the folder's own config.yaml names the same experiment: recognised, not run again
    assert main(["run", "--config", str(folder / "config.yaml")]) == 0
    err = capsys.readouterr().err
    assert f"already completed (run {record['run_id']})" in err
    # one recipe setting changed in that file: a different experiment
    settings = yaml.safe_load((folder / "config.yaml").read_text())
    settings["momentum"] = 0.8
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(settings))
    printed = yaml.safe_load(_printed(capsys, "--config", str(edited)))
    assert printed["momentum"] == 0.8
    from hem_bench.config import RunConfig as Config

    assert Config.from_sources(edited).resolve().run_id != record["run_id"]


def test_unknown_settings_are_named_and_the_accepted_ones_listed_once(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"task": "ood", "momentun": 0.9, "epochs": 3}))
    assert main(["run", "--config", str(path), "--print-config"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown settings 'epochs', 'momentun' (accepted: " in err
    assert err.count("accepted") == 1
    assert err.endswith(
        ") Did you mean 'max_epochs' for 'epochs'? Did you mean 'momentum' for 'momentun'?"
    )
    accepted = err.split("(accepted: ", 1)[1].split(")")[0].split(", ")
    assert set(accepted) == set(RunConfig.model_fields) | {"recipe_source"}
    assert "momentum" in accepted and "max_epochs" in accepted


def test_logger_names_are_checked(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"loggers": ["csv", "neptune"]}))
    assert main(["run", "--config", str(path), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert "unknown logger 'neptune'; accepted: csv, tensorboard, wandb, mlflow" in err


@pytest.mark.parametrize("name", ["tensorboard", "wandb", "mlflow"])
def test_a_logger_whose_package_is_missing_names_it(tmp_path, capsys, monkeypatch, name):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda pkg, *a: None if pkg == name else real(pkg, *a)
    )
    args = ["run", "--task", "ood", "--logger", name, "--out", str(tmp_path), *FAST]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"--logger {name} needs the package {name!r}, which is not installed: pip install" in err
    assert not list(tmp_path.iterdir())  # nothing trained, no run folder


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


OPTIONAL = ["tensorboard", "wandb", "mlflow"]


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    missing = [n for n in OPTIONAL if not _installed(n)]
    loggers = ["csv"] + [n for n in OPTIONAL if n not in missing]
    out = tmp_path_factory.mktemp("loggers")
    env = pytest.MonkeyPatch()
    env.setenv("WANDB_MODE", "offline")
    env.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = ["run", "--task", "ood", "--loss", "hem", "--out", str(out), *FAST]
    for name in loggers:
        args += ["--logger", name]
    try:
        assert main(args) == 0
    finally:
        env.undo()
    (folder,) = [p for p in out.iterdir() if (p / "record.json").is_file()]
    return out, folder, json.loads((folder / "record.json").read_text()), missing


def _skip_if_missing(name, missing):
    if name in missing:
        pytest.skip(f"{name} is not installed here (pip install {name}); its logger is untested")


def test_csv_logger_holds_settings_and_test_metrics(logged_run):
    _, folder, record, _ = logged_run
    import pandas as pd

    hparams = yaml.safe_load((folder / "logs" / "hparams.yaml").read_text())
    assert hparams["loss"] == "hem" and hparams["loss_params/margin"] == 1.0
    assert hparams["run_id"] == record["run_id"]
    frame = pd.read_csv(folder / "logs" / "metrics.csv")
    for key in ("auroc", "acc", "fpr95"):
        assert frame[f"test/{key}"].dropna().iloc[-1] == pytest.approx(record["metrics"][key])
    assert frame["train/loss"].notna().any()  # training curves are there too


def test_tensorboard_logger_holds_hparams_with_test_metrics(logged_run):
    _, folder, record, missing = logged_run
    _skip_if_missing("tensorboard", missing)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    scalars, hparams = {}, {}
    for events in sorted((folder / "logs" / "tensorboard").glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0, "tensors": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            scalars[tag] = acc.Scalars(tag)[-1].value
        try:
            content = acc.PluginTagToContent("hparams")
        except KeyError:  # an events file without the hparams summary
            continue
        assert "_hparams_/session_start_info" in content
        for blob in content.values():
            data = plugin_data_pb2.HParamsPluginData.FromString(blob)
            if data.HasField("session_start_info"):
                for key, value in data.session_start_info.hparams.items():
                    hparams[key] = getattr(value, value.WhichOneof("kind"))
    assert scalars["test/auroc"] == pytest.approx(record["metrics"]["auroc"], abs=1e-6)
    assert "train/loss" in scalars
    assert hparams["loss"] == "hem" and hparams["run_id"] == record["run_id"]


def test_wandb_logger_writes_an_offline_run(logged_run):
    _, folder, record, missing = logged_run
    _skip_if_missing("wandb", missing)
    (run_file,) = (folder / "wandb").glob("offline-run-*/run-*.wandb")
    data = run_file.read_bytes()  # protobuf records: keys and JSON values as plain strings
    assert b"test/auroc" in data and repr(record["metrics"]["auroc"]).encode() in data
    assert record["run_id"].encode() in data


def test_mlflow_logger_writes_to_a_file_store(logged_run):
    out, _, record, missing = logged_run
    _skip_if_missing("mlflow", missing)
    from mlflow.tracking import MlflowClient

    client = MlflowClient((out.resolve() / "mlruns").as_uri())
    (experiment,) = [e for e in client.search_experiments() if e.name == "hem-bench"]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["loss"] == "hem" and run.data.params["run_id"] == record["run_id"]
    assert run.data.metrics["test/auroc"] == pytest.approx(record["metrics"]["auroc"])
    assert run.info.status == "FINISHED"
