"""Segmentation models from segmentation-models-pytorch (smp), named ``smp/<arch>:<encoder>``.

A name picks one of smp's architectures (``unet``, ``unetplusplus``, ``fpn``,
``deeplabv3``, ``deeplabv3plus``, ``pspnet``, ``linknet``, ``manet``, ``pan``,
``upernet``, ``segformer``, ``dpt``; see :data:`ARCHITECTURES`) and one of its encoders
(``smp.encoders.get_encoder_names()``, or any timm model as ``tu-<timm name>``), e.g.
``smp/unet:resnet18`` or ``smp/deeplabv3plus:resnet50``. Further arguments of the smp
model follow as ``:key=value`` parts, so that a name alone says what is built:
``smp/unet:tu-regnetx_002:encoder_depth=3:decoder_channels=64-32-16``. Values are read
as ints, floats, ``true``/``false``/``none``, ``-``-separated int tuples, or else
strings.

Every model is built by ``smp.create_model(arch, encoder_name=..., encoder_weights=None,
in_channels=..., classes=...)``: no pretrained weights (the suite runs offline; the same
random initialisation for every loss). A :class:`Segmenter` wraps it: normalisation
``(x - mean) / std`` first (images stay in [0, 1], as for the classifiers), zero padding
of the normalised image up to a multiple of the encoder's output stride where the
architecture needs one (the logits are cropped back), then smp's model. ``head`` is the
final 1x1 (or 3x3) convolution producing the logits, so the task's extra L2 penalty on
the final layer and the sigmoid cross-entropy bias initialisation apply as for
classifiers. Output: logits ``(N, classes, H, W)`` at the input resolution.

One small network is built here instead: ``small-unet`` (``small-unet:width=N``, default
16), a four-level U-Net (Ronneberger et al. 2015) of 3x3 convolution + batch norm + ReLU
blocks, ``N``, ``2N``, ``4N``, ``8N`` channels at strides 1, 2, 4, 8, bilinear upsampling
and one block per decoder level. It is written by hand because smp's smallest U-Nets
(e.g. ``smp/unet:tu-resnet10t:encoder_depth=3``) start with a stride-2 stem and a
max-pool, too coarse for the embedded scenes' 8-12 pixel digits, and learnt them more
slowly per CPU second (see the README). Everything else -- architectures and encoders -- is
smp's.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hem_bench.errors import ConfigError, suggest
from hem_bench.models.classifier import Normalize

PREFIX = "smp/"
#: smp's architectures by the name used here (smp.create_model's ``arch``, lowercase)
ARCHITECTURES = (
    "unet",
    "unetplusplus",
    "fpn",
    "deeplabv3",
    "deeplabv3plus",
    "pspnet",
    "linknet",
    "manet",
    "pan",
    "upernet",
    "segformer",
    "dpt",
)
#: arguments the builder sets itself; not accepted in a name
_FIXED = {"encoder_name", "encoder_weights", "in_channels", "classes", "activation", "aux_params"}
#: a few encoders worth suggesting when a name is wrong
_SUGGESTED_ENCODERS = ("resnet18", "resnet50", "mobilenet_v2", "efficientnet-b0", "tu-regnetx_002")


def _architecture_class(arch: str):
    import segmentation_models_pytorch as smp

    mapping = {k.lower(): v for k, v in smp.MODEL_ARCHITECTURES_MAPPING.items()}
    return mapping.get(arch)


def _accepted_archs() -> list[str]:
    import segmentation_models_pytorch as smp

    known = {k.lower() for k in smp.MODEL_ARCHITECTURES_MAPPING}
    return [a for a in ARCHITECTURES if a in known] + sorted(known - set(ARCHITECTURES))


def _parse_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    parts = text.split("-")
    if len(parts) > 1 and all(p.isdigit() for p in parts):
        return tuple(int(p) for p in parts)
    return text


def _check_encoder(encoder: str, name: str) -> None:
    import segmentation_models_pytorch as smp

    if encoder.startswith("tu-"):
        import timm

        if not timm.is_model(encoder.removeprefix("tu-")):
            raise ConfigError(
                f"model {name!r}: timm has no model {encoder.removeprefix('tu-')!r} for the "
                f"encoder {encoder!r}; see timm.list_models()"
            )
        return
    names = smp.encoders.get_encoder_names()
    if encoder not in names:
        hint = suggest(encoder, names) or (
            f" Try e.g. {', '.join(_SUGGESTED_ENCODERS)}, or any timm model as tu-<name>."
        )
        raise ConfigError(
            f"model {name!r}: unknown smp encoder {encoder!r}.{hint} All smp encoders: "
            "segmentation_models_pytorch.encoders.get_encoder_names()."
        )


def parse_segmenter_name(name: str) -> tuple[str, str, dict[str, Any]]:
    """``(arch, encoder, options)`` of ``smp/<arch>:<encoder>[:key=value]...``; raises
    :class:`~hem_bench.errors.ConfigError` with what would be accepted."""
    form = "smp/<arch>:<encoder>[:key=value...], e.g. smp/unet:resnet18"
    if not isinstance(name, str) or not name.startswith(PREFIX):
        raise ConfigError(
            f"segmentation model {name!r} must be named {form}; architectures: "
            f"{', '.join(_accepted_archs())}"
        )
    arch, _, rest = name.removeprefix(PREFIX).partition(":")
    arch = arch.strip().lower()
    cls = _architecture_class(arch)
    if cls is None:
        archs = _accepted_archs()
        raise ConfigError(
            f"model {name!r}: unknown smp architecture {arch!r}.{suggest(arch, archs)} "
            f"Accepted: {', '.join(archs)}."
        )
    encoder, *parts = rest.split(":")
    encoder = encoder.strip()
    if not encoder:
        raise ConfigError(
            f"model {name!r} names no encoder: write {PREFIX}{arch}:<encoder>, e.g. "
            f"{PREFIX}{arch}:resnet18 (encoders: {', '.join(_SUGGESTED_ENCODERS)}, ...)"
        )
    _check_encoder(encoder, name)
    accepted = [
        p
        for p, param in inspect.signature(cls.__init__).parameters.items()
        if p != "self" and p not in _FIXED and param.kind is not param.VAR_KEYWORD
    ]
    options: dict[str, Any] = {}
    for part in parts:
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"model {name!r}: expected key=value after ':'; got {part!r}")
        if key not in accepted:
            raise ConfigError(
                f"model {name!r}: smp's {arch} has no argument {key!r}.{suggest(key, accepted)}"
                f" Accepted: {', '.join(accepted)}."
            )
        options[key] = _parse_value(value.strip())
    return arch, encoder, options


def check_segmenter_name(name: str) -> None:
    """Raise :class:`~hem_bench.errors.ConfigError` unless ``name`` names a segmentation
    model this builder can make (architecture, encoder and argument names; nothing built)."""
    if isinstance(name, str) and name.startswith(SMALL_UNET):
        _parse_small_unet(name)
        return
    parse_segmenter_name(name)


SMALL_UNET = "small-unet"


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)
    )


class _ChannelsLastGrad(torch.autograd.Function):
    """The identity, whose gradient is returned in channels-last memory format.

    In a channels-last network the gradient that ``torch.cat``'s backward hands to the
    upsampled features arrives in the default layout, where PyTorch's bilinear-upsampling
    backward takes several times longer than on channels-last tensors (about 14 % of a
    training step of the small U-Net on 32x32 scenes, 1 CPU thread). The values are the
    same; only their layout changes."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.contiguous(memory_format=torch.channels_last)


class SmallUNet(nn.Module):
    """A four-level U-Net of ``width``, ``2 width``, ``4 width``, ``8 width`` channels
    (strides 1, 2, 4, 8): one or two 3x3 conv-BN-ReLU blocks per encoder level, bilinear
    upsampling, concatenation with the encoder's features and one block per decoder level,
    then a 1x1 convolution to the classes. Any input size (upsampling follows the skip's)."""

    requires_divisible_input_shape = False

    def __init__(self, in_channels: int, classes: int, width: int = 16) -> None:
        super().__init__()
        w = width
        self.enc1 = _block(in_channels, w)
        self.enc2 = nn.Sequential(_block(w, 2 * w, 2), _block(2 * w, 2 * w))
        self.enc3 = nn.Sequential(_block(2 * w, 4 * w, 2), _block(4 * w, 4 * w))
        self.enc4 = nn.Sequential(_block(4 * w, 8 * w, 2), _block(8 * w, 8 * w))
        self.dec3 = _block(12 * w, 4 * w)
        self.dec2 = _block(6 * w, 2 * w)
        self.dec1 = _block(3 * w, w)
        self.segmentation_head = nn.Sequential(nn.Conv2d(w, classes, 1))

    @staticmethod
    def _up(x: Tensor, skip: Tensor) -> Tensor:
        up = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        if up.requires_grad and up.is_contiguous(memory_format=torch.channels_last):
            up = _ChannelsLastGrad.apply(up)
        return torch.cat([up, skip], 1)

    def forward(self, x: Tensor) -> Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d = self.dec3(self._up(self.enc4(e3), e3))
        d = self.dec2(self._up(d, e2))
        d = self.dec1(self._up(d, e1))
        return self.segmentation_head(d)


def _parse_small_unet(name: str) -> int:
    """The width of ``small-unet`` or ``small-unet:width=N``."""
    rest = name.removeprefix(SMALL_UNET)
    if not rest:
        return 16
    key, eq, value = rest.removeprefix(":").partition("=")
    if (
        not rest.startswith(":")
        or key != "width"
        or not eq
        or not value.isdigit()
        or not int(value)
    ):
        raise ConfigError(
            f"model {name!r}: the built-in U-Net is named {SMALL_UNET} or "
            f"{SMALL_UNET}:width=N with N a positive integer (default 16)"
        )
    return int(value)


class Segmenter(nn.Module):
    """Normalisation, padding to the encoder's stride, smp's model; logits at input size."""

    def __init__(
        self, net: nn.Module, num_classes: int, mean: Sequence[float], std: Sequence[float]
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net
        self.num_classes = num_classes
        needs = getattr(net, "requires_divisible_input_shape", True)
        self.stride = int(getattr(net.encoder, "output_stride", 1)) if needs else 1
        #: run the network in channels-last memory format (faster convolutions on the CPU:
        #: ~20 % for the small U-Net on the digit scenes); the logits come back contiguous
        self.channels_last = isinstance(net, SmallUNet)
        if self.channels_last:
            self.net = net.to(memory_format=torch.channels_last)

    @property
    def head(self) -> nn.Conv2d:
        """The convolution producing the logits (for the final-layer L2 penalty)."""
        convs = [m for m in self.net.segmentation_head.modules() if isinstance(m, nn.Conv2d)]
        return convs[-1]

    def forward(self, x: Tensor) -> Tensor:
        x = self.normalize(x)
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % self.stride, -width % self.stride
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = self.net(x)
        if self.channels_last:
            logits = logits.contiguous()
        if pad_h or pad_w:
            logits = logits[..., :height, :width]
        return logits

    def set_output_bias(self, value) -> None:
        """Start the output layer's bias at ``value``: one number for every class (sigmoid
        cross-entropy: -log C), or one per class (the log class prior)."""
        if self.head.bias is not None:
            with torch.no_grad():
                self.head.bias.copy_(torch.as_tensor(value, dtype=self.head.bias.dtype))


def build_segmenter(
    name: str,
    num_classes: int,
    input_shape: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    head: str = "linear",
    dropout: float = 0.0,
) -> Segmenter:
    """The model ``name`` (smp's, or ``small-unet``) for ``input_shape = (C, H, W)`` images and ``num_classes``
    (same signature as :func:`hem_bench.models.build_classifier`)."""
    if head != "linear" or dropout > 0:
        raise ConfigError(
            "--head and --dropout apply to classification models only (a cosine head or "
            "dropout on the penultimate features); segmentation models take neither: "
            f"got head={head!r}, dropout={dropout}"
        )
    in_channels = int(input_shape[0])
    if len(mean) != in_channels or len(std) != in_channels:
        raise ConfigError(
            f"normalisation has {len(mean)} means and {len(std)} stds for {in_channels} "
            "input channels"
        )
    if isinstance(name, str) and name.startswith(SMALL_UNET):
        net = SmallUNet(in_channels, num_classes, _parse_small_unet(name))
        return Segmenter(net, num_classes, mean, std)
    import segmentation_models_pytorch as smp

    arch, encoder, options = parse_segmenter_name(name)
    try:
        net = smp.create_model(
            arch,
            encoder_name=encoder,
            encoder_weights=None,
            in_channels=in_channels,
            classes=num_classes,
            **options,
        )
    except (ValueError, TypeError, KeyError, AssertionError, RuntimeError) as error:
        raise ConfigError(f"model {name!r} cannot be built: {error}") from None
    return Segmenter(net, num_classes, mean, std)
