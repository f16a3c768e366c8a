"""Each loss against an independent computation: torch's own losses, pytorch-ood's
LogitNorm, segmentation-models-pytorch's Dice loss, or the formula evaluated per example."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hem_bench.losses import get_loss

from . import reference as ref


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(48, 7, generator=gen) * 2
    t = torch.randint(0, 7, (48,), generator=gen)
    return y, t


def per_example(fn, y, t, **kw):
    y_np = y.double().numpy()
    return np.array([fn(y_np[i], int(t[i]), **kw) for i in range(len(t))])


def test_ce_is_torch_cross_entropy(batch):
    y, t = batch
    for reduction in ("mean", "sum", "none"):
        ours = get_loss("ce", reduction=reduction)(y, t)
        np.testing.assert_allclose(ours, F.cross_entropy(y, t, reduction=reduction), rtol=1e-6)
    dense = torch.randn(2, 4, 3, 3)
    dense_t = torch.randint(0, 4, (2, 3, 3))
    dense_t[0, 0, 0] = 255
    np.testing.assert_allclose(
        get_loss("ce", ignore_index=255)(dense, dense_t),
        F.cross_entropy(dense, dense_t, ignore_index=255),
        rtol=1e-6,
    )


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.4])
def test_label_smoothing_formula(batch, alpha):
    y, t = batch
    ours = get_loss("label-smoothing", alpha=alpha, reduction="none")(y, t)
    np.testing.assert_allclose(
        ours, per_example(ref.label_smoothing_example, y, t, alpha=alpha), rtol=1e-5
    )


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 5.0])
def test_focal_formula(batch, gamma):
    y, t = batch
    ours = get_loss("focal", gamma=gamma, reduction="none")(y, t)
    np.testing.assert_allclose(
        ours, per_example(ref.focal_example, y, t, gamma=gamma), rtol=1e-5, atol=1e-7
    )


def test_focal_with_gamma_zero_is_ce(batch):
    y, t = batch
    np.testing.assert_allclose(get_loss("focal", gamma=0.0)(y, t), F.cross_entropy(y, t), rtol=1e-6)


@pytest.mark.parametrize("tau", [0.04, 0.5, 1.0])
def test_logitnorm_matches_pytorch_ood(batch, tau):
    from pytorch_ood.loss import LogitNorm

    y, t = batch
    for reduction in ("mean", "sum", "none"):
        theirs = LogitNorm(t=tau, reduction=reduction)(y, t)
        ours = get_loss("logitnorm", tau=tau, reduction=reduction)(y, t)
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("tau", [0.0, 1.0, 2.0])
def test_logit_adjusted_formula(batch, tau):
    y, t = batch
    counts = np.array([500.0, 200, 100, 50, 20, 10, 5])
    ours = get_loss("logit-adjusted", class_counts=counts, tau=tau, reduction="none")(y, t)
    expected = per_example(ref.logit_adjusted_example, y, t, counts=counts, tau=tau)
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_logit_adjusted_with_balanced_counts_is_ce(batch):
    y, t = batch
    ours = get_loss("logit-adjusted", class_counts=[3] * 7)(y, t)
    np.testing.assert_allclose(ours, F.cross_entropy(y, t), rtol=1e-6)


@pytest.mark.parametrize(("margin", "p"), [(1.0, 1), (0.5, 1), (2.0, 2)])
def test_multi_margin_is_torch_multi_margin(batch, margin, p):
    y, t = batch
    for reduction in ("mean", "sum", "none"):
        theirs = torch.nn.MultiMarginLoss(p=p, margin=margin, reduction=reduction)(y, t)
        ours = get_loss("multi-margin", margin=margin, p=p, reduction=reduction)(y, t)
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(
        get_loss("multi-margin", margin=margin, p=p, reduction="none")(y, t),
        per_example(ref.multi_margin_example, y, t, margin=margin, p=p),
        rtol=1e-5,
    )


def test_sigmoid_ce_formula(batch):
    y, t = batch
    ours = get_loss("sigmoid-ce", reduction="none")(y, t)
    np.testing.assert_allclose(ours, per_example(ref.sigmoid_ce_example, y, t), rtol=1e-5)


def test_sigmoid_ce_asks_for_an_output_bias_of_minus_log_c():
    assert get_loss("sigmoid-ce").output_bias_init(10) == pytest.approx(-np.log(10))
    assert get_loss("ce").output_bias_init(10) is None


@pytest.mark.parametrize(
    ("k", "target_value", "scale"), [(1.0, 1.0, None), (5.0, 30.0, None), (9.0, 60.0, 10.0)]
)
def test_squared_error_formula(batch, k, target_value, scale):
    y, t = batch
    ours = get_loss("squared-error", k=k, target_value=target_value, scale=scale, reduction="none")(
        y, t
    )
    expected = per_example(
        ref.squared_error_example, y, t, k=k, target_value=target_value, scale=scale
    )
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_squared_error_scale_comes_from_the_command_line_as_a_number():
    from hem_bench.losses import loss_info
    from hem_bench.losses._registry import parse_loss_params

    assert loss_info("squared-error").params["scale"] is None
    assert parse_loss_params("squared-error", {"scale": "10"}) == {"scale": 10.0}


def test_squared_error_with_unit_target_is_mse_against_one_hot(batch):
    y, t = batch
    ours = get_loss("squared-error")(y, t)
    theirs = F.mse_loss(y, F.one_hot(t, 7).float())
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_logit_penalty_default_is_the_released_imagenet_value():
    assert get_loss("logit-penalty").beta == 6e-4


@pytest.mark.parametrize("beta", [0.0, 6e-4, 0.1])
def test_logit_penalty_formula(batch, beta):
    y, t = batch
    ours = get_loss("logit-penalty", beta=beta, reduction="none")(y, t)
    np.testing.assert_allclose(
        ours, per_example(ref.logit_penalty_example, y, t, beta=beta), rtol=1e-5
    )


def test_dice_matches_smp_when_every_class_is_present():
    from segmentation_models_pytorch.losses import DiceLoss as SmpDice

    gen = torch.Generator().manual_seed(1)
    y = torch.randn(3, 4, 8, 8, generator=gen)
    t = torch.randint(0, 4, (3, 8, 8), generator=gen)
    assert len(t.unique()) == 4
    # smp computes (I + s) / ((P + G) / 2 + s) as a Tversky score: its s is half our eps
    theirs = SmpDice(mode="multiclass", smooth=0.5, from_logits=True)(y, t)
    ours = get_loss("dice", smooth=1.0)(y, t)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_dice_by_hand():
    """Two pixels, two classes. p = softmax([0, ln 3]) = [1/4, 3/4] at both pixels, targets
    0 and 1. Class 0: 2*(1/4) + 1 over (1/2 + 1) + 1 = 1.5/2.5; class 1: 2*(3/4) + 1 over
    (3/2 + 1) + 1 = 2.5/3.5. Loss = 1 - (0.6 + 5/7) / 2."""
    logit = np.log(3.0)
    y = torch.tensor([[[[0.0, 0.0]], [[logit, logit]]]])  # (1, 2, 1, 2)
    t = torch.tensor([[[0, 1]]])
    assert get_loss("dice")(y, t).item() == pytest.approx(1 - (0.6 + 5 / 7) / 2, rel=1e-6)


def test_dice_keeps_absent_classes_in_the_average():
    """An absent class scores eps / (sum of its probability + eps): 1 when it gets none."""
    y = torch.tensor([[[[9.0]], [[0.0]], [[-50.0]]]])  # class 2 gets ~no probability
    t = torch.tensor([[[0]]])
    p = torch.softmax(y[0, :, 0, 0], 0).double().numpy()
    dice0 = (2 * p[0] + 1) / (p[0] + 1 + 1)
    dice1 = 1 / (p[1] + 1)
    dice2 = 1 / (p[2] + 1)
    expected = 1 - (dice0 + dice1 + dice2) / 3
    assert get_loss("dice")(y, t).item() == pytest.approx(expected, abs=1e-6)
    # giving the absent class probability raises the loss
    y_worse = y.clone()
    y_worse[0, 2] = 9.0
    assert get_loss("dice")(y_worse, t).item() > get_loss("dice")(y, t).item() + 0.1


def test_dice_none_is_per_image():
    gen = torch.Generator().manual_seed(2)
    y = torch.randn(3, 4, 5, 5, generator=gen)
    t = torch.randint(0, 4, (3, 5, 5), generator=gen)
    per_image = get_loss("dice", reduction="none")(y, t)
    assert per_image.shape == (3,)
    for i in range(3):
        assert per_image[i].item() == pytest.approx(
            get_loss("dice")(y[i : i + 1], t[i : i + 1]).item(), rel=1e-6
        )
    assert get_loss("dice", reduction="sum")(y, t).item() == pytest.approx(
        per_image.sum().item(), rel=1e-6
    )


def test_balanced_softmax_formula_and_equivalence(batch):
    y, t = batch
    counts = np.array([500.0, 200, 100, 50, 20, 10, 5])
    ours = get_loss("balanced-softmax", class_counts=counts, reduction="none")(y, t)
    np.testing.assert_allclose(
        ours, per_example(ref.balanced_softmax_example, y, t, counts=counts), rtol=1e-5
    )
    # equal to logit adjustment with tau = 1 (Menon et al. 2021)
    np.testing.assert_allclose(
        ours, get_loss("logit-adjusted", class_counts=counts, reduction="none")(y, t), rtol=1e-5
    )


@pytest.mark.parametrize(("max_margin", "s"), [(0.5, 30.0), (0.3, 1.0)])
def test_ldam_formula(batch, max_margin, s):
    y, t = batch
    y = y / 10  # cosine-like logits, as in the paper
    counts = np.array([500.0, 200, 100, 50, 20, 10, 5])
    ours = get_loss("ldam", class_counts=counts, max_margin=max_margin, s=s, reduction="none")(y, t)
    expected = per_example(ref.ldam_example, y, t, counts=counts, max_margin=max_margin, s=s)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def test_ldam_drw_weights_follow_the_effective_number_from_the_start_epoch(batch):
    """LDAM-DRW (Cao et al. 2019): plain LDAM before epoch floor(0.8 E), then weights
    (1 - b) / (1 - b^n_c) normalised to sum C, applied as torch's weighted cross-entropy."""
    y, t = batch
    y = y / 10
    counts = np.array([500.0, 200, 100, 50, 20, 10, 5])
    loss = get_loss("ldam", class_counts=counts, drw=True)
    plain = get_loss("ldam", class_counts=counts)
    raw = (1 - 0.9999) / (1 - 0.9999**counts)
    weights = raw / raw.sum() * len(counts)
    np.testing.assert_allclose(loss.drw_weights.numpy(), weights, rtol=1e-5)
    margins = plain.margins
    shifted = 30.0 * (y - margins[t].unsqueeze(1) * F.one_hot(t, 7))
    weighted = F.cross_entropy(shifted, t, weight=torch.tensor(weights, dtype=torch.float32))
    for epoch, reweights in ((0, False), (15, False), (16, True), (19, True)):
        loss.set_epoch(epoch, 20)  # 20 epochs: re-weighting from epoch 16
        assert loss.reweighting is reweights
        expected = weighted if reweights else plain(y, t)
        assert loss(y, t).item() == pytest.approx(expected.item(), rel=1e-5)
    per = plain.per_example(y, t) * torch.tensor(weights, dtype=torch.float32)[t]
    loss.reduction = "none"
    np.testing.assert_allclose(loss(y, t), per, rtol=1e-5)
    loss.reduction = "sum"
    assert loss(y, t).item() == pytest.approx(per.sum().item(), rel=1e-5)
    ignored = t.clone()
    ignored[:5] = -100
    loss.reduction = "mean"
    kept = F.cross_entropy(shifted[5:], t[5:], weight=torch.tensor(weights, dtype=torch.float32))
    assert loss(y, ignored).item() == pytest.approx(kept.item(), rel=1e-5)
    never = get_loss("ldam", class_counts=counts)  # drw off: never re-weights
    never.set_epoch(19, 20)
    assert never.reweighting is False


def test_ldam_margins():
    loss = get_loss("ldam", class_counts=[10000, 625, 16])
    np.testing.assert_allclose(
        loss.margins.numpy(),
        [0.5 * 16**0.25 / 10000**0.25, 0.5 * 16**0.25 / 625**0.25, 0.5],
        rtol=1e-6,
    )
