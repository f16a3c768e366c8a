"""The listings (``losses``, ``tasks``, ``datasets``, ``models``) fit a terminal of 80-100
columns (``COLUMNS``) with one entry per line, never cutting a word; patterns filter them and
a name shows its details."""

from __future__ import annotations

import pytest

from hem_bench.cli import main
from hem_bench.cli._listing import ELLIPSIS, fit
from hem_bench.datamodules.base import available_datasets, dataset_info
from hem_bench.losses import available_losses, loss_info
from hem_bench.tasks import available_tasks, get_task


def _out(capsys, monkeypatch, columns, *args):
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(list(args)) == 0
    return capsys.readouterr().out


def _cut_at_a_word(shown: str, full: str) -> None:
    """``shown`` is ``full`` or a prefix of it ending at a word boundary, plus an ellipsis."""
    full = " ".join(full.split())
    if not shown.endswith(ELLIPSIS):
        assert shown == full
        return
    prefix = shown[: -len(ELLIPSIS)]
    assert full.startswith(prefix), (shown, full)
    rest = full[len(prefix) :]
    assert rest[:1] in (" ", ",", ";", ":", "(") or prefix.endswith(" "), (shown, full)


def test_fit_never_cuts_a_word():
    text = "high error margin: mean of the margin violations at or above their mean"
    for room in range(5, len(text) + 2):
        shown = fit(text, room)
        assert len(shown) <= room
        _cut_at_a_word(shown, text)


@pytest.mark.parametrize("columns", [80, 100])
@pytest.mark.parametrize("command", ["losses", "tasks", "datasets", "models"])
def test_listings_fit_the_terminal(capsys, monkeypatch, columns, command):
    out = _out(capsys, monkeypatch, columns, command)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= columns
    names = {
        "losses": available_losses(),
        "tasks": available_tasks(),
        "datasets": available_datasets(),
        "models": ["digits-cnn", "mnist-cnn", "resnet18-cifar", "timm/<name>"],
    }[command]
    starts = [line.split(" ", 1)[0] for line in lines]
    for name in names:
        assert starts.count(name) == 1  # one entry per line


@pytest.mark.parametrize("columns", [80, 100])
def test_losses_lines_cut_summaries_at_word_boundaries(capsys, monkeypatch, columns):
    out = _out(capsys, monkeypatch, columns, "losses")
    header = next(line for line in out.splitlines() if line.startswith("name "))
    start = header.index("what it computes")
    for line in out.splitlines():
        name = line.split(" ", 1)[0]
        if name in available_losses():
            _cut_at_a_word(line[start:], loss_info(name).summary)
            paper = loss_info(name).paper
            assert f"{paper.year}" in line[:start]


def test_tasks_lines_cut_summaries_at_word_boundaries(capsys, monkeypatch):
    out = _out(capsys, monkeypatch, 80, "tasks")
    header = next(line for line in out.splitlines() if line.startswith("task "))
    start = header.index("what it measures")
    for line in out.splitlines():
        name = line.split(" ", 1)[0]
        if name in available_tasks():
            _cut_at_a_word(line[start:], get_task(name).summary)
            assert f"{get_task(name).headline.name} ↑" in line


def test_patterns_filter(capsys, monkeypatch):
    out = _out(capsys, monkeypatch, 100, "losses", "hem*")
    listed = [line.split(" ", 1)[0] for line in out.splitlines()[2:] if line[:1].isalpha()]
    assert [n for n in listed if n in available_losses()] == ["hem", "hem-plus"]
    out = _out(capsys, monkeypatch, 100, "datasets", "*mnist")
    listed = {line.split(" ", 1)[0] for line in out.splitlines()}
    assert {"mnist", "fashion-mnist", "kmnist"} <= listed and "digits" not in listed
    out = _out(capsys, monkeypatch, 100, "models", "timm/resnet1*")
    listed = {line.split(" ", 1)[0] for line in out.splitlines()}
    assert "timm/resnet18" in listed and "digits-cnn" not in listed
    out = _out(capsys, monkeypatch, 100, "tasks", "c*")
    listed = {line.split(" ", 1)[0] for line in out.splitlines()}
    assert {"classify", "continual"} <= listed and "ood" not in listed


@pytest.mark.parametrize("command", ["losses", "tasks", "datasets", "models"])
def test_an_unknown_name_is_one_line_exit_2(capsys, command):
    assert main([command, "hemm"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown" in err and "'hemm'" in err


def test_loss_details(capsys, monkeypatch):
    out = _out(capsys, monkeypatch, 80, "losses", "hem")
    info = loss_info("hem")
    assert " ".join(out.split()).startswith(f"hem: {info.summary}")
    assert info.paper.url in out and "A margin-based replacement for" in out
    assert "margin  float  1.0" in out
    assert "HEM" in out and "e_j" in out  # the docstring's formula
    assert max(len(line) for line in out.splitlines()) <= 80
    out = _out(capsys, monkeypatch, 80, "losses", "hem-plus")
    assert "class counts: needed" in out


@pytest.mark.parametrize("task", available_tasks())
def test_task_details_show_every_option(capsys, monkeypatch, task):
    out = _out(capsys, monkeypatch, 100, "tasks", task)
    assert max(len(line) for line in out.splitlines()) <= 100
    flat = " ".join(out.split())
    spec = get_task(task)
    infos = spec.option_infos()
    assert set(infos) == set(spec.options.model_fields)
    for key, option in infos.items():
        assert f"  {key} " in out
        assert option.help and option.accepts  # help and range for every option
        assert " ".join(option.help.split()) in flat
        # a yes/no default as a configuration file writes it (false), others as Python's repr
        default = str(option.default).lower() if option.kind is bool else repr(option.default)
        described = f"type {option.kind.__name__}, default {default}, accepts: {option.accepts}"
        assert described in flat
    assert f"headline: {spec.headline.name}" in out
    assert "key metrics: " + ", ".join(f"{m.name} {m.arrow}" for m in spec.key_metrics) in flat


def test_datasets_data_dir_says_what_is_present(capsys, monkeypatch, tmp_path):
    (tmp_path / dataset_info("mnist").folder).mkdir(parents=True)
    (tmp_path / dataset_info("mnist").folder / "train-images-idx3-ubyte").write_bytes(b"x")
    (tmp_path / "cifar-10-batches-py").mkdir()  # an empty folder is not the data set
    out = _out(capsys, monkeypatch, 100, "datasets", "--data-dir", str(tmp_path))
    status = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in available_datasets():
            status[parts[0]] = parts[4]
    assert status["mnist"] == "present"
    assert status["cifar10"] == "missing" and status["svhn"] == "missing"
    assert status["digits"] == "shipped" and status["digit-scenes"] == "shipped"
    out = _out(capsys, monkeypatch, 100, "datasets", "mnist", "--data-dir", str(tmp_path))
    assert f"status:   present in {tmp_path}" in out
    assert main(["datasets", "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_model_details_count_parameters(capsys, monkeypatch):
    from hem_bench.models.small import digits_cnn

    module, features = digits_cnn(1)
    expected = sum(p.numel() for p in module.parameters())
    out = _out(capsys, monkeypatch, 80, "models", "digits-cnn")
    assert f"parameters: {expected:,} without the head" in out
    assert f"features:   {features} " in out
