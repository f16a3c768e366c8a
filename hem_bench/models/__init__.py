"""The models registry: names are the interface.

- ``digits-cnn``: small CNN for 8x8 images (the embedded digits);
- ``mnist-cnn``: small CNN for 28x28 grey images (MNIST, Fashion-MNIST, KMNIST);
- ``mnist-fast``: strided CNN for 28x28 grey images, made to train in seconds on one CPU
  thread (the MNIST family's recipes; see :mod:`hem_bench.models.fast`);
- ``resnet18-cifar``: ResNet-18 for 32x32 images, timm's ResNet-18 with the CIFAR stem
  (3x3 convolution, stride 1, no max pooling), as in He et al. (2016) for CIFAR;
- ``timm/<name>``: any timm model, without pretrained weights by default (offline), its
  input channels adapted and its classifier replaced by this suite's head.

Every model is a :class:`~hem_bench.models.classifier.Classifier`: normalisation first,
then the backbone, optional penultimate dropout, and a linear or cosine head.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from hem_bench.errors import ConfigError, unknown_name
from hem_bench.models.classifier import Classifier


@dataclass(frozen=True)
class ModelInfo:
    name: str
    summary: str
    #: the input size it is made for ("any" for timm models)
    input_size: str
    build: Callable[[int], tuple[nn.Module, int]]


def _resnet18_cifar(in_channels: int) -> tuple[nn.Module, int]:
    import timm

    model = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=in_channels)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model, model.num_features


def _builtin() -> dict[str, ModelInfo]:
    from hem_bench.models.fast import mnist_fast
    from hem_bench.models.small import digits_cnn, mnist_cnn

    return {
        "digits-cnn": ModelInfo("digits-cnn", "4 conv blocks, 64 features", "8x8", digits_cnn),
        "mnist-cnn": ModelInfo("mnist-cnn", "5 conv blocks, 128 features", "28x28", mnist_cnn),
        "mnist-fast": ModelInfo(
            "mnist-fast",
            "3 conv blocks (2 strided) + dense layer, 128 features",
            "28x28",
            mnist_fast,
        ),
        "resnet18-cifar": ModelInfo(
            "resnet18-cifar",
            "ResNet-18 with CIFAR stem (timm), 512 features",
            "32x32",
            _resnet18_cifar,
        ),
    }


def available_models() -> list[str]:
    return sorted(_builtin()) + ["timm/<name>"]


def check_model_name(name: str, kind: str = "classification") -> None:
    """Raise unless ``name`` is a model for ``kind``: for classification a built-in model or
    ``timm/<a timm model>``, for segmentation ``smp/<arch>:<encoder>``."""
    if kind == "segmentation" or name.startswith("smp/"):
        if kind != "segmentation":
            raise ConfigError(
                f"model {name!r} is a segmentation model; this task classifies images: use one of "
                f"{', '.join(available_models())}"
            )
        from hem_bench.models.segmentation import check_segmenter_name

        check_segmenter_name(name)
        return
    if name.startswith("timm/"):
        import timm

        arch = name.removeprefix("timm/")
        if not timm.is_model(arch):
            close = timm.list_models(f"*{arch[:4]}*")[:5] if len(arch) >= 4 else []
            hint = f" Close timm names: {', '.join(close)}." if close else ""
            raise ConfigError(f"unknown timm model {arch!r} (model {name!r}).{hint}")
        return
    if name not in _builtin():
        raise unknown_name("model", name, available_models())


def build_classifier(
    name: str,
    num_classes: int,
    input_shape: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    head: str = "linear",
    dropout: float = 0.0,
) -> Classifier:
    """The model ``name`` for ``input_shape = (C, H, W)`` images and ``num_classes``."""
    check_model_name(name)
    in_channels = int(input_shape[0])
    if name.startswith("timm/"):
        import timm

        backbone = timm.create_model(
            name.removeprefix("timm/"), pretrained=False, num_classes=0, in_chans=in_channels
        )
        num_features = backbone.num_features
    else:
        backbone, num_features = _builtin()[name].build(in_channels)
    return Classifier(backbone, num_features, num_classes, mean, std, head=head, dropout=dropout)
