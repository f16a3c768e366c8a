"""The call contract every loss in the registry follows, in one place.

Shapes
    ``logits``: ``(N, C)`` or dense ``(N, C, d1, d2, ...)``, floating point. Float16 and
    bfloat16 inputs are computed in float32 (the result is float32).
    ``target``: integer class indices, ``(N,)`` or ``(N, d1, d2, ...)``; values in ``[0, C)``
    or equal to ``ignore_index``.

Reductions
    ``'none'``: one value per example (per pixel for dense targets), 0 where the target is
    ``ignore_index``. ``'sum'``: the sum of those values. ``'mean'``: the sum divided by the
    number of examples (pixels) whose target is not ``ignore_index``; 0 (with a gradient of
    zero) when every target is ignored, where ``torch.nn.functional.cross_entropy`` gives NaN.

Bad input raises ``ValueError`` with the offending shape, dtype or value.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from hem_bench.errors import ConfigError, quote
from hem_bench.losses.info import LossInfo

REDUCTIONS = ("mean", "sum", "none")


def check_inputs(
    logits: Tensor, target: Tensor, ignore_index: int, *, fill_ignored: bool = True
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Validate ``(logits, target)`` and return them ready for computation.

    Returns ``(logits, target, valid)``: logits upcast to float32 if they were half
    precision; target as int64 with ignored entries replaced by class 0 (so it can index;
    kept as they are when ``fill_ignored`` is false); ``valid`` a boolean mask of the
    non-ignored entries, or ``None`` when no entry can be ignored.
    """
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        kind = logits.dtype if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a floating-point tensor; got {kind}")
    if logits.dim() < 2:
        raise ValueError(
            f"logits must have shape (N, C) or (N, C, d1, ...); got shape {tuple(logits.shape)}"
        )
    if not isinstance(target, Tensor):
        raise ValueError(f"target must be a tensor of class indices; got {type(target).__name__}")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(
            f"target must hold integer class indices (int64); got dtype {target.dtype}. "
            "Pass class indices, not one-hot vectors or probabilities."
        )
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match logits shape "
            f"{tuple(logits.shape)}: expected {expected} (classes are dimension 1 of logits)"
        )
    num_classes = logits.shape[1]
    if num_classes < 2:
        raise ValueError(f"logits must score at least 2 classes; got C = {num_classes}")
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    if target.dtype != torch.long:
        target = target.long()
    if target.numel() == 0:
        return logits, target, None

    low, high = torch.aminmax(target)
    low, high = int(low), int(high)
    ignore_in_range = 0 <= ignore_index < num_classes
    if low >= 0 and high < num_classes and not ignore_in_range:
        return logits, target, None

    valid = target != ignore_index
    bad = valid & ((target < 0) | (target >= num_classes))
    if bool(bad.any()):
        value = int(target[bad][0])
        raise ValueError(
            f"target holds class index {value}, outside [0, {num_classes - 1}] for C = "
            f"{num_classes} classes (entries equal to ignore_index={ignore_index} are skipped)"
        )
    return logits, target.masked_fill(~valid, 0) if fill_ignored else target, valid


def reduce_loss(
    per_example: Tensor, valid: Tensor | None, reduction: str, *, over_positive: bool = False
) -> Tensor:
    """Apply ``reduction`` to per-example values, skipping entries where ``valid`` is False.

    With ``over_positive`` (HEM, as its authors define it) 'mean' is the sum divided by
    1e-6 + the number of values above 0, a count that is a constant for the gradient."""
    if valid is not None:
        per_example = per_example.masked_fill(~valid, 0.0)
    if reduction == "none":
        return per_example
    total = per_example.sum()
    if reduction == "sum":
        return total
    if over_positive:
        return total / (1e-6 + (per_example.detach() > 0).sum())
    if valid is None:
        return total / max(per_example.numel(), 1)
    return total / valid.sum().clamp_min(1)


def check_class_counts(class_counts: Sequence[float] | Tensor | None, loss_name: str) -> Tensor:
    """Class counts as a float64 tensor, after checking they are positive and finite."""
    if class_counts is None:
        raise ConfigError(
            f"loss {loss_name!r} needs class counts: pass class_counts=[n_0, ..., n_(C-1)], "
            "the number of training examples of each class"
        )
    if isinstance(class_counts, (str, bytes)):
        counts = None
    else:
        try:
            counts = torch.as_tensor(class_counts, dtype=torch.float64).flatten()
        except (TypeError, ValueError, RuntimeError, OverflowError):
            counts = None
    if counts is None:
        raise ConfigError(
            f"class_counts for loss {loss_name!r} must be a list of numbers, one per class; "
            f"got {quote(class_counts)}"
        )
    if counts.numel() < 2:
        raise ConfigError(
            f"class_counts for loss {loss_name!r} must list at least 2 classes; "
            f"got {counts.tolist()}"
        )
    if not bool(torch.isfinite(counts).all()) or bool((counts <= 0).any()):
        bad = [i for i, n in enumerate(counts.tolist()) if not (n > 0 and n != float("inf"))]
        raise ConfigError(
            f"class_counts for loss {loss_name!r} must be positive and finite; classes "
            f"{bad} have counts {[counts[i].item() for i in bad]}"
        )
    return counts


#: the largest value of a loss's numeric parameter (margins, temperatures, scales, ...):
#: every loss computes in float32, and at 1e4 the first step of every built-in loss is
#: finite (a margin of 1e300 is infinite in float32, and so is the loss)
PARAM_MAX = 1e4


def check_positive(
    name: str, value: float, *, allow_zero: bool = False, upper: float = PARAM_MAX
) -> float:
    """``value`` as a float, after checking it is (non-)negative, finite and at most
    ``upper`` (:data:`PARAM_MAX` unless the loss states a tighter limit)."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, not a yes/no value; got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name} must be a number; got {quote(value)}") from None
    ok = value >= 0 if allow_zero else value > 0
    if not ok or value != value or value > upper:
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(
            f"{name} must be a finite number {bound} and at most {upper:g}; got {value:g}"
        )
    return value


class ClassificationLoss(nn.Module, metaclass=abc.ABCMeta):
    """Base class of the registry's losses: validation, ``ignore_index`` and reductions.

    A subclass implements :meth:`per_example` on validated inputs. Losses that are not an
    average of per-example terms (Dice) override :meth:`forward` instead.
    """

    #: metadata, attached by :func:`hem_bench.losses.register_loss`
    info: ClassVar[LossInfo | None] = None

    def __init__(self, reduction: str = "mean", ignore_index: int = -100) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ConfigError(
                f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}"
            )
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise ConfigError(f"ignore_index must be an integer; got {ignore_index!r}")
        self.reduction = reduction
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        logits, target, valid = check_inputs(logits, target, self.ignore_index)
        self.check_num_classes(logits.shape[1])
        return reduce_loss(self.per_example(logits, target), valid, self.reduction)

    @abc.abstractmethod
    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        """Loss of each example (pixel): ``(N, C, *)`` logits, valid ``(N, *)`` targets."""

    def check_num_classes(self, num_classes: int) -> None:
        """Raise if the loss was built for another number of classes (class counts)."""

    def set_epoch(self, epoch: int, max_epochs: int) -> None:
        """Called by the tasks at the start of every training epoch (0-based) for losses
        whose form follows a schedule (LDAM's deferred re-weighting); a no-op here."""

    def output_bias_init(self, num_classes: int) -> float | None:
        """Initial value for the bias of the model's output layer, if the loss wants one.

        Sigmoid cross-entropy asks for ``-log C`` (Kornblith et al. 2021); most losses
        leave the model's default (``None``).
        """
        return None

    def extra_repr(self) -> str:
        params = dict(self.info.params) if self.info is not None else {}
        shown = [f"{k}={getattr(self, k, v)!r}" for k, v in params.items()]
        shown += [f"reduction={self.reduction!r}", f"ignore_index={self.ignore_index}"]
        return ", ".join(shown)


class ClassCountsMixin:
    """Holds ``class_counts`` as a buffer and checks them against the logits' classes."""

    class_counts: Tensor

    def _set_class_counts(self, class_counts, loss_name: str) -> Tensor:
        counts = check_class_counts(class_counts, loss_name)
        self.register_buffer("class_counts", counts.float(), persistent=False)
        self._loss_name = loss_name
        return counts

    def check_num_classes(self, num_classes: int) -> None:
        expected = self.class_counts.numel()
        if num_classes != expected:
            raise ValueError(
                f"loss {self._loss_name!r} was built with class counts for {expected} classes "
                f"but the logits score {num_classes} classes"
            )
