"""The recipe's optimiser (SGD or AdamW) and the start of the output layer's bias (the
layer's default, or the log class prior), through the real run path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hem_bench.cli import main
from hem_bench.config import RunConfig
from hem_bench.runner import build_datamodule, build_task

#: no --threads: a run in this process sets torch's thread count for the rest of the session
FAST = ["--max-epochs", "1", "--no-progress"]


def _built(**settings):
    config = RunConfig(**settings).resolve()
    datamodule = build_datamodule(config)
    datamodule.setup("fit")
    return config, datamodule, build_task(config, datamodule)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_the_optimizer_of_the_recipe_trains_and_is_checkpointed(tmp_path, optimizer):
    args = ["run", "--task", "classify", *FAST, "--out", str(tmp_path)]
    args += ["--optimizer", optimizer, "--lr", "0.002", "--weight-decay", "0.001"]
    args += ["--task-option", "corruptions=none"]
    assert main(args) == 0
    (ckpt,) = tmp_path.glob("*/checkpoints/last.ckpt")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    (group,) = state["optimizer_states"][0]["param_groups"]
    assert group["initial_lr"] == pytest.approx(0.002)
    assert group["weight_decay"] == pytest.approx(0.001)
    if optimizer == "adamw":
        assert group["betas"] == (0.9, 0.999) or list(group["betas"]) == [0.9, 0.999]
        assert "momentum" not in group
    else:
        assert group["momentum"] == pytest.approx(0.9) and "betas" not in group
    (config,) = tmp_path.glob("*/config.yaml")
    assert f"optimizer: {optimizer}" in config.read_text()


def test_segmentation_recipe_is_adamw_with_the_prior_bias():
    config = RunConfig(task="segmentation").resolve()
    assert (config.optimizer, config.output_bias, config.lr) == ("adamw", "prior", 3e-3)
    assert RunConfig(task="classify").resolve().optimizer == "sgd"
    assert RunConfig(task="classify").resolve().output_bias == "default"
    # part of the protocol: another optimiser is another run
    other = RunConfig(task="segmentation", optimizer="sgd").resolve()
    assert other.run_id != config.run_id


def test_prior_bias_is_the_log_frequency_of_each_class_of_the_training_set():
    _, datamodule, module = _built(task="imbalanced", output_bias="prior")
    labels = datamodule.train_set.labels.numpy()
    counts = np.bincount(labels, minlength=10).astype(float)
    expected = np.log(np.maximum(counts, 0.5) / np.maximum(counts, 0.5).sum())
    bias = module.model.head.bias.detach().numpy()
    assert np.allclose(bias, expected, atol=1e-6)
    assert bias.argmax() == counts.argmax() and bias.argmin() == counts.argmin()


def test_prior_bias_of_segmentation_counts_pixels_and_skips_the_ignore_label():
    _, datamodule, module = _built(
        task="segmentation", task_options={"scenes": "train=40,val=10,test=10"}
    )
    masks = datamodule.train_set.labels.numpy().ravel()
    masks = masks[masks != 255]
    counts = np.bincount(masks, minlength=11).astype(float)
    expected = np.log(np.maximum(counts, 0.5) / np.maximum(counts, 0.5).sum())
    bias = module.model.head.bias.detach().numpy()
    assert np.allclose(bias, expected, atol=1e-5)
    assert bias[0] > math.log(0.5)  # background is most of every scene


def test_a_loss_that_needs_its_own_bias_keeps_it():
    """Sigmoid cross-entropy starts at -log C (Kornblith et al.) whatever the recipe says."""
    _, _, module = _built(task="classify", loss="sigmoid-ce", output_bias="prior")
    bias = module.model.head.bias.detach()
    assert torch.allclose(bias, torch.full_like(bias, -math.log(10)))


def test_default_bias_is_the_layers_own_initialisation():
    torch.manual_seed(0)
    _, _, module = _built(task="classify")
    bias = module.model.head.bias.detach()
    fan_in = module.model.head.weight.shape[1]
    assert bias.abs().max() <= 1 / math.sqrt(fan_in) and bias.std() > 0
