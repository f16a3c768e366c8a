"""A setting is declared once, on the configuration model: a subclass of ``RunConfig`` that
adds one gets its flag (``hem-bench run``'s and ``hem-bench sweep``'s), its place in the
resolved settings that ``--print-config`` prints, in the run id and in the protocol as
declared, and its range checked with one line naming the flag."""

from __future__ import annotations

import argparse

import pytest
import yaml

from hem_bench.config import ResolvedConfig, RunConfig, to_yaml
from hem_bench.errors import ConfigError
from hem_bench.settings import setting


class WarmupConfig(RunConfig):
    """One setting that changes what is computed, one that only labels the run."""

    warmup_epochs: int = setting(0, help="epochs of linear learning-rate warm-up", ge=0, le=50)
    label: str = setting(
        "", help="a label for the run's folder listing", group="output", run_id=False,
        protocol=False,
    )  # fmt: skip


def _parser(command: str = "run") -> argparse.ArgumentParser:
    from hem_bench.cli import run as run_cli
    from hem_bench.cli._settings import add_setting_flags

    parser = argparse.ArgumentParser(prog=f"hem-bench {command}", exit_on_error=False)
    if command == "run":
        run_cli.add_arguments(parser, WarmupConfig)
    else:  # a sweep's settings of every run: the same declarations, axes left out
        group = parser.add_argument_group("settings of every run")
        add_setting_flags({"settings": group}, WarmupConfig, axes=False)
    return parser


def _resolve(*flags: str) -> ResolvedConfig:
    from hem_bench.cli.run import resolve

    return resolve(_parser().parse_args(["--task", "classify", "--max-epochs", "1", *flags]))


def test_the_flags_come_from_the_declaration():
    run_help = _parser("run").format_help()
    assert "--warmup-epochs WARMUP_EPOCHS" in run_help
    assert "epochs of linear learning-rate warm-up" in run_help
    assert "--label LABEL" in run_help and "--task TASK" in run_help
    sweep_help = _parser("sweep").format_help()
    assert "--warmup-epochs" in sweep_help and "--label" in sweep_help
    assert "--task " not in sweep_help and "--seed " not in sweep_help  # axes: --tasks, --seeds
    # the plain RunConfig's flags do not have it
    assert "--warmup-epochs" not in _parser_plain_help()


def _parser_plain_help() -> str:
    from hem_bench.cli import run as run_cli

    parser = argparse.ArgumentParser(prog="hem-bench run")
    run_cli.add_arguments(parser)
    return parser.format_help()


def test_print_config_run_id_and_protocol_follow_the_declaration(tmp_path):
    from hem_bench.results.protocols import protocol_settings
    from hem_bench.results.record import make_record, now

    plain, warm, labelled = _resolve(), _resolve("--warmup-epochs", "3"), _resolve("--label", "x")
    assert isinstance(warm, ResolvedConfig) and isinstance(warm, WarmupConfig)
    printed = yaml.safe_load(to_yaml(warm))
    assert printed["warmup_epochs"] == 3 and printed["label"] == ""
    assert yaml.safe_load(to_yaml(labelled))["label"] == "x"
    # in the run id: a different experiment; not in it: the same run
    assert warm.run_id != plain.run_id
    assert labelled.run_id == plain.run_id
    assert "warmup_epochs" in warm.identity() and "label" not in warm.identity()
    # in the protocol as declared (read back from the record, as the leaderboard reads it)
    record = make_record(warm, "completed", {"acc": 0.5}, warm.task_def.headline, {}, now())
    settings = protocol_settings(record.data(), WarmupConfig)
    assert settings["warmup_epochs"] == 3 and "label" not in settings
    # the settings --print-config writes read back, as a --config file, as the same run
    (tmp_path / "c.yaml").write_text(to_yaml(warm))
    again = WarmupConfig.from_sources(tmp_path / "c.yaml").resolve()
    assert again.run_id == warm.run_id


def test_its_range_is_checked_with_one_line_naming_the_value():
    with pytest.raises(ConfigError) as caught:
        _resolve("--warmup-epochs", "51")
    message = str(caught.value)
    assert "\n" not in message
    assert "warmup_epochs" in message or "--warmup-epochs" in message
    assert "51" in message and "50" in message


def test_a_sweep_passes_the_setting_to_every_run():
    from hem_bench.cli._settings import settings_from

    args = _parser("sweep").parse_args(["--warmup-epochs", "2", "--max-epochs", "4"])
    assert settings_from(args, WarmupConfig, axes=False) == {"warmup_epochs": 2, "max_epochs": 4}
