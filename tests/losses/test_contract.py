"""The call contract of docs/design.md, checked for every loss in the registry, and the claims
each loss's metadata makes (tasks, class counts, defaults)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from hem_bench.losses import TASK_KINDS, available_losses, get_loss, loss_info

LOSSES = available_losses()


def build(name, num_classes=5, **params):
    if loss_info(name).needs_class_counts:
        params.setdefault("class_counts", [10 * (i + 1) for i in range(num_classes)])
    return get_loss(name, **params)


def data(shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.randn(*shape, generator=gen) * 2
    t = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=gen)
    return y, t


def mean_of(name, values: torch.Tensor) -> float:
    """What the loss's 'mean' should be, from its 'none' values and its metadata: the mean
    over the examples, or (HEM) the sum over the number of examples with positive loss."""
    if loss_info(name).mean_over == "positive":
        return values.sum().item() / (1e-6 + int((values > 0).sum()))
    return values.mean().item()


def test_registry_holds_the_losses_of_the_study():
    expected = {
        "hem",
        "hem-plus",
        "ce",
        "multi-margin",
        "logitnorm",
        "logit-adjusted",
        "focal",
        "dice",
        "label-smoothing",
        "sigmoid-ce",
        "squared-error",
        "logit-penalty",
    }
    assert expected <= set(LOSSES)


@pytest.mark.parametrize("name", LOSSES)
def test_metadata_is_complete_and_true(name):
    info = loss_info(name)
    assert info.name == name
    assert info.summary and info.paper.title and info.paper.url.startswith("https://")
    assert 1990 <= info.paper.year <= 2026
    assert info.tasks and set(info.tasks) <= set(TASK_KINDS)
    cls = type(build(name))
    # defaults listed in the metadata are the constructor's defaults
    signature = inspect.signature(cls.__init__)
    for param, default in info.params.items():
        assert signature.parameters[param].default == default
    # class counts: claimed iff the constructor needs them
    takes_counts = "class_counts" in signature.parameters
    assert info.needs_class_counts == (
        takes_counts and signature.parameters["class_counts"].default is inspect.Parameter.empty
    )
    # every loss documents its formula and its source
    doc = inspect.getdoc(cls) or ""
    assert str(info.paper.year) in doc or info.paper.authors.split()[0] in doc


@pytest.mark.parametrize("name", LOSSES)
def test_reductions(name):
    y, t = data((12, 5))
    loss_none = build(name, reduction="none")(y, t)
    assert loss_none.shape == (12,)
    total = build(name, reduction="sum")(y, t)
    mean = build(name, reduction="mean")(y, t)
    assert total.shape == () and mean.shape == ()
    assert total.item() == pytest.approx(loss_none.sum().item(), rel=1e-5)
    if loss_info(name).elementwise:
        assert mean.item() == pytest.approx(mean_of(name, loss_none), rel=1e-5)


@pytest.mark.parametrize("name", LOSSES)
def test_claimed_segmentation_support_is_real(name):
    """A loss that claims segmentation accepts dense logits; per-pixel losses equal their
    flattened (N*H*W, C) form."""
    info = loss_info(name)
    y, t = data((2, 5, 3, 4), seed=1)
    if not info.supports("segmentation"):
        pytest.skip(f"{name} does not claim segmentation")
    loss = build(name, reduction="none")
    values = loss(y, t)
    if info.elementwise:
        assert values.shape == t.shape
        flat = loss(y.permute(0, 2, 3, 1).reshape(-1, 5), t.reshape(-1))
        np.testing.assert_allclose(values.reshape(-1), flat, rtol=1e-5, atol=1e-6)
        mean = build(name)(y, t)
        assert mean.item() == pytest.approx(mean_of(name, flat), rel=1e-5)
    else:
        assert values.shape == (2,)


@pytest.mark.parametrize("name", LOSSES)
def test_ignore_index_skips_entries(name):
    y, t = data((2, 5, 4, 4), seed=2)
    t_ignored = t.clone()
    t_ignored[0, 0] = 255
    t_ignored[1, :, 1] = 255
    keep = t_ignored != 255
    loss = build(name, ignore_index=255)
    value = loss(y, t_ignored)
    # changing the logits of ignored pixels changes nothing
    y_changed = y.clone()
    y_changed.permute(0, 2, 3, 1)[~keep] = 100.0
    assert loss(y_changed, t_ignored).item() == pytest.approx(value.item(), rel=1e-5, abs=1e-7)
    if loss_info(name).elementwise:
        kept = y.permute(0, 2, 3, 1)[keep]
        assert value.item() == pytest.approx(build(name)(kept, t[keep]).item(), rel=1e-5)
        none = build(name, ignore_index=255, reduction="none")(y, t_ignored)
        assert torch.all(none[~keep] == 0)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_logits_are_not_hidden(name, bad):
    """A NaN or +inf logit never yields a finite loss: the loss is NaN (or inf), so the
    training step's non-finite check stops the run; for the target's logit and another's."""
    for position in (0, 1):
        y, t = data((6, 5), seed=8)
        t[2] = 0
        y[2, position] = bad
        value = build(name)(y, t)
        assert not torch.isfinite(value), f"{name} gave {value.item()} for {bad} at {position}"
        dense, dense_t = data((2, 5, 3, 3), seed=9)
        dense_t[1, 2, 2] = 0
        dense[1, position, 2, 2] = bad
        value = build(name)(dense, dense_t) if loss_info(name).supports("segmentation") else None
        assert value is None or not torch.isfinite(value)


@pytest.mark.parametrize("name", LOSSES)
def test_default_ignore_index_is_minus_100(name):
    y, t = data((6, 5), seed=3)
    t[2] = -100
    value = build(name)(y, t)
    assert torch.isfinite(value)
    if loss_info(name).elementwise:
        keep = t != -100
        assert value.item() == pytest.approx(build(name)(y[keep], t[keep]).item(), rel=1e-5)


@pytest.mark.parametrize("name", LOSSES)
def test_gradients_flow_and_are_finite(name):
    y, t = data((10, 5), seed=4)
    y.requires_grad_(True)
    build(name)(y, t).backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
    assert y.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", LOSSES)
def test_half_precision_is_computed_in_float32(name, dtype):
    y, t = data((10, 5), seed=5)
    value = build(name)(y.to(dtype), t)
    assert value.dtype == torch.float32 and torch.isfinite(value)
    expected = build(name)(y.to(dtype).float(), t)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("name", LOSSES)
def test_float64_stays_float64(name):
    y, t = data((6, 5), seed=6)
    assert build(name)(y.double(), t).dtype == torch.float64


@pytest.mark.parametrize("name", LOSSES)
def test_integer_target_dtypes_are_accepted(name):
    y, t = data((6, 5), seed=7)
    expected = build(name)(y, t)
    for dtype in (torch.int32, torch.uint8):
        assert build(name)(y, t.to(dtype)).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_empty_batch(name):
    y = torch.zeros(0, 5, requires_grad=True)
    t = torch.zeros(0, dtype=torch.long)
    value = build(name)(y, t)
    assert value.item() == 0.0
    value.backward()
