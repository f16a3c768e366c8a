"""The command line: start-up without heavy imports, the losses table, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hem_bench.cli import main
from hem_bench.losses import available_losses, loss_info
from tests.helpers import run_cli


def test_help_imports_neither_torch_nor_lightning():
    code = (
        "import sys, contextlib, io\n"
        "from hem_bench.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help']) if False else None\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'lightning', 'torchvision', 'timm', 'pandas') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_help_lists_the_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "losses" in proc.stdout


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: hem-bench" in capsys.readouterr().out


def test_losses_table_lists_every_loss_with_its_metadata(capsys):
    assert main(["losses", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].startswith("| name | paper | year | tasks |")
    for name in available_losses():
        info = loss_info(name)
        row = next(line for line in lines if line.startswith(f"| {name} |"))
        assert info.paper.authors in row and str(info.paper.year) in row
        for param, default in info.params.items():
            assert f"{param}={default}" in row
    hem_plus = next(line for line in lines if line.startswith("| hem-plus |"))
    assert "needed" in hem_plus


def test_losses_json(capsys):
    assert main(["losses", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == set(available_losses())
    assert by_name["hem"]["parameters"] == {"margin": 1.0}
    assert by_name["hem"]["year"] == 2025
    assert by_name["hem-plus"]["class_counts"] is True
    assert by_name["dice"]["tasks"] == ["classification", "segmentation"]


def test_losses_terminal_table(capsys):
    assert main(["losses"]) == 0
    out = capsys.readouterr().out
    hem_plus = next(line for line in out.splitlines() if line.startswith("hem-plus "))
    assert "Spratling 2025" in hem_plus and " yes " in hem_plus


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["losses", "--format", "xml"], "invalid choice: 'xml'"),
        (["nonsense"], "invalid choice: 'nonsense'"),
    ],
)
def test_usage_errors_exit_2_without_traceback(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("hem-bench ")


def test_tasks_lists_every_task_with_its_defaults_and_options(capsys):
    from hem_bench.tasks import available_tasks, get_task

    assert main(["tasks", "--format", "json"]) == 0
    rows = {row["task"]: row for row in json.loads(capsys.readouterr().out)}
    assert (
        set(rows)
        == set(available_tasks())
        == {
            "classify",
            "ood",
            "adversarial",
            "imbalanced",
            "continual",
            "segmentation",
        }
    )
    assert rows["ood"]["headline"] == "auroc (higher is better)"
    assert rows["segmentation"]["kind"] == "segmentation"
    assert rows["continual"]["options"]["buffer"] == 20
    assert rows["adversarial"]["options"]["trades_beta"] == 6.0
    for name, row in rows.items():
        task = get_task(name)
        assert row["dataset"] == task.default_dataset
        assert set(row["options"]) == set(task.options.model_fields)
    assert main(["tasks", "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("| task |") and all(f"| {name} |" in markdown for name in rows)


def test_task_option_flags_are_shorthands(capsys):
    """--buffer and --adv-train set the task options of the same names."""
    import yaml

    assert main(["run", "--task", "continual", "--buffer", "0", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["task_options"]["buffer"] == 0
    assert main(["run", "--task", "adversarial", "--adv-train", "trades", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["task_options"]["adv_train"] == "trades"
    assert main(["run", "--task", "ood", "--buffer", "0", "--print-config"]) == 2
    assert "task 'ood' has no option 'buffer'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "ood", "--loss", "hem", "--loss-param", "margin=-1"], "loss 'hem': margin"),
        (
            ["--task", "ood", "--loss", "logitnorm", "--loss-param", "tau=0"],
            "loss 'logitnorm': tau",
        ),
        (
            ["--task", "imbalanced", "--loss", "ldam", "--loss-param", "s=0"],
            "loss 'ldam': s must be",
        ),
    ],
)
def test_impossible_loss_values_are_refused_before_any_run(tmp_path, capsys, args, message):
    assert main(["run", *args, "--print-config"]) == 2
    assert message in capsys.readouterr().err
    assert main(["run", *args, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # no run folder was made


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_a_config_file_that_is_not_yaml_is_one_line(tmp_path, capsys, command):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [ood\nloss: : x\n")
    args = ["run", "--print-config"] if command == "run" else ["sweep", "--dry-run"]
    assert main([*args, "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"config file {str(bad)!r} is not valid YAML at line 2, column 5" in err
