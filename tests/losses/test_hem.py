"""HEM and HEM+: worked examples, the definition, gradients and both implementations."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from hem_bench.losses import get_loss, hem_loss
from hem_bench.losses.hem import hem_per_example_ops, kernel_available

from .reference import hem_batch, hem_batch_grad, hem_example, hem_grad_example, hem_high

IMPLEMENTATIONS = ["kernel", "torch"]


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request, monkeypatch):
    """Run a test with the C kernel and with the PyTorch operations."""
    if request.param == "kernel" and not kernel_available():
        if os.environ.get("HEM_BENCH_REQUIRE_KERNEL") == "1":
            pytest.fail("the HEM C kernel is not built, but HEM_BENCH_REQUIRE_KERNEL=1")
        pytest.skip("the HEM C kernel is not built on this machine (no C compiler at install)")
    monkeypatch.setenv("HEM_BENCH_NO_KERNEL", "1" if request.param == "torch" else "0")
    return request.param


# Worked by hand (margin 1). The threshold is the mean error over all C classes, the
# target's 0 included; K keeps the positive errors at or above it; loss = sum_K e / (eps+|K|).
#   y = [0, 1, 0.5, -0.2], t = 0: errors (0, 2, 1.5, 0.8); theta = 4.3/4 = 1.075; K = {1, 2};
#   loss 1.75; gradient [-1, 1/2, 1/2, 0].
#   y = [0, 1, 1, 1], t = 0: errors (0, 2, 2, 2); theta 1.5; all kept; loss 2;
#   gradient [-1, 1/3, 1/3, 1/3].
#   y = [0, 0.5, -3, -3], t = 0: errors (0, 1.5, 0, 0); theta 0.375; loss 1.5.
#   y = [0, 1, 0, 0], t = 0: errors (0, 2, 1, 1); theta = 1 exactly: the ties at the
#   threshold are kept; loss 4/3; gradient [-1, 1/3, 1/3, 1/3].
#   y = [2, 1, 0.5, -1], t = 0 and y = [1, 0, 0, 5], t = 3: every margin met; loss 0.
#   C = 10, y = [0, 2, 0, -1, ..., -1], t = 0: errors (0, 3, 1, 0, ..., 0); theta 0.4; both
#   errors kept; loss 2 (the mean of the positive errors, 2, would keep 3 alone: loss 3).
#   C = 2, y = [0, 0.3], t = 0: errors (0, 1.3); theta 0.65; loss 1.3; gradient [-1, 1].
WORKED = [
    ([0.0, 1.0, 0.5, -0.2], 0, 1.75, [-1.0, 0.5, 0.5, 0.0]),
    ([0.0, 1.0, 1.0, 1.0], 0, 2.0, [-1.0, 1 / 3, 1 / 3, 1 / 3]),
    ([0.0, 0.5, -3.0, -3.0], 0, 1.5, [-1.0, 1.0, 0.0, 0.0]),
    ([0.0, 1.0, 0.0, 0.0], 0, 4 / 3, [-1.0, 1 / 3, 1 / 3, 1 / 3]),
    ([2.0, 1.0, 0.5, -1.0], 0, 0.0, [0.0, 0.0, 0.0, 0.0]),
    ([1.0, 0.0, 0.0, 5.0], 3, 0.0, [0.0, 0.0, 0.0, 0.0]),
    ([0.0, 2.0, 0.0] + [-1.0] * 7, 0, 2.0, [-1.0, 0.5, 0.5] + [0.0] * 7),
    ([0.0, 0.3], 0, 1.3, [-1.0, 1.0]),
    ([2.0, 0.0], 0, 0.0, [0.0, 0.0]),
]


@pytest.mark.parametrize(("logits", "target", "loss", "grad"), WORKED)
def test_worked_examples(implementation, logits, target, loss, grad):
    y = torch.tensor([logits], requires_grad=True)
    value = get_loss("hem")(y, torch.tensor([target]))
    value.backward()
    assert value.item() == pytest.approx(loss, rel=1e-5, abs=1e-7)
    assert y.grad[0].tolist() == pytest.approx(grad, rel=1e-5, abs=1e-7)


def test_the_threshold_counts_every_class(implementation):
    """Errors (3, 1, 0, ..., 0) with C = 10: the mean over all classes is 0.4, so both errors
    are high and the loss is 2.0, where a mean over the positive errors (2) gives 3.0."""
    y = torch.tensor([[0.0, 2.0, 0.0] + [-1.0] * 7])
    assert get_loss("hem", reduction="none")(y, torch.tensor([0])).item() == pytest.approx(
        2.0, rel=1e-5
    )


def test_differs_from_multi_class_hinge(implementation):
    """On the first worked example the hinge averages 4.3 over 4 classes; HEM gives 1.75."""
    y = torch.tensor([[0.0, 1.0, 0.5, -0.2]])
    t = torch.tensor([0])
    assert get_loss("multi-margin")(y, t).item() == pytest.approx(4.3 / 4)
    assert get_loss("hem")(y, t).item() == pytest.approx(1.75, rel=1e-5)


def _rows(y: torch.Tensor) -> np.ndarray:
    """(N, C, *) logits as (M, C) float64 rows, one per example (pixel)."""
    return y.detach().double().movedim(1, -1).reshape(-1, y.shape[1]).numpy()


def _logits_and_targets(shape, dtype, ignore_index, seed):
    gen = torch.Generator().manual_seed(seed)
    y = (torch.randn(*shape, generator=gen, dtype=torch.float64) * 2).to(dtype)
    t = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=gen)
    flat = t.view(-1)
    flat[::7] = ignore_index  # about one example (pixel) in seven is ignored
    # a few examples separated by a wide margin, which drop out of the mean
    rows = y.movedim(1, -1).reshape(-1, shape[1])
    for i in range(1, flat.numel(), 5):
        if flat[i] != ignore_index:
            row = rows[i].clone()
            row.fill_(-5.0)
            row[flat[i]] = 5.0
            rows[i] = row
    y = rows.reshape(*[shape[0], *shape[2:], shape[1]]).movedim(-1, 1).contiguous()
    return y, t


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("margin", [0.0, 0.5, 1.0, "per-class"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("shape", "ignore_index"), [((64, 10), -100), ((3, 7, 5, 6), 255)], ids=["flat", "dense"]
)
def test_matches_the_per_example_loop(
    implementation, shape, ignore_index, dtype, margin, reduction
):
    """Loss and gradient equal the loop over examples in reference.py, written from the
    definition, to 1e-6 relative: both implementations, (N, C) and dense logits, ignored
    entries, every reduction, float32 and float64, margins 0, 0.5, 1 and per class (HEM+)."""
    y, t = _logits_and_targets(shape, dtype, ignore_index, seed=shape[1] + int(dtype.itemsize))
    c = shape[1]
    if margin == "per-class":
        counts = np.arange(1, c + 1, dtype=np.float64) * 10
        loss = get_loss(
            "hem-plus", class_counts=counts, reduction=reduction, ignore_index=ignore_index
        )
        margins = np.sqrt(counts.mean() / counts)
    else:
        loss = get_loss("hem", margin=margin, reduction=reduction, ignore_index=ignore_index)
        margins = margin
    y.requires_grad_(True)
    value = loss(y, t)
    assert value.dtype == dtype
    rows, targets = _rows(y), t.reshape(-1).numpy()
    expected = hem_batch(rows, targets, margins, reduction, ignore_index)
    got = value.detach().double().numpy()
    np.testing.assert_allclose(
        got.reshape(-1) if reduction == "none" else got, expected, rtol=1e-6, atol=1e-7
    )
    weights = torch.rand(t.shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    (value * weights).sum().backward() if reduction == "none" else value.backward()
    grad = _rows(y.grad)
    if reduction == "none":
        expected_grad = hem_batch_grad(rows, targets, margins, "sum", ignore_index)
        expected_grad *= weights.reshape(-1, 1).double().numpy()
    else:
        expected_grad = hem_batch_grad(rows, targets, margins, reduction, ignore_index)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=1e-9)


def test_mean_is_over_the_examples_that_carry_error(implementation):
    """54 of 64 examples separated: 'mean' divides the summed loss by the 10 examples left,
    not by 64, so the separated ones do not dilute it."""
    gen = torch.Generator().manual_seed(12)
    y = torch.randn(64, 10, generator=gen)
    t = torch.randint(0, 10, (64,), generator=gen)
    y[:54] = -5.0
    y[torch.arange(54), t[:54]] = 5.0
    none = get_loss("hem", reduction="none")(y, t)
    assert int((none > 0).sum()) == 10
    mean = get_loss("hem")(y, t)
    assert mean.item() == pytest.approx(none.sum().item() / (1e-6 + 10), rel=1e-6)
    assert mean.item() == pytest.approx(none.sum().item() / 64 * 6.4, rel=1e-5)


def test_gradient_has_the_analytic_form(implementation):
    """(1/P) * (1/|K_i| on K_i, -1 on t_i), P the number of examples with positive loss."""
    gen = torch.Generator().manual_seed(13)
    y = (torch.randn(40, 9, generator=gen) * 2).requires_grad_(True)
    t = torch.randint(0, 9, (40,), generator=gen)
    with torch.no_grad():
        y[:15] = -4.0
        y[torch.arange(15), t[:15]] = 4.0
    get_loss("hem")(y, t).backward()
    rows = y.detach().double().numpy()
    high = [hem_high(rows[i], int(t[i]), 1.0) for i in range(40)]
    positive = sum(bool(k) for k in high)
    assert positive == 25
    expected = np.zeros((40, 9))
    for i, k in enumerate(high):
        if k:
            expected[i, k] = 1.0 / len(k) / positive
            expected[i, int(t[i])] = -1.0 / positive
    np.testing.assert_allclose(y.grad.numpy(), expected, rtol=1e-5, atol=1e-9)


def test_one_example_with_error_gets_its_full_gradient(implementation):
    y = torch.full((8, 5), -5.0)
    t = torch.arange(8) % 5
    y[torch.arange(8), t] = 5.0
    y[3] = torch.tensor([0.0, 1.0, 0.5, -0.2, -3.0])  # target t = 3: errors 2.2, 1.7, 0, 0.2...
    y.requires_grad_(True)
    value = get_loss("hem")(y, t)
    value.backward()
    rows = y.detach().double().numpy()
    assert value.item() == pytest.approx(hem_example(rows[3], 3, 1.0) / (1 + 1e-6), rel=1e-6)
    expected = np.zeros((8, 5))
    expected[3] = hem_grad_example(rows[3], 3, 1.0)
    np.testing.assert_allclose(y.grad.numpy(), expected / (1 + 1e-6), rtol=1e-6, atol=1e-9)
    assert y.grad[3, 3].item() == pytest.approx(-1.0, rel=1e-5)  # not -1/8


def test_matches_definition_per_example(implementation):
    for num_classes in (2, 3, 10, 37):
        for margin in (0.0, 0.5, 1.0, 3.0):
            gen = torch.Generator().manual_seed(num_classes)
            y = torch.randn(64, num_classes, generator=gen) * 2
            t = torch.randint(0, num_classes, (64,), generator=gen)
            y.requires_grad_(True)
            per_example = get_loss("hem", margin=margin, reduction="none")(y, t)
            per_example.sum().backward()
            y_np, t_np = y.detach().double().numpy(), t.numpy()
            expected = [hem_example(y_np[i], int(t_np[i]), margin) for i in range(64)]
            expected_grad = np.stack(
                [hem_grad_example(y_np[i], int(t_np[i]), margin) for i in range(64)]
            )
            np.testing.assert_allclose(per_example.detach().numpy(), expected, rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(y.grad.numpy(), expected_grad, rtol=1e-6, atol=1e-9)


def test_gradcheck_float64():
    """Away from its kinks (an error at 0 or at the threshold) HEM is linear, and the
    analytic gradient equals finite differences; random logits lie far further than eps from
    them. The count of examples with error is a constant, so 'mean' is checked too."""
    gen = torch.Generator().manual_seed(0)
    y = (torch.randn(16, 7, generator=gen, dtype=torch.float64) * 3).requires_grad_(True)
    t = torch.randint(0, 7, (16,), generator=gen)
    loss_none = get_loss("hem", reduction="none")
    assert torch.autograd.gradcheck(lambda z: loss_none(z, t), (y,), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(lambda z: get_loss("hem")(z, t), (y,), eps=1e-6, atol=1e-5)
    dense = (torch.randn(2, 5, 3, 3, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    dense_t = torch.randint(0, 5, (2, 3, 3), generator=gen)
    assert torch.autograd.gradcheck(lambda z: loss_none(z, dense_t), (dense,), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(
        lambda z: get_loss("hem")(z, dense_t), (dense,), eps=1e-6, atol=1e-5
    )
    plus = get_loss("hem-plus", class_counts=[5, 10, 20, 40, 80, 160, 320])
    assert torch.autograd.gradcheck(lambda z: plus(z, t), (y,), eps=1e-6, atol=1e-5)


def test_the_operations_form_matches_the_loop():
    """``hem_per_example_ops`` (what torch.compile fuses on CUDA) against the loop, with
    the gradient autograd derives from it."""
    gen = torch.Generator().manual_seed(14)
    y = (torch.randn(32, 6, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
    t = torch.randint(0, 6, (32,), generator=gen)
    values = hem_per_example_ops(y, t, 1.0)
    values.sum().backward()
    rows = y.detach().numpy()
    np.testing.assert_allclose(
        values.detach().numpy(), hem_batch(rows, t.numpy(), 1.0, "none"), rtol=1e-12
    )
    np.testing.assert_allclose(
        y.grad.numpy(), hem_batch_grad(rows, t.numpy(), 1.0, "sum"), rtol=1e-12
    )


@pytest.mark.slow
def test_the_compiled_form_matches_the_loop():
    """The compiled path (CUDA's default) compiled here for the CPU: same values and
    gradient as the loop. Skipped where torch.compile cannot build for the CPU."""
    from hem_bench.losses.hem import _compiled_ops

    compiled = _compiled_ops()
    gen = torch.Generator().manual_seed(15)
    y = (torch.randn(2, 5, 4, 3, generator=gen) * 2).requires_grad_(True)
    t = torch.randint(0, 5, (2, 4, 3), generator=gen)
    try:
        values = compiled(y, t, 1.0)
    except Exception as error:  # no C++ compiler for inductor's CPU backend
        pytest.skip(f"torch.compile does not build for the CPU here: {error}")
    values.sum().backward()
    rows, targets = _rows(y), t.reshape(-1).numpy()
    np.testing.assert_allclose(
        values.detach().reshape(-1).double(), hem_batch(rows, targets, 1.0, "none"), rtol=1e-6
    )
    np.testing.assert_allclose(
        _rows(y.grad), hem_batch_grad(rows, targets, 1.0, "sum"), rtol=1e-6, atol=1e-9
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", ["target", "other"])
def test_non_finite_logits_give_nan(implementation, bad, where):
    """A NaN logit, an infinite error or an infinite target logit makes the loss NaN, so the
    training step's non-finite check stops the run (a -inf logit of another class is a met
    margin, as for cross-entropy, which stays finite there too)."""
    y = torch.tensor([[0.0, 1.0, 0.5], [0.0, 0.2, 3.0]])
    t = torch.tensor([0, 2])
    y[0, 0 if where == "target" else 1] = bad
    value = get_loss("hem")(y, t)
    if where == "other" and bad == -float("inf"):
        assert torch.isfinite(value)
        assert torch.isfinite(torch.nn.functional.cross_entropy(y, t))
    else:
        assert torch.isnan(value)
    dense = torch.zeros(1, 3, 2, 70)
    dense[0, 0 if where == "target" else 1, 1, 5] = bad
    dense_value = get_loss("hem", reduction="none")(dense, torch.zeros(1, 2, 70, dtype=torch.long))
    assert torch.isnan(dense_value[0, 1, 5]) == (not (where == "other" and bad == -float("inf")))
    assert torch.isfinite(dense_value[0, 0]).all()


def test_invariant_to_adding_a_constant(implementation):
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(32, 10, generator=gen)
    t = torch.randint(0, 10, (32,), generator=gen)
    loss = get_loss("hem", reduction="none")
    np.testing.assert_allclose(loss(y, t), loss(y + 7.25, t), atol=1e-5)
    np.testing.assert_allclose(loss(y, t), loss(y - 3.5, t), atol=1e-5)


@pytest.mark.parametrize("shape", [(8, 6), (2, 6, 9, 9)])
def test_zero_when_every_margin_is_met(implementation, shape):
    """Every example separated: loss 0, gradient 0, no NaN from the empty count."""
    y = torch.full(shape, -5.0)
    t = torch.arange(shape[0] * (y[0, 0].numel())).reshape(shape[0], *shape[2:]) % 6
    y.scatter_(1, t.unsqueeze(1), 5.0)  # the target leads every other class by 10 > margin
    y.requires_grad_(True)
    value = get_loss("hem", margin=2.0)(y, t)
    value.backward()
    assert value.item() == 0.0
    assert torch.count_nonzero(y.grad) == 0 and torch.isfinite(y.grad).all()


def test_dense_equals_flattened(implementation):
    gen = torch.Generator().manual_seed(2)
    y = torch.randn(3, 5, 4, 6, generator=gen).requires_grad_(True)
    t = torch.randint(0, 5, (3, 4, 6), generator=gen)
    flat = y.detach().permute(0, 2, 3, 1).reshape(-1, 5).requires_grad_(True)
    loss = get_loss("hem", reduction="none")
    dense_values = loss(y, t)
    flat_values = loss(flat, t.reshape(-1))
    np.testing.assert_allclose(dense_values.detach().reshape(-1), flat_values.detach(), atol=1e-6)
    dense_values.sum().backward()
    flat_values.sum().backward()
    np.testing.assert_allclose(y.grad.permute(0, 2, 3, 1).reshape(-1, 5), flat.grad, atol=1e-6)
    positive = int((flat_values > 0).sum())
    assert get_loss("hem")(y, t).item() == pytest.approx(
        flat_values.sum().item() / (1e-6 + positive), abs=1e-6
    )


def test_reductions_agree(implementation):
    gen = torch.Generator().manual_seed(3)
    y = torch.randn(40, 8, generator=gen)
    t = torch.randint(0, 8, (40,), generator=gen)
    none = get_loss("hem", reduction="none")(y, t)
    assert none.shape == (40,)
    assert get_loss("hem", reduction="sum")(y, t).item() == pytest.approx(
        none.sum().item(), rel=1e-6
    )
    assert get_loss("hem", reduction="mean")(y, t).item() == pytest.approx(
        none.sum().item() / (1e-6 + int((none > 0).sum())), rel=1e-6
    )


def test_gradients_of_reductions_agree(implementation):
    gen = torch.Generator().manual_seed(4)
    base = torch.randn(30, 6, generator=gen)
    t = torch.randint(0, 6, (30,), generator=gen)
    grads = {}
    for reduction in ("mean", "sum"):
        y = base.clone().requires_grad_(True)
        get_loss("hem", reduction=reduction)(y, t).backward()
        grads[reduction] = y.grad
    positive = int((get_loss("hem", reduction="none")(base, t) > 0).sum())
    np.testing.assert_allclose(
        grads["mean"] * (1e-6 + positive), grads["sum"], rtol=1e-5, atol=1e-6
    )
    # a weighted 'none' reduction scales each example's gradient
    y = base.clone().requires_grad_(True)
    weights = torch.rand(30, generator=gen)
    (get_loss("hem", reduction="none")(y, t) * weights).sum().backward()
    np.testing.assert_allclose(y.grad, grads["sum"] * weights[:, None], rtol=1e-5, atol=1e-6)


def test_ignore_index(implementation):
    gen = torch.Generator().manual_seed(5)
    y = torch.randn(2, 4, 5, 5, generator=gen).requires_grad_(True)
    t = torch.randint(0, 4, (2, 5, 5), generator=gen)
    t[0, :2] = 255
    t[1, 4, 4] = 255
    keep = t != 255
    loss = get_loss("hem", ignore_index=255, reduction="none")
    values = loss(y, t)
    assert torch.all(values[~keep] == 0)
    mean = get_loss("hem", ignore_index=255)(y, t)
    kept_values = values[keep]
    assert mean.item() == pytest.approx(
        kept_values.sum().item() / (1e-6 + int((kept_values > 0).sum())), rel=1e-6
    )
    mean.backward()
    assert torch.count_nonzero(y.grad.permute(0, 2, 3, 1)[~keep]) == 0
    # the same as computing on the kept pixels only
    kept_logits = y.detach().permute(0, 2, 3, 1)[keep]
    assert mean.item() == pytest.approx(get_loss("hem")(kept_logits, t[keep]).item(), rel=1e-6)


def test_ignore_index_inside_the_class_range(implementation):
    y = torch.tensor([[0.0, 1.0, 0.5], [0.0, 2.0, 0.0]])
    t = torch.tensor([0, 1])
    loss = get_loss("hem", ignore_index=1, reduction="none")(y, t)
    assert loss[1].item() == 0.0
    # errors (0, 2, 1.5): theta = 3.5 / 3; both kept; loss 3.5 / 2
    assert loss[0].item() == pytest.approx(1.75, rel=1e-5)


def test_all_targets_ignored_gives_zero_with_a_gradient(implementation):
    y = torch.randn(4, 3, requires_grad=True)
    t = torch.full((4,), -100)
    value = get_loss("hem")(y, t)
    assert value.item() == 0.0
    value.backward()
    assert torch.count_nonzero(y.grad) == 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs(implementation, dtype):
    gen = torch.Generator().manual_seed(6)
    y32 = torch.randn(16, 10, generator=gen) * 20
    t = torch.randint(0, 10, (16,), generator=gen)
    y = y32.to(dtype).requires_grad_(True)
    value = get_loss("hem")(y, t)
    assert value.dtype == torch.float32 and torch.isfinite(value)
    value.backward()
    assert y.grad.dtype == dtype and torch.isfinite(y.grad.float()).all()
    assert value.item() == pytest.approx(get_loss("hem")(y.detach().float(), t).item(), rel=1e-6)


def test_second_backward_through_the_same_graph(implementation):
    """retain_graph=True: the second backward gives the same gradient as the first."""
    y = torch.randn(12, 5, requires_grad=True)
    t = torch.randint(0, 5, (12,))
    value = get_loss("hem")(y, t) * 3.0
    value.backward(retain_graph=True)
    first = y.grad.clone()
    y.grad = None
    value.backward()
    np.testing.assert_allclose(y.grad, first)


def test_non_contiguous_logits(implementation):
    gen = torch.Generator().manual_seed(7)
    y = torch.randn(10, 20, generator=gen)[:, ::2]
    t = torch.randint(0, 10, (10,), generator=gen)
    expected = get_loss("hem")(y.contiguous(), t)
    assert get_loss("hem")(y, t).item() == pytest.approx(expected.item(), rel=1e-6)


def test_kernel_and_torch_agree_on_large_inputs(monkeypatch):
    if not kernel_available():
        pytest.skip("the HEM C kernel is not built on this machine")
    gen = torch.Generator().manual_seed(8)
    for shape in [(4096, 100), (3, 21, 40, 50)]:
        y = (torch.randn(*shape, generator=gen) * 3).requires_grad_(True)
        t = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=gen)
        results = {}
        for flag in ("0", "1"):
            monkeypatch.setenv("HEM_BENCH_NO_KERNEL", flag)
            y.grad = None
            value = get_loss("hem")(y, t)
            value.backward()
            results[flag] = (value.item(), y.grad.clone())
        assert results["0"][0] == pytest.approx(results["1"][0], rel=1e-5)
        np.testing.assert_allclose(results["0"][1], results["1"][1], rtol=1e-5, atol=1e-9)


def test_functional_form():
    y = torch.tensor([[0.0, 1.0, 0.5, -0.2]])
    assert hem_loss(y, torch.tensor([0])).item() == pytest.approx(1.75, rel=1e-5)
    with pytest.raises(ValueError, match="margin"):
        hem_loss(y, torch.tensor([0]), margin=-1.0)


# HEM+ ---------------------------------------------------------------------------------


def test_hem_plus_margins_follow_the_formula():
    counts = [100, 10, 1, 25]
    loss = get_loss("hem-plus", class_counts=counts, margin=0.5)
    mean = sum(counts) / len(counts)
    expected = [0.5 * math.sqrt(mean / n) for n in counts]
    np.testing.assert_allclose(loss.class_margins.numpy(), expected, rtol=1e-12)
    # the equivalent form sqrt(M / (C n_t)) with M = mu^2 N
    m = 0.5**2 * sum(counts)
    np.testing.assert_allclose(
        loss.class_margins.numpy(), [math.sqrt(m / (len(counts) * n)) for n in counts], rtol=1e-12
    )


def test_hem_plus_uses_the_target_class_margin(implementation):
    counts = np.array([400.0, 100.0, 25.0])
    gen = torch.Generator().manual_seed(9)
    y = torch.randn(50, 3, generator=gen) * 2
    t = torch.randint(0, 3, (50,), generator=gen)
    values = get_loss("hem-plus", class_counts=counts, reduction="none")(y, t)
    margins = np.sqrt(counts.mean() / counts)
    y_np = y.double().numpy()
    expected = [hem_example(y_np[i], int(t[i]), margins[int(t[i])]) for i in range(50)]
    np.testing.assert_allclose(values.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_hem_plus_with_balanced_counts_is_hem(implementation):
    gen = torch.Generator().manual_seed(10)
    y = torch.randn(20, 5, generator=gen).requires_grad_(True)
    t = torch.randint(0, 5, (20,), generator=gen)
    plus = get_loss("hem-plus", class_counts=[7] * 5, margin=1.3)(y, t)
    plain = get_loss("hem", margin=1.3)(y, t)
    assert plus.item() == pytest.approx(plain.item(), rel=1e-6)


def test_hem_plus_dense_and_ignore(implementation):
    gen = torch.Generator().manual_seed(11)
    y = torch.randn(2, 3, 4, 4, generator=gen)
    t = torch.randint(0, 3, (2, 4, 4), generator=gen)
    t[0, 0, 0] = 255
    loss = get_loss("hem-plus", class_counts=[10, 20, 30], ignore_index=255, reduction="none")
    values = loss(y, t)
    flat = loss(y.permute(0, 2, 3, 1).reshape(-1, 3), t.reshape(-1))
    np.testing.assert_allclose(values.reshape(-1), flat, atol=1e-6)
    assert values[0, 0, 0].item() == 0.0


def test_hem_plus_checks_the_number_of_classes():
    loss = get_loss("hem-plus", class_counts=[1, 2, 3])
    with pytest.raises(ValueError, match="3 classes but the logits score 4"):
        loss(torch.randn(2, 4), torch.tensor([0, 1]))
