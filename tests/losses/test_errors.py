"""Bad input gets a clear ValueError or KeyError naming the value and what is accepted."""

from __future__ import annotations

import pytest
import torch

from hem_bench.errors import ConfigError, UnknownNameError
from hem_bench.losses import available_losses, get_loss, loss_info, parse_loss_params, register_loss
from hem_bench.losses._base import ClassificationLoss

LOSSES = available_losses()


def build(name, **params):
    if loss_info(name).needs_class_counts:
        params.setdefault("class_counts", [5, 6, 7])
    return get_loss(name, **params)


def test_unknown_loss_suggests_close_names():
    with pytest.raises(KeyError) as info:
        get_loss("hem-pluss")
    message = str(info.value)
    assert "unknown loss 'hem-pluss'" in message
    assert "Did you mean 'hem-plus'" in message
    assert "Available:" in message and "logitnorm" in message
    assert isinstance(info.value, UnknownNameError)
    with pytest.raises(KeyError, match="unknown loss 'crossentropy'"):
        loss_info("crossentropy")


def test_unknown_parameter_lists_the_accepted_ones():
    with pytest.raises(
        ValueError, match=r"loss 'hem' has no parameter 'mu'.*margin \(default 1.0\)"
    ):
        get_loss("hem", mu=2.0)
    with pytest.raises(ValueError, match="Did you mean 'margin'"):
        get_loss("hem", margn=2.0)


@pytest.mark.parametrize("name", ["hem-plus", "logit-adjusted", "ldam", "balanced-softmax"])
def test_class_counts_are_required(name):
    with pytest.raises(ValueError, match=f"loss '{name}' needs class counts"):
        get_loss(name)


def test_class_counts_are_refused_by_losses_that_do_not_use_them():
    with pytest.raises(ValueError, match="does not use class counts"):
        get_loss("hem", class_counts=[1, 2])


@pytest.mark.parametrize("counts", [[10, 0, 3], [10, -1, 3], [10, float("nan"), 3], [5]])
def test_impossible_class_counts(counts):
    with pytest.raises(ValueError, match="class_counts"):
        get_loss("hem-plus", class_counts=counts)


@pytest.mark.parametrize(
    ("name", "param", "value"),
    [
        ("hem", "margin", -1.0),
        ("hem-plus", "margin", -0.5),
        ("multi-margin", "margin", -1.0),
        ("logitnorm", "tau", 0.0),
        ("logitnorm", "tau", -0.04),
        ("logit-adjusted", "tau", -1.0),
        ("focal", "gamma", -2.0),
        ("label-smoothing", "alpha", 1.5),
        ("label-smoothing", "alpha", -0.1),
        ("dice", "smooth", 0.0),
        ("squared-error", "k", 0.0),
        ("squared-error", "scale", -10.0),
        ("ldam", "drw_start", 1.5),
        ("ldam", "drw_beta", 1.0),
        ("logit-penalty", "beta", -1e-3),
        ("hem", "margin", float("nan")),
    ],
)
def test_impossible_parameter_values(name, param, value):
    with pytest.raises(ValueError, match=param):
        build(name, **{param: value})


def test_bad_reduction_and_ignore_index():
    with pytest.raises(ValueError, match="reduction must be one of mean, sum, none; got 'avg'"):
        get_loss("hem", reduction="avg")
    with pytest.raises(ValueError, match="ignore_index must be an integer"):
        get_loss("ce", ignore_index=0.5)


@pytest.mark.parametrize("name", LOSSES)
def test_target_out_of_range(name):
    loss = build(name)
    with pytest.raises(ValueError, match=r"class index 3, outside \[0, 2\]"):
        loss(torch.randn(4, 3), torch.tensor([0, 1, 3, 2]))
    with pytest.raises(ValueError, match=r"class index -2"):
        loss(torch.randn(4, 3), torch.tensor([0, 1, -2, 2]))


@pytest.mark.parametrize("name", LOSSES)
def test_mismatched_shapes(name):
    loss = build(name)
    with pytest.raises(
        ValueError, match=r"target shape \(5,\) does not match logits shape \(4, 3\)"
    ):
        loss(torch.randn(4, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"expected \(2, 4, 4\)"):
        loss(torch.randn(2, 3, 4, 4), torch.zeros(2, 4, 5, dtype=torch.long))


@pytest.mark.parametrize("name", LOSSES)
def test_non_integer_targets(name):
    loss = build(name)
    with pytest.raises(ValueError, match="integer class indices.*float32"):
        loss(torch.randn(4, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="one-hot"):
        loss(torch.randn(4, 3), torch.zeros(4, 3))


@pytest.mark.parametrize("name", LOSSES)
def test_bad_logits(name):
    loss = build(name)
    with pytest.raises(ValueError, match=r"shape \(N, C\).*got shape \(4,\)"):
        loss(torch.randn(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="floating-point"):
        loss(torch.ones(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 classes"):
        loss(torch.randn(4, 1), torch.zeros(4, dtype=torch.long))


def test_count_losses_check_the_number_of_classes():
    with pytest.raises(ValueError, match="built with class counts for 3 classes"):
        get_loss("logit-adjusted", class_counts=[1, 2, 3])(torch.randn(2, 5), torch.tensor([0, 4]))


def test_parse_loss_params_types_values_by_the_loss():
    assert parse_loss_params("hem", {"margin": "2.5"}) == {"margin": 2.5}
    assert parse_loss_params("multi-margin", {"p": "2"}) == {"p": 2}
    with pytest.raises(ValueError, match=r"margin='abc' of 'hem' must be of type float"):
        parse_loss_params("hem", {"margin": "abc"})
    with pytest.raises(ValueError, match=r"p='1.5' of 'multi-margin' must be of type int"):
        parse_loss_params("multi-margin", {"p": "1.5"})
    with pytest.raises(ValueError, match="has no parameter 'gamma'"):
        parse_loss_params("hem", {"gamma": "1"})


def test_register_loss_rejects_bad_names_and_duplicates():
    with pytest.raises(ValueError, match="must be lowercase"):
        register_loss("Bad Name")
    with pytest.raises(ValueError, match="already registered"):

        @register_loss("hem")
        class Another(ClassificationLoss):
            def per_example(self, logits, target):
                return logits.sum(1)


def test_register_loss_requires_the_common_arguments():
    with pytest.raises(TypeError, match="must accept reduction and ignore_index"):

        @register_loss("no-reduction-loss")
        class NoReduction(torch.nn.Module):
            def __init__(self, scale: float = 1.0):
                super().__init__()

    assert "no-reduction-loss" not in available_losses()


def test_config_errors_are_value_errors():
    assert issubclass(ConfigError, ValueError)
    assert issubclass(UnknownNameError, KeyError)


def test_flags_files_sweeps_and_get_loss_share_one_check_and_one_message(tmp_path):
    """A loss parameter is typed and checked by the loss's parameter model wherever it
    comes from: the same value gives the same run whether it came as text (a flag) or as a
    YAML number, and a bad value gets the same message everywhere."""
    from hem_bench.checks import resolve_settings
    from hem_bench.sweep import grid

    (tmp_path / "run.yaml").write_text("task: ood\nloss: hem\nloss_params:\n  margin: 2\n")
    from_file = resolve_settings(str(tmp_path / "run.yaml"), {})
    from_flag = resolve_settings(
        None, {"task": "ood", "loss": "hem", "loss_params": {"margin": "2"}}
    )
    (from_sweep,) = grid(["ood"], ["hem"], [0], loss_params={"margin": "2"})
    assert from_file.loss_params == from_flag.loss_params == {"margin": 2.0}
    assert isinstance(from_file.loss_params["margin"], float)
    assert from_file.run_id == from_flag.run_id
    assert from_sweep.loss_params == {"margin": 2.0}
    expected = (
        "loss parameter margin='wide' of 'hem' must be of type float. Its parameters: margin "
        "(default 1.0); every loss also takes reduction and ignore_index."
    )
    (tmp_path / "bad.yaml").write_text("task: ood\nloss: hem\nloss_params:\n  margin: wide\n")
    for attempt in (
        lambda: resolve_settings(str(tmp_path / "bad.yaml"), {}),
        lambda: resolve_settings(None, {"loss": "hem", "loss_params": {"margin": "wide"}}),
        lambda: grid(["ood"], ["hem"], [0], loss_params={"margin": "wide"}),
        lambda: parse_loss_params("hem", {"margin": "wide"}),
        lambda: get_loss("hem", margin="wide"),
    ):
        with pytest.raises(ValueError) as caught:
            attempt()
        assert str(caught.value).endswith(expected), str(caught.value)
    # a yes/no is not a number, and a parameter typed by the loss is passed on typed
    with pytest.raises(ValueError, match=r"margin=True of 'hem' must be of type float"):
        get_loss("hem", margin=True)
    # "no" is no (bool("no") would be True)
    assert get_loss("ldam", class_counts=[3.0, 1.0], drw="no").drw is False
