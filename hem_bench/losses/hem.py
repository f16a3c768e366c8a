"""High error margin (HEM) loss and HEM+ (Spratling & Schütt 2025, arXiv:2501.12191).

Written by hand: no maintained library offers HEM. It runs on every pixel in segmentation,
so it is fast in two ways:

- on the CPU in float32, a C kernel (``_hem_kernel.c``, built at install where a compiler
  exists) reads the logits twice and writes the gradient in the same call; the backward
  pass then only scales that buffer in place. No exponentials, one allocation.
- elsewhere (float64, GPUs, no compiler), a custom autograd Function of PyTorch operations
  with an analytic gradient, mostly in place and without boolean temporaries (slow on CPU).

Both compute the same quantities; the tests check they agree. ``HEM_BENCH_NO_KERNEL=1``
forces the PyTorch operations. ``tests/perf/test_hem_speed.py`` compares both with
``torch.nn.functional.cross_entropy``.
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


def kernel_available() -> bool:
    """Whether the C kernel is built and not disabled with ``HEM_BENCH_NO_KERNEL=1``."""
    return _hem_kernel is not None and os.environ.get("HEM_BENCH_NO_KERNEL", "") in ("", "0")


class _HEMTorchFunction(torch.autograd.Function):
    """Per-example HEM from PyTorch operations, with its analytic gradient.

    Inside one example the loss is piecewise linear: ``(1/|H|) Σ_{j∈H} (y_j − y_t + μ)``.
    Its gradient is ``1/|H|`` for each ``j ∈ H``, ``−1`` for the target (when ``H`` is not
    empty) and 0 elsewhere; ``H`` is held as 0/1 floats between forward and backward.
    """

    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, margin: float | Tensor) -> Tensor:
        index = target.unsqueeze(1)
        # e_j = max(0, y_j - (y_t - μ)), with e_t forced to 0 (the target is not an error).
        shift = logits.gather(1, index).sub_(margin)
        errors = torch.sub(logits, shift)
        errors.clamp_min_(0.0)
        errors.scatter_(1, index, 0.0)
        total = errors.sum(1, keepdim=True)
        high = torch.sign(errors)  # 1 on P (positive errors), 0 elsewhere: errors >= 0
        count = high.sum(1, keepdim=True)
        # Mean positive error; NaN when P is empty, and every comparison with NaN is
        # false, so H is empty and the loss 0. The max guards against a rounded mean that
        # exceeds every error (ties), which would leave H empty by mistake.
        threshold = torch.minimum(total.div_(count), errors.amax(1, keepdim=True))
        torch.ge(errors, threshold, out=high)  # now 1 on H, the high errors
        count_high = high.sum(1, keepdim=True)
        loss = errors.mul_(high).sum(1, keepdim=True).div_(count_high.clamp_min(1.0))
        ctx.save_for_backward(high, count_high, index)
        return loss.squeeze(1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor):
        high, count_high, index = ctx.saved_tensors
        grad_output = grad_output.unsqueeze(1)
        grad = high * (grad_output / count_high.clamp_min(1.0))
        grad.scatter_(1, index, -(grad_output * (count_high > 0)))
        return grad, None, None


def _run_kernel(
    logits: Tensor,
    target: Tensor,
    margin: float,
    class_margins: Tensor | None,
    ignore_index: int,
    scale: float,
) -> tuple[Tensor, Tensor]:
    """Per-example loss and ``scale`` times its gradient, from the C kernel."""
    x = logits.detach().contiguous()
    target = target.contiguous()
    n, c = x.shape[0], x.shape[1]
    p = x.numel() // (n * c) if n * c else 1
    loss = torch.empty(target.shape, dtype=x.dtype)
    grad = torch.empty_like(x)
    margins_ptr = 0
    if class_margins is not None:
        class_margins = class_margins.detach().to(torch.float64).contiguous()
        margins_ptr = class_margins.data_ptr()
    _hem_kernel.forward(
        x.data_ptr(),
        target.data_ptr(),
        margins_ptr,
        float(margin),
        int(ignore_index),
        float(scale),
        loss.data_ptr(),
        grad.data_ptr(),
        n,
        c,
        p,
        torch.get_num_threads(),
    )
    return loss, grad


class _HEMKernelFunction(torch.autograd.Function):
    """HEM through the C kernel, reduced in the same call.

    The kernel writes the gradient during the forward pass. The backward pass hands that
    buffer to autograd, scaled in place by the incoming gradient (skipped when it is 1), so
    it allocates nothing. A second backward through the same graph (``retain_graph=True``)
    finds the buffer gone and recomputes it from the saved logits.
    """

    @staticmethod
    def forward(ctx, logits, target, margin, class_margins, ignore_index, reduction, count):
        scale = 1.0 / count if reduction == "mean" and count > 0 else 1.0
        loss, grad = _run_kernel(logits, target, margin, class_margins, ignore_index, scale)
        ctx.grad = grad
        ctx.args = (margin, ignore_index, scale, reduction)
        ctx.save_for_backward(logits, target, class_margins)
        if reduction == "none":
            return loss
        total = loss.sum()
        return total / count if reduction == "mean" and count > 0 else total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        margin, ignore_index, scale, reduction = ctx.args
        grad, ctx.grad = ctx.grad, None
        if grad is None:
            logits, target, class_margins = ctx.saved_tensors
            _, grad = _run_kernel(logits, target, margin, class_margins, ignore_index, scale)
        if reduction == "none":
            grad.mul_(grad_output.unsqueeze(1))
        elif bool(grad_output != 1):
            grad.mul_(grad_output)
        return grad, None, None, None, None, None, None


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
        count = target.numel() if valid is None else int(valid.sum())
        return _HEMKernelFunction.apply(
            logits, target, margin, class_margins, ignore_index, reduction, count
        )
    if use_kernel:  # float64 on the CPU: the kernel is float32 only
        target = target if valid is None else target.masked_fill(~valid, 0)
    per_margin: float | Tensor = margin
    if class_margins is not None:
        per_margin = class_margins.to(logits.dtype)[target].unsqueeze(1)
    per_example = _HEMTorchFunction.apply(logits, target, per_margin)
    return reduce_loss(per_example, valid, reduction)


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
        summary="high error margin: mean of the margin violations at or above their mean",
        paper=HEM_PAPER,
    ),
)
class HEMLoss(ClassificationLoss):
    r"""High error margin loss (Spratling & Schütt 2025, arXiv:2501.12191).

    For one example with logits :math:`y` and target :math:`t`:

    .. math::
        e_j = \max(0,\; y_j - y_t + \mu) \quad (j \ne t), \qquad
        P = \{j : e_j > 0\}, \qquad \bar e = \frac{1}{|P|}\sum_{j \in P} e_j,

        H = \{j \in P : e_j \ge \bar e\}, \qquad
        \mathrm{HEM}(y, t) = \frac{1}{|H|} \sum_{j \in H} e_j ,

    and 0 when :math:`P` is empty (every margin met). Unlike the multi-class hinge, which
    averages over all classes, the loss does not shrink as most margins become satisfied:
    it keeps averaging over the errors that are still high.

    Args:
        margin: :math:`\mu \ge 0` [1.0].
        reduction: 'mean' | 'sum' | 'none' (see :mod:`hem_bench.losses._base`).
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
    ),
)
class HEMPlusLoss(ClassCountsMixin, ClassificationLoss):
    r"""HEM+ for imbalanced data (Spratling & Schütt 2025, arXiv:2501.12191).

    HEM (see :class:`HEMLoss`) with the margin of each example set by its target class:

    .. math::
        \mu_t = \mu \sqrt{\bar n / n_t} = \sqrt{\frac{M}{C\, n_t}}, \quad M = \mu^2 N,

    where :math:`n_t` is the number of training examples of class :math:`t`, :math:`\bar n`
    the mean count over the :math:`C` classes and :math:`N` their sum. Rare classes get
    larger margins. With balanced counts it equals HEM with margin :math:`\mu`.

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
