"""The loss registry: HEM and the losses it is compared with.

>>> from hem_bench.losses import get_loss, available_losses
>>> loss = get_loss("hem", margin=1.0)
>>> value = loss(logits, target)          # logits (N, C[, d1, ...]), target (N[, d1, ...])

Every loss takes ``reduction`` ('mean' | 'sum' | 'none') and ``ignore_index`` (default
-100), accepts dense ``(N, C, d1, ...)`` logits, and documents its formula and source.
The call contract is stated once, in :mod:`hem_bench.losses._base`.
"""

from hem_bench.losses import dice, hem, kornblith, longtail, margin, softmax  # noqa: F401
from hem_bench.losses._base import REDUCTIONS, ClassCountsMixin, ClassificationLoss, reduce_loss
from hem_bench.losses._registry import (
    ENTRY_POINT_GROUP,
    PluginWarning,
    available_losses,
    check_loss_params,
    get_loss,
    loss_info,
    parse_loss_params,
    register_loss,
)
from hem_bench.losses.hem import hem_loss
from hem_bench.losses.info import TASK_KINDS, LossInfo, Paper

__all__ = [
    "ENTRY_POINT_GROUP",
    "REDUCTIONS",
    "TASK_KINDS",
    "ClassCountsMixin",
    "ClassificationLoss",
    "LossInfo",
    "Paper",
    "PluginWarning",
    "available_losses",
    "check_loss_params",
    "get_loss",
    "hem_loss",
    "loss_info",
    "parse_loss_params",
    "reduce_loss",
    "register_loss",
]
