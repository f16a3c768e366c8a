"""Task options: typed and validated by each task's ``Options`` model when the configuration
is resolved (before any data loads), while the configuration keeps their text form, which
the run id hashes."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import pytest

from hem_bench.config import RunConfig
from hem_bench.errors import ConfigError
from hem_bench.tasks import get_task


def test_continual_shuffle_is_a_real_bool_recorded_as_a_bool():
    from hem_bench.config import to_yaml

    for given, typed in (("false", False), ("no", False), ("true", True), ("YES", True), (1, True)):
        config = RunConfig(task="continual", task_options={"shuffle": given}).resolve()
        assert config.options.shuffle is typed
        assert config.task_options["shuffle"] is typed  # the record and config.yaml hold a bool
    default = RunConfig(task="continual").resolve()
    assert default.options.shuffle is False and default.task_options["shuffle"] is False
    assert "  shuffle: false\n" in to_yaml(default)  # --print-config: a YAML boolean
    assert "  buffer: 20\n" in to_yaml(default)  # and numbers as numbers
    with pytest.raises(ConfigError, match="task option shuffle='maybe' must be true or false"):
        RunConfig(task="continual", task_options={"shuffle": "maybe"}).resolve()


def test_list_options_are_parsed_and_their_text_kept():
    config = RunConfig(
        task="adversarial",
        task_options={"attacks": "pgd, fgsm", "eps": "2/255,8/255", "pgd_step_size": "1/255"},
    ).resolve()
    assert config.options.attacks == ("pgd", "fgsm")
    assert config.options.eps == (float(Fraction(2, 255)), float(Fraction(8, 255)))
    assert config.options.pgd_step_size == float(Fraction(1, 255))
    assert config.options.headline_eps is None
    # the configuration (and so the run id) holds what was given
    assert config.task_options["attacks"] == "pgd, fgsm"
    assert config.task_options["eps"] == "2/255,8/255"
    classify = RunConfig(
        task="classify",
        task_options={
            "corruptions": ["contrast", "rotate"],
            "severities": "1,3",
            "classes": "0-2,7",
        },
    ).resolve()
    assert classify.options.corruption_pairs == [
        ("contrast", 1),
        ("contrast", 3),
        ("rotate", 1),
        ("rotate", 3),
    ]
    assert classify.options.classes == (0, 1, 2, 7)
    assert classify.task_options["corruptions"] == "contrast,rotate"


@pytest.mark.parametrize(
    ("task", "options", "message"),
    [
        ("adversarial", {"eps": "8/0"}, "attack budget '8/0' must be a number"),
        ("adversarial", {"norm": "l3"}, "norm must be one of linf, l2; got 'l3'"),
        (
            "adversarial",
            {"adv_train": "trades", "norm": "l2"},
            "trades is implemented for norm=linf",
        ),
        ("adversarial", {"pgd_steps": 0}, "pgd_steps must be >= 1"),
        ("classify", {"severities": "0"}, "severities must be integers 1..5; got '0'"),
        ("classify", {"classes": "a-b"}, "classes must be indices or ranges"),
        ("classify", {"corruption_subset": -1}, "corruption_subset must be a number of test"),
        ("ood", {"noise_count": 0}, "noise_count must be a number of images from 1 to 10000"),
        ("ood", {"known": True}, "task option known=True must be of type int"),
        ("imbalanced", {"ratio": 0.5}, "ratio must be a finite number >= 1"),
        ("imbalanced", {"kind": "linear"}, "task option kind='linear': Input should be 'exp'"),
        ("segmentation", {"val_fraction": 1.5}, "val_fraction=1.5: Input should be less than"),
        ("segmentation", {"scenes": "train=0"}, "scenes: train must be at least 1"),
        ("continual", {"buffer": -5}, "buffer size must be >= 0; got -5"),
        ("continual", {"colour": 1}, "task 'continual' has no option 'colour'"),
    ],
)
def test_bad_options_are_one_clear_error_at_resolution(task, options, message):
    with pytest.raises(ConfigError) as error:
        RunConfig(task=task, task_options=options).resolve()
    assert message in str(error.value) and "\n" not in str(error.value)


def test_every_option_has_help_a_range_and_a_valid_default():
    for name in ("classify", "ood", "adversarial", "imbalanced", "continual", "segmentation"):
        task = get_task(name)
        infos = task.option_infos()
        assert infos and all(i.help and i.accepts for i in infos.values())
        text, parsed = task.resolve_options({})
        assert text == {key: info.default for key, info in infos.items()}
        assert type(parsed) is task.options


def test_the_registry_and_resolution_import_no_lightning():
    code = (
        "import sys\n"
        "from hem_bench.config import RunConfig\n"
        "from hem_bench.tasks import available_tasks\n"
        "for name in available_tasks():\n"
        "    RunConfig(task=name).resolve()\n"
        "print('lightning' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
