"""Forward-hook activations of a built-in model: the default layers, their shapes, the
special "features" and "logits", and the pooling of wide maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hem_bench.analysis import activations, default_layers
from hem_bench.analysis.activations import reduce_output
from hem_bench.errors import ConfigError
from hem_bench.models import build_classifier


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_classifier("digits-cnn", 6, (1, 8, 8), (0.5,), (0.25,))


@pytest.fixture(scope="module")
def images():
    return torch.rand(37, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_default_layers_of_a_sequential_backbone(model):
    layers = default_layers(model)
    expected = [
        f"backbone.{i}"
        for i, module in enumerate(model.backbone)
        if isinstance(module, (torch.nn.ReLU, torch.nn.MaxPool2d))
    ]
    # every ReLU and the max pooling, in order; the global pooling's output is "features"
    assert layers == [*expected, "features", "logits"]
    kinds = [type(dict(model.named_modules())[n]).__name__ for n in expected]
    assert kinds == ["ReLU", "ReLU", "MaxPool2d", "ReLU", "ReLU"]


def test_activations_match_the_model(model, images):
    model.train()  # must be put in eval mode during extraction and restored after
    acts = activations(model, images, batch_size=10)
    assert model.training
    assert list(acts) == default_layers(model)
    assert all(a.dtype == np.float64 and a.shape[0] == 37 for a in acts.values())
    model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(acts["features"], model.features(images).double(), atol=1e-5)
        np.testing.assert_allclose(acts["logits"], model(images).double(), atol=1e-5)
        first = model.backbone[:3](model.normalize(images))
    # 32 channels x 8 x 8 = 2048 columns, flattened in (C, H, W) order
    assert acts["backbone.2"].shape == (37, 2048)
    np.testing.assert_allclose(acts["backbone.2"], first.reshape(37, -1).double(), atol=1e-5)
    assert acts["backbone.6"].shape == (37, 32 * 4 * 4)
    assert acts["features"].shape == (37, 64) and acts["logits"].shape == (37, 6)


def test_wide_maps_are_average_pooled_to_max_dim(model, images):
    acts = activations(model, images, layers=["backbone.2", "logits"], max_dim=600)
    # 32 x 8 x 8 = 2048 > 600: pooled to 4 x 4 (32 * 16 = 512 <= 600)
    assert acts["backbone.2"].shape == (37, 512)
    maps = torch.rand(3, 8, 8, 8)
    np.testing.assert_allclose(
        reduce_output(maps, max_dim=8),  # more channels than max_dim: global pooling
        maps.mean(dim=(2, 3)).double(),
        atol=1e-6,
    )
    assert reduce_output(torch.rand(2, 5, 7), max_dim=10).shape == (2, 7)  # tokens averaged


def test_unknown_layers_are_refused_with_the_names(model, images):
    with pytest.raises(ConfigError, match="backbone.99.*backbone.2"):
        activations(model, images, layers=["backbone.99"])
