"""High error margin (HEM) loss and HEM+ (Spratling & Schütt 2025, arXiv:2501.12191), as
defined in the authors' released code (the multi-class margin error with its
"meanAboveAvg" reduction).

Written by hand: no maintained library offers HEM. It runs on every pixel in segmentation,
so it is fast in three ways:

- on the CPU in float32, a C kernel (``_hem_kernel.c``, built at install where a compiler
  exists) computes the loss, counts the examples that carry error and writes the gradient
  with its final scale in one call; the backward pass hands that buffer on. No exponentials.
- on CUDA, the PyTorch-operations form compiled by ``torch.compile`` (fused elementwise and
  reduction kernels for the forward and the backward pass), where it compiles;
- elsewhere (float64, no compiler, or where compilation fails), a custom autograd Function of
  PyTorch operations with an analytic gradient, mostly in place.

All compute the same quantities; the tests check each against a per-example loop written
from the definition. ``HEM_BENCH_NO_KERNEL=1`` forces the PyTorch operations on the CPU;
``HEM_BENCH_NO_COMPILE=1`` turns the compiled CUDA path off. ``tests/perf/test_hem_speed.py``
compares them with ``torch.nn.functional.cross_entropy``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from hem_bench.losses._base import (
    REDUCTIONS,
    ClassCountsMixin,
    ClassificationLoss,
    check_inputs,
    check_positive,
    reduce_loss,
)
from hem_bench.losses._registry import register_loss
from hem_bench.losses.info import LossInfo, Paper

try:  # the optional C extension; absent where it could not be compiled
    from hem_bench.losses import _hem_kernel
except ImportError:  # pragma: no cover - depends on the build machine
    _hem_kernel = None

HEM_PAPER = Paper(
    title="A margin-based replacement for cross-entropy loss",
    authors="Spratling & Schütt",
    venue="arXiv:2501.12191",
    year=2025,
    url="https://arxiv.org/abs/2501.12191",
)

#: ε of the authors' code, in |K| + ε (and in the count of examples with error + ε, in
#: :func:`hem_bench.losses._base.reduce_loss`)
EPS = 1e-6


def kernel_available() -> bool:
    """Whether the C kernel is built and not disabled with ``HEM_BENCH_NO_KERNEL=1``."""
    return _hem_kernel is not None and os.environ.get("HEM_BENCH_NO_KERNEL", "") in ("", "0")


def hem_per_example_ops(logits: Tensor, target: Tensor, margin: float | Tensor) -> Tensor:
    """Per-example HEM from differentiable PyTorch operations (autograd gives the gradient).

    ``logits`` (N, C, *), ``target`` (N, *) valid class indices, ``margin`` a number or a
    tensor broadcastable to (N, 1, *). The threshold and |K| are computed from detached
    values, as in the authors' code. This is the form ``torch.compile`` fuses on CUDA; the
    result is NaN where a logit is NaN, an error is infinite or the target logit is not
    finite.
    """
    index = target.unsqueeze(1)
    shift = logits.gather(1, index) - margin
    errors = (logits - shift).clamp_min(0.0).scatter(1, index, 0.0)
    with torch.no_grad():
        theta = errors.mean(1, keepdim=True)
        keep = (errors >= theta) & (errors > 0)
        inv = 1.0 / (EPS + keep.sum(1, keepdim=True).to(errors.dtype))
        bad = ~(torch.isfinite(shift) & torch.isfinite(theta))
    loss = (errors * keep).sum(1, keepdim=True) * inv
    return loss.masked_fill(bad, float("nan")).squeeze(1)


class _HEMTorchFunction(torch.autograd.Function):
    """Per-example HEM from PyTorch operations, with its analytic gradient.

    Inside one example the loss is piecewise linear: ``Σ_{j∈K} (y_j − y_t + μ) / (ε + |K|)``.
    Its gradient is ``1/(ε+|K|)`` for each ``j ∈ K``, ``−|K|/(ε+|K|)`` for the target and 0
    elsewhere; K is held as 0/1 floats between forward and backward.
    """

    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, margin: float | Tensor) -> Tensor:
        index = target.unsqueeze(1)
        # e_j = max(0, y_j - (y_t - μ)), with e_t forced to 0 (the target is not an error).
        shift = logits.gather(1, index).sub_(margin)
        errors = torch.sub(logits, shift)
        errors.clamp_min_(0.0)  # keeps NaN
        errors.scatter_(1, index, 0.0)
        # θ = mean over all C classes; K = {e >= θ, e > 0}. Where θ = 0 every error is 0 and
        # K must be empty: the smallest normal number added to θ excludes the zeros there and
        # leaves every θ above 1e-30 unchanged (float64: above 1e-290).
        theta = errors.mean(1, keepdim=True)
        finite = torch.isfinite(theta + shift)  # false for NaN or ±inf in either
        theta.add_(torch.finfo(theta.dtype).tiny)
        keep = torch.ge(errors, theta, out=torch.empty_like(errors))
        count = keep.sum(1, keepdim=True)
        inv = count.add(EPS).reciprocal_()
        loss = torch.where(finite, errors.mul_(keep).sum(1, keepdim=True).mul_(inv), float("nan"))
        ctx.save_for_backward(keep, count.mul_(inv), inv, index)
        return loss.squeeze(1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor):
        keep, target_weight, inv, index = ctx.saved_tensors
        grad_output = grad_output.unsqueeze(1)
        grad = keep * (grad_output * inv)
        grad.scatter_(1, index, -(grad_output * target_weight))
        return grad, None, None


_COMPILED = None


def _compiled_ops():
    """``hem_per_example_ops`` compiled by ``torch.compile`` (dynamic shapes), or ``None``."""
    global _COMPILED
    if _COMPILED is None:
        try:
            _COMPILED = torch.compile(hem_per_example_ops, dynamic=True)
        except Exception:  # pragma: no cover - depends on the installation
            _COMPILED = False
    return _COMPILED or None


def compile_enabled(device: torch.device) -> bool:
    """Whether the compiled path serves ``device``: CUDA, unless ``HEM_BENCH_NO_COMPILE=1``."""
    return device.type == "cuda" and os.environ.get("HEM_BENCH_NO_COMPILE", "") in ("", "0")


def _run_kernel(
    logits: Tensor,
    target: Tensor,
    margin: float,
    class_margins: Tensor | None,
    ignore_index: int,
    mean: bool,
) -> tuple[Tensor, Tensor, int]:
    """Per-example loss, gradient (scaled for a mean) and the count of examples with error."""
    x = logits.detach().contiguous()
    target = target.contiguous()
    n, c = x.shape[0], x.shape[1]
    p = x.numel() // (n * c) if n * c else 1
    loss = torch.empty(target.shape, dtype=x.dtype)
    grad = torch.empty_like(x)
    scratch = torch.empty(3 * target.numel(), dtype=x.dtype)
    margins_ptr = 0
    if class_margins is not None:
        class_margins = class_margins.detach().to(torch.float64).contiguous()
        margins_ptr = class_margins.data_ptr()
    count = _hem_kernel.forward(
        x.data_ptr(),
        target.data_ptr(),
        margins_ptr,
        float(margin),
        int(ignore_index),
        mean,
        loss.data_ptr(),
        grad.data_ptr(),
        scratch.data_ptr(),
        n,
        c,
        p,
        torch.get_num_threads(),
    )
    return loss, grad, count


class _HEMKernelFunction(torch.autograd.Function):
    """HEM through the C kernel, reduced in the same call.

    The kernel writes the gradient, already divided by ε + (examples with error) for a mean,
    during the forward pass. The backward pass hands that buffer to autograd, scaled in place
    by the incoming gradient (skipped when it is 1), so it allocates nothing. A second
    backward through the same graph (``retain_graph=True``) finds the buffer gone and
    recomputes it from the saved logits.
    """

    @staticmethod
    def forward(ctx, logits, target, margin, class_margins, ignore_index, reduction):
        mean = reduction == "mean"
        loss, grad, count = _run_kernel(logits, target, margin, class_margins, ignore_index, mean)
        ctx.grad = grad
        ctx.args = (margin, ignore_index, reduction)
        ctx.save_for_backward(logits, target, class_margins)
        if reduction == "none":
            return loss
        total = loss.sum()
        return total / (EPS + count) if mean else total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        margin, ignore_index, reduction = ctx.args
        grad, ctx.grad = ctx.grad, None
        if grad is None:
            logits, target, class_margins = ctx.saved_tensors
            mean = reduction == "mean"
            _, grad, _ = _run_kernel(logits, target, margin, class_margins, ignore_index, mean)
        if reduction == "none":
            grad.mul_(grad_output.unsqueeze(1))
        elif bool(grad_output != 1):
            grad.mul_(grad_output)
        return grad, None, None, None, None, None


def _hem(
    logits: Tensor,
    target: Tensor,
    margin: float,
    class_margins: Tensor | None,
    reduction: str,
    ignore_index: int,
    check_classes=None,
) -> Tensor:
    """Validate the inputs and compute HEM with the C kernel or PyTorch operations."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")
    use_kernel = kernel_available() and logits.device.type == "cpu"
    logits, target, valid = check_inputs(logits, target, ignore_index, fill_ignored=not use_kernel)
    if check_classes is not None:
        check_classes(logits.shape[1])
    if use_kernel and logits.dtype == torch.float32:
        return _HEMKernelFunction.apply(
            logits, target, margin, class_margins, ignore_index, reduction
        )
    if use_kernel:  # float64 on the CPU: the kernel is float32 only
        target = target if valid is None else target.masked_fill(~valid, 0)
    per_margin: float | Tensor = margin
    if class_margins is not None:
        per_margin = class_margins.to(logits.dtype)[target].unsqueeze(1)
    compiled = _compiled_ops() if compile_enabled(logits.device) else None
    if compiled is not None:
        per_example = compiled(logits, target, per_margin)
    else:
        per_example = _HEMTorchFunction.apply(logits, target, per_margin)
    return reduce_loss(per_example, valid, reduction, over_positive=True)


def hem_loss(
    logits: Tensor,
    target: Tensor,
    margin: float = 1.0,
    reduction: str = "mean",
    ignore_index: int = -100,
) -> Tensor:
    """Functional HEM loss; see :class:`HEMLoss` for the formula and the shapes."""
    margin = check_positive("margin", margin, allow_zero=True)
    return _hem(logits, target, margin, None, reduction, ignore_index)


@register_loss(
    "hem",
    info=LossInfo(
        summary="high error margin: mean of the margin errors at or above the mean error "
        "over all classes; 'mean' over the examples that carry error",
        paper=HEM_PAPER,
        mean_over="positive",
    ),
)
class HEMLoss(ClassificationLoss):
    r"""High error margin loss (Spratling & Schütt 2025, arXiv:2501.12191), as in the
    authors' released code (``loss_functions.py`` of their HEMLoss repository: the
    multi-class margin error with the "meanAboveAvg" reduction).

    For one example (pixel) with logits :math:`y \in \mathbb{R}^C`, target :math:`t` and
    margin :math:`\mu`:

    .. math::
        e_j = \max(0,\; y_j - y_t + \mu) \quad (j \ne t), \qquad e_t = 0, \qquad
        \theta = \frac{1}{C} \sum_{j=1}^{C} e_j,

        K = \{j : e_j \ge \theta,\ e_j > 0\}, \qquad
        \ell(y, t) = \frac{\sum_{j \in K} e_j}{\varepsilon + |K|}, \quad \varepsilon = 10^{-6},

    so :math:`\ell = 0` when every margin is met. The threshold averages over *all* C
    classes (the target's 0 and the met margins count), so e.g. errors (3, 1, 0, ..., 0) with
    C = 10 give :math:`\theta = 0.4`, keep both errors and :math:`\ell = 2`.

    Reductions: 'none' gives :math:`\ell` per example (pixel), 'sum' their sum, and 'mean'
    :math:`\sum_i \ell_i / (\varepsilon + \#\{i : \ell_i > 0\})` over the non-ignored
    examples: unlike every other loss of the registry, the mean is taken over the examples
    that still carry error, so separated examples (easy background pixels) do not dilute the
    gradient -- the paper's cure for the training issue of margin-based losses.
    :math:`\theta`, :math:`|K|` and that count are constants for the gradient, as in the
    authors' code: :math:`\partial \ell / \partial y_j = 1/(\varepsilon + |K|)` on K and
    :math:`-|K|/(\varepsilon + |K|)` on the target. NaN logits give a NaN loss.

    Args:
        margin: :math:`\mu \ge 0` [1.0].
        reduction: 'mean' | 'sum' | 'none' (see above).
        ignore_index: target value whose examples (pixels) are skipped [-100].
    """

    def __init__(self, margin: float = 1.0, reduction: str = "mean", ignore_index: int = -100):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.margin = check_positive("margin", margin, allow_zero=True)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return _hem(logits, target, self.margin, None, self.reduction, self.ignore_index)

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        return _hem(logits, target, self.margin, None, "none", self.ignore_index)


@register_loss(
    "hem-plus",
    info=LossInfo(
        summary="HEM with a larger margin for rarer classes: mu_t = mu * sqrt(mean(n) / n_t)",
        paper=HEM_PAPER,
        needs_class_counts=True,
        mean_over="positive",
    ),
)
class HEMPlusLoss(ClassCountsMixin, ClassificationLoss):
    r"""HEM+ for imbalanced data (Spratling & Schütt 2025, arXiv:2501.12191).

    HEM (see :class:`HEMLoss`) with the margin of each example set by its target class:

    .. math::
        \mu_t = \mu \sqrt{\bar n / n_t} = \sqrt{\frac{M}{C\, n_t}}, \quad M = \mu^2 N,

    where :math:`n_t` is the number of training examples of class :math:`t`, :math:`\bar n`
    the mean count over the :math:`C` classes and :math:`N` their sum. Rare classes get
    larger margins. With balanced counts it equals HEM with margin :math:`\mu`. Like HEM,
    'mean' divides by the number of examples whose loss is positive.

    Args:
        class_counts: training examples per class (positive), length C.
        margin: :math:`\mu \ge 0` [1.0].
        reduction, ignore_index: as for every loss.
    """

    def __init__(
        self,
        class_counts: Sequence[float],
        margin: float = 1.0,
        reduction: str = "mean",
        ignore_index: int = -100,
    ):
        super().__init__(reduction=reduction, ignore_index=ignore_index)
        self.margin = check_positive("margin", margin, allow_zero=True)
        counts = self._set_class_counts(class_counts, "hem-plus")
        margins = self.margin * torch.sqrt(counts.mean() / counts)
        self.register_buffer("class_margins", margins, persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return _hem(
            logits,
            target,
            self.margin,
            self.class_margins,
            self.reduction,
            self.ignore_index,
            self.check_num_classes,
        )

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        return _hem(
            logits,
            target,
            self.margin,
            self.class_margins,
            "none",
            self.ignore_index,
            self.check_num_classes,
        )
