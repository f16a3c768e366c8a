"""HEM forward + backward against torch.nn.functional.cross_entropy on the same CPU logits.

Shapes from the design: a batch of classification logits (4096, 100) and dense
segmentation logits (4, 21, 128, 128). Both HEM implementations are timed: the C kernel
(float32 CPU default) and the PyTorch operations (float64, GPUs, or no compiler).
Requirement: the C kernel at most 1.0x cross-entropy, the PyTorch operations at most 1.5x.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from hem_bench.losses import get_loss
from hem_bench.losses.hem import kernel_available

from .timing import interleaved_medians, report

SHAPES = [(4096, 100), (4, 21, 128, 128)]


def _step(loss_fn, logits, target):
    def run():
        logits.grad = None
        loss_fn(logits, target).backward()

    return run


def test_hem_against_cross_entropy():
    torch.manual_seed(0)
    hem = get_loss("hem")
    rows = []
    for shape in SHAPES:
        logits = (torch.randn(*shape) * 3).requires_grad_(True)
        target = torch.randint(0, shape[1], (shape[0], *shape[2:]))

        def hem_torch(y, t):
            os.environ["HEM_BENCH_NO_KERNEL"] = "1"
            try:
                return hem(y, t)
            finally:
                del os.environ["HEM_BENCH_NO_KERNEL"]

        functions = {
            "ce": _step(lambda y, t: F.cross_entropy(y, t), logits, target),
            "hem (torch ops)": _step(hem_torch, logits, target),
        }
        if kernel_available():
            functions["hem (kernel)"] = _step(hem, logits, target)
        medians = interleaved_medians(functions, repeats=200)
        for name, seconds in medians.items():
            rows.append(
                {
                    "shape": "x".join(map(str, shape)),
                    "loss": name,
                    "ms": f"{seconds * 1e3:.3f}",
                    "vs ce": f"{seconds / medians['ce']:.2f}x",
                }
            )
    report("hem_speed", rows)
    if not kernel_available():
        pytest.skip("the C kernel is not built here; only the PyTorch operations were timed")
