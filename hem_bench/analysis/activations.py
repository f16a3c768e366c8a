"""Activations of named layers of a model on a set of images, for CKA and class
separation (Kornblith et al. 2019, 2021 compare networks layer by layer).

Forward hooks (``torch.nn.Module.register_forward_hook``) record each chosen module's
output while the model runs in evaluation mode without gradients. Two names are special:
``"features"`` is the input of the model's ``head`` (the penultimate representation of a
:class:`~hem_bench.models.classifier.Classifier`, after its dropout, which is the
identity in evaluation) and ``"logits"`` the model's output.

Which layers by default (:func:`default_layers`): for an ``nn.Sequential`` backbone (the
built-in ``digits-cnn`` and ``mnist-cnn``) the output of every activation function
(ReLU and kin), every pooling layer except adaptive (global) pooling, whose output is
``"features"`` anyway, and every nested block with parameters; for other backbones
(timm models) the top-level blocks with parameters (``layer1`` … ``layer4`` of a ResNet),
the children of a ``stages``/``blocks``/``layers`` container one by one, and top-level
activations (a ResNet's stem ReLU). Then ``"features"`` and ``"logits"``.

Size: a feature map ``(N, C, H, W)`` is flattened to ``C·H·W`` columns; when that
exceeds ``max_dim`` (default 4096) it is first average-pooled over space
(``adaptive_avg_pool2d``) to the largest ``h x w`` (same aspect ratio) with
``C·h·w <= max_dim`` — at least 1 x 1, so a map with more than ``max_dim`` channels keeps
all its C channels. Token sequences ``(N, T, D)`` with ``T·D > max_dim`` are averaged
over the tokens. Average pooling keeps CKA meaningful (Kornblith et al. 2019 note that
CKA on spatially pooled maps tracks the unpooled one) while bounding memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: names of the two special layers
FEATURES, LOGITS = "features", "logits"
_CONTAINER_NAMES = ("stages", "blocks", "layers", "features")


def _layer_kinds():
    from torch import nn

    activations = (
        nn.ReLU,
        nn.ReLU6,
        nn.LeakyReLU,
        nn.PReLU,
        nn.ELU,
        nn.SELU,
        nn.CELU,
        nn.GELU,
        nn.SiLU,
        nn.Mish,
        nn.Hardswish,
        nn.Tanh,
        nn.Sigmoid,
    )
    pools = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
    return activations, pools


def _has_parameters(module) -> bool:
    return any(True for _ in module.parameters())


def default_layers(model) -> list[str]:
    """The names (as in ``model.named_modules()``) of the layers compared by default,
    followed by ``"features"`` and ``"logits"`` (rules in the module docstring)."""
    from torch import nn

    activations, pools = _layer_kinds()
    backbone = getattr(model, "backbone", model)
    prefix = "backbone." if backbone is not model else ""
    names: list[str] = []
    if isinstance(backbone, nn.Sequential):
        for name, child in backbone.named_children():
            if isinstance(child, activations + pools) or (
                len(list(child.children())) > 0 and _has_parameters(child)
            ):
                names.append(prefix + name)
    else:
        for name, child in backbone.named_children():
            if name in _CONTAINER_NAMES and isinstance(child, (nn.Sequential, nn.ModuleList)):
                names.extend(f"{prefix}{name}.{sub}" for sub, _ in child.named_children())
            elif isinstance(child, activations) or (
                len(list(child.children())) > 0 and _has_parameters(child)
            ):
                names.append(prefix + name)
    extra = [FEATURES] if hasattr(model, "head") else []
    return names + extra + [LOGITS]


def reduce_output(output: Any, max_dim: int = 4096):
    """A module output as a float64 ``(N, p)`` tensor on the CPU, pooled to at most
    ``max_dim`` columns where needed (rules in the module docstring)."""
    import torch
    import torch.nn.functional as F

    if isinstance(output, (tuple, list)):
        output = output[0]
    if not torch.is_tensor(output):
        raise TypeError(f"cannot record a layer output of type {type(output).__name__}")
    x = output.detach()
    if x.dim() == 4 and x[0].numel() > max_dim:
        _, C, H, W = x.shape
        scale = math.sqrt(max_dim / (C * H * W))
        size = (max(1, math.floor(H * scale)), max(1, math.floor(W * scale)))
        x = F.adaptive_avg_pool2d(x.float(), size)
    elif x.dim() == 3 and x[0].numel() > max_dim:
        x = x.float().mean(dim=1)
    return x.reshape(x.shape[0], -1).to(device="cpu", dtype=torch.float64)


def activations(
    model,
    images: Any,
    layers: Sequence[str] | None = None,
    batch_size: int = 256,
    max_dim: int = 4096,
) -> dict[str, np.ndarray]:
    """Activations ``{layer_name: (n, p) float64 array}`` of ``model`` on ``images``.

    Args:
        model: a :class:`~hem_bench.models.classifier.Classifier` (or any module; then only
            named modules and ``"logits"`` are available). Runs on the device of its
            parameters, in evaluation mode (its mode is restored afterwards).
        images: ``(n, C, H, W)`` float images in [0, 1] (tensor or array), or an image set
            with ``float_images()``; the model normalises them itself.
        layers: module names from ``model.named_modules()`` and/or ``"features"``,
            ``"logits"``; default :func:`default_layers`.
        batch_size: images per forward pass.
        max_dim: spatial average pooling bounds each layer's width (module docstring).

    The result is ordered as the layers ran in the forward pass. Formulas and choices:
    module docstring.
    """
    import torch

    if hasattr(images, "float_images"):
        images = images.float_images()
    images = torch.as_tensor(images, dtype=torch.float32)
    wanted = list(layers) if layers is not None else default_layers(model)
    modules = dict(model.named_modules())
    unknown = [n for n in wanted if n not in modules and n not in (FEATURES, LOGITS)]
    if FEATURES in wanted and not hasattr(model, "head"):
        unknown.append(FEATURES)
    if unknown:
        from hem_bench.errors import ConfigError

        named = [n for n in modules if n]
        raise ConfigError(
            f"unknown layer(s) {', '.join(map(repr, unknown))}; the model's layers: "
            f"{', '.join(named[:40])}{' ...' if len(named) > 40 else ''}, plus "
            f"'{FEATURES}' and '{LOGITS}'"
        )
    chunks: dict[str, list] = {}

    def record(name):
        def hook(module, args, output):
            chunks.setdefault(name, []).append(reduce_output(output, max_dim))

        return hook

    def record_input(module, args):
        chunks.setdefault(FEATURES, []).append(reduce_output(args[0], max_dim))

    handles = [modules[n].register_forward_hook(record(n)) for n in wanted if n in modules]
    if FEATURES in wanted:
        handles.append(model.head.register_forward_pre_hook(record_input))
    was_training = model.training
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                logits = model(images[start : start + batch_size].to(device))
                if LOGITS in wanted:
                    chunks.setdefault(LOGITS, []).append(reduce_output(logits, max_dim))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {name: torch.cat(parts).numpy() for name, parts in chunks.items()}
