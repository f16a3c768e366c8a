"""Small convolutional networks for the embedded 8x8 digits and 28x28 grey images.

Written here because they are a few lines of standard layers: conv 3x3 + batch norm +
ReLU blocks, max pooling between stages, global average pooling to the features.
"""

from __future__ import annotations

from torch import nn


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


def digits_cnn(in_channels: int = 1, width: int = 32) -> tuple[nn.Module, int]:
    """8x8 inputs: two stages (8x8, 4x4) of two conv blocks; ``2 * width`` features."""
    layers = [
        *_block(in_channels, width),
        *_block(width, width),
        nn.MaxPool2d(2),
        *_block(width, 2 * width),
        *_block(2 * width, 2 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    ]
    return nn.Sequential(*layers), 2 * width


def mnist_cnn(in_channels: int = 1, width: int = 32) -> tuple[nn.Module, int]:
    """28x28 inputs: three stages (28, 14, 7) of conv blocks; ``4 * width`` features."""
    layers = [
        *_block(in_channels, width),
        *_block(width, width),
        nn.MaxPool2d(2),
        *_block(width, 2 * width),
        *_block(2 * width, 2 * width),
        nn.MaxPool2d(2),
        *_block(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    ]
    return nn.Sequential(*layers), 4 * width
