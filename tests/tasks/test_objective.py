"""The training objective: the loss plus Kornblith et al.'s extra L2 on the final layer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hem_bench.losses import get_loss
from hem_bench.models import build_classifier
from hem_bench.tasks.base import ClassificationTask


@pytest.mark.parametrize("final_l2", [0.0, 8e-4, 0.5])
def test_final_l2_adds_half_lambda_times_the_squared_head_weights(final_l2):
    torch.manual_seed(0)
    model = build_classifier("digits-cnn", 10, (1, 8, 8), [0.0], [1.0])
    task = ClassificationTask(
        model, get_loss("ce"), lr=0.1, momentum=0.9, weight_decay=0.0, final_l2=final_l2
    )
    images, target = torch.randn(6, 1, 8, 8), torch.tensor([0, 1, 2, 3, 4, 5])
    logits = model(images)
    weights = model.head.weight.detach().numpy().astype("float64")
    expected = F.cross_entropy(logits, target).item() + final_l2 / 2 * (weights**2).sum()
    assert task.objective(logits, target).item() == pytest.approx(expected, rel=1e-6)
    # the bias is not penalised
    task.objective(logits, target).backward()
    ce_only = torch.autograd.grad(F.cross_entropy(model(images), target), model.head.bias)[0]
    assert torch.allclose(model.head.bias.grad, ce_only, atol=1e-7)


def test_the_task_tells_a_scheduled_loss_each_epoch(tmp_path, monkeypatch):
    """LDAM-DRW learns the epoch from the task at every epoch's start, in a real run."""
    from hem_bench.cli import main
    from hem_bench.losses.longtail import LDAMLoss

    calls = []
    original = LDAMLoss.set_epoch

    def spy(self, epoch, max_epochs):
        original(self, epoch, max_epochs)
        calls.append((epoch, max_epochs, self.reweighting))

    monkeypatch.setattr(LDAMLoss, "set_epoch", spy)
    args = ["run", "--task", "imbalanced", "--loss", "ldam", "--loss-param", "drw=true"]
    args += ["--loss-param", "drw_start=0.5", "--max-epochs", "4", "--no-progress"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    assert calls == [(0, 4, False), (1, 4, False), (2, 4, True), (3, 4, True)]
