"""Corruptions: every name and severity keeps shape, dtype and range; determinism per seed;
strength grows with severity; each corruption does what its table says (checked against
scipy and PIL where they implement the same operation); the bad-input messages."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hem_bench.datamodules.corruptions import (
    CORRUPTIONS,
    available_corruptions,
    corrupt,
    corruption_info,
    size_scale,
)
from hem_bench.errors import ConfigError, HemBenchError

NAMES = available_corruptions()
SEVERITIES = [1, 2, 3, 4, 5]
REQUIRED = {
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "gaussian_blur",
    "motion_blur",
    "contrast",
    "brightness",
    "pixelate",
    "jpeg_compression",
}
#: the published tables (CIFAR-10-C's make_cifar_c.py; MNIST-C's corruptions.py)
TABLES = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "speckle_noise": (0.06, 0.10, 0.12, 0.16, 0.20),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    "motion_blur": ((6, 1.0), (6, 1.5), (6, 2.0), (8, 2.0), (9, 2.5)),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    "jpeg_compression": (80, 65, 58, 50, 40),
    "rotate": (0.2, 0.4, 0.6, 0.8, 1.0),
    "shear": (0.2, 0.4, 0.6, 0.8, 1.0),
    "scale": (0.9, 0.8, 0.7, 0.6, 0.5),
}


def smooth_images(n: int, channels: int, size: int, seed: int, texture: float = 0.05):
    """Natural-ish images: a bilinear upsampling of 4x4 random values plus fine noise."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, 4, 4, generator=gen)
    images = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return (images + texture * torch.randn(images.shape, generator=gen)).clamp(0, 1)


def mad(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().mean().item()


def high_frequency(x: torch.Tensor) -> float:
    """Mean squared difference between horizontally and vertically neighbouring pixels."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
    return (dx + dy).item() / 2


def centroid(images: torch.Tensor) -> torch.Tensor:
    """(N, 2) intensity centroids (column, row) of (N, 1, H, W) images."""
    _, _, height, width = images.shape
    weights = images[:, 0]
    rows = torch.arange(height, dtype=torch.float32)[None, :, None]
    cols = torch.arange(width, dtype=torch.float32)[None, None, :]
    mass = weights.sum(dim=(1, 2))
    return torch.stack(
        [(weights * cols).sum(dim=(1, 2)) / mass, (weights * rows).sum(dim=(1, 2)) / mass], 1
    )


def blob(n: int, size: int, col: float, row: float, sigma: float = 1.5) -> torch.Tensor:
    """``n`` copies of a Gaussian spot centred at (col, row) on a black image."""
    r = torch.arange(size, dtype=torch.float32)
    spot = torch.exp(-((r[None, :] - col) ** 2 + (r[:, None] - row) ** 2) / (2 * sigma**2))
    return spot.expand(n, 1, size, size).clone()


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    from sklearn.datasets import load_digits

    images = load_digits().images[:96]
    return torch.as_tensor(images, dtype=torch.float32).div(16.0).unsqueeze(1)


@pytest.fixture(scope="module")
def batches() -> dict[tuple[int, ...], torch.Tensor]:
    shapes = [(4, 1, 8, 8), (3, 3, 32, 32), (2, 3, 9, 13), (2, 1, 28, 28)]
    return {
        (n, c, h, w): smooth_images(n, c, max(h, w), seed=1)[..., :h, :w].contiguous()
        for n, c, h, w in shapes
    }


# --------------------------------------------------------------------------------------
# registry


def test_registry_holds_the_required_corruptions_and_the_published_tables():
    assert set(NAMES) >= REQUIRED
    assert NAMES == sorted(CORRUPTIONS) == sorted(TABLES)
    assert {corruption_info(n).family for n in NAMES} == {"noise", "blur", "digital", "geometric"}
    for name in NAMES:
        info = corruption_info(name)
        assert info.name == name and info.values == TABLES[name]
        assert info.value(1) == TABLES[name][0] and info.value(5) == TABLES[name][4]
        assert ("CIFAR-10-C" in info.source) != ("MNIST-C" in info.source)
        assert ("MNIST-C" in info.source) == (info.family == "geometric")
        doc = " ".join((CORRUPTIONS[name].__doc__ or "").split())
        assert "severities 1-5" in doc and info.source.split()[0] in doc
        assert CORRUPTIONS[name].__name__ == name
    assert {n for n in NAMES if corruption_info(n).scales_with_size} == {
        "gaussian_blur",
        "motion_blur",
    }


def test_size_scale():
    assert size_scale(32, 32) == 1.0
    assert size_scale(8, 8) == pytest.approx(0.5**0.5)
    assert size_scale(8, 100) == size_scale(8, 8)
    assert size_scale(224, 224) == pytest.approx(7**0.25)


# --------------------------------------------------------------------------------------
# every corruption and severity


@pytest.mark.parametrize("shape", [(4, 1, 8, 8), (3, 3, 32, 32), (2, 3, 9, 13), (2, 1, 28, 28)])
@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_range(batches, name, shape):
    images = batches[shape]
    before = images.clone()
    for severity in SEVERITIES:
        out = corrupt(images, name, severity, seed=3)
        assert out.shape == images.shape and out.dtype == torch.float32
        assert torch.isfinite(out).all()
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert out.data_ptr() != images.data_ptr()
    assert torch.equal(images, before), "the input was modified"


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_per_seed(name):
    images = smooth_images(16, 3, 16, seed=2)  # 16 images: a random sign per image differs
    state = torch.random.get_rng_state()
    first = corrupt(images, name, 3, seed=7)
    torch.manual_seed(12345)  # global RNG state must not matter
    assert torch.equal(corrupt(images, name, 3, seed=7), first)
    other = corrupt(images, name, 3, seed=8)
    if corruption_info(name).stochastic:
        assert not torch.equal(other, first)
    else:
        assert torch.equal(other, first)
    torch.random.set_rng_state(state)
    corrupt(images, name, 3, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state), "global RNG state was used"


def test_public_functions_equal_corrupt(batches):
    images = batches[(4, 1, 8, 8)]
    for name in NAMES:
        assert torch.equal(CORRUPTIONS[name](images, 2, 5), corrupt(images, name, 2, seed=5))


@pytest.mark.parametrize(
    "images",
    [smooth_images(32, 1, 8, seed=0), smooth_images(16, 3, 32, seed=0)],
    ids=["8x8-grey", "32x32-rgb"],
)
@pytest.mark.parametrize("name", NAMES)
def test_strength_grows_with_severity(name, images):
    diffs = [mad(corrupt(images, name, s, seed=0), images) for s in SEVERITIES]
    assert diffs[0] > (1e-4 if images.shape[-1] == 8 else 1e-3), "severity 1 is a no-op"
    for weaker, stronger in zip(diffs, diffs[1:]):
        assert stronger >= weaker * 0.98 - 1e-5, diffs
    assert diffs[4] > 1.05 * diffs[0], diffs


def test_digits_are_changed_but_not_destroyed(digits):
    """On the real 8x8 digits severity 1 keeps each image recognisably correlated with
    the clean one, and severity 5 changes them more than severity 1."""
    for name in NAMES:
        mild = corrupt(digits, name, 1)
        corr = torch.corrcoef(torch.stack([digits.flatten(), mild.flatten()]))[0, 1]
        assert corr > 0.85, (name, corr)
        assert mad(corrupt(digits, name, 5), digits) > 1.5 * mad(mild, digits) > 0, name


# --------------------------------------------------------------------------------------
# noise


@pytest.mark.parametrize("severity", SEVERITIES)
def test_gaussian_noise_std_matches_sigma(severity):
    grey = torch.full((8, 3, 32, 32), 0.5)
    residual = corrupt(grey, "gaussian_noise", severity, seed=1) - grey
    sigma = TABLES["gaussian_noise"][severity - 1]
    assert residual.std().item() == pytest.approx(sigma, rel=0.03)
    assert abs(residual.mean().item()) < 3 * sigma / math.sqrt(residual.numel())


@pytest.mark.parametrize("severity", SEVERITIES)
def test_shot_noise_is_poisson(severity):
    grey = torch.full((8, 3, 32, 32), 0.5)
    rate = TABLES["shot_noise"][severity - 1]
    out = corrupt(grey, "shot_noise", severity, seed=1)
    counts = out * rate
    assert torch.allclose(counts, counts.round(), atol=1e-3)  # multiples of 1 / lambda
    assert (out - grey).std().item() == pytest.approx(math.sqrt(0.5 / rate), rel=0.05)
    assert out.mean().item() == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_impulse_noise_replaces_the_tabled_fraction(severity):
    grey = torch.full((8, 3, 32, 32), 0.5)
    amount = TABLES["impulse_noise"][severity - 1]
    out = corrupt(grey, "impulse_noise", severity, seed=1)
    n = out.numel()
    salt, pepper = (out == 1).sum().item(), (out == 0).sum().item()
    assert (out == 0.5).sum().item() + salt + pepper == n  # the rest is untouched
    tolerance = 4 * math.sqrt(n * amount)
    assert abs(salt + pepper - n * amount) < tolerance
    assert abs(salt - n * amount / 2) < tolerance and abs(pepper - n * amount / 2) < tolerance


def test_speckle_noise_scales_with_intensity():
    images = torch.cat([torch.full((4, 3, 32, 32), 0.2), torch.full((4, 3, 32, 32), 0.6)])
    residual = corrupt(images, "speckle_noise", 5, seed=1) - images
    assert residual[:4].std().item() == pytest.approx(0.2 * 0.2, rel=0.05)
    assert residual[4:].std().item() == pytest.approx(0.6 * 0.2, rel=0.05)


# --------------------------------------------------------------------------------------
# blur


@pytest.mark.parametrize("size", [8, 32])
def test_gaussian_blur_matches_scipy(size):
    """scikit-image's gaussian (CIFAR-10-C) is scipy's gaussian_filter with mode 'nearest'
    and truncate 4; sigma is the table's value times size_scale."""
    from scipy.ndimage import gaussian_filter

    images = smooth_images(3, 3, size, seed=2, texture=0.2)
    for severity in SEVERITIES:
        sigma = TABLES["gaussian_blur"][severity - 1] * size_scale(size, size)
        expected = gaussian_filter(
            images.double().numpy(), sigma=(0, 0, sigma, sigma), mode="nearest", truncate=4.0
        )
        out = corrupt(images, "gaussian_blur", severity)
        np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("name", ["gaussian_blur", "motion_blur"])
@pytest.mark.parametrize("size", [8, 32])
def test_blurs_remove_high_frequencies(name, size):
    images = smooth_images(8, 3, size, seed=4, texture=0.2)
    energies = [high_frequency(corrupt(images, name, s, seed=0)) for s in SEVERITIES]
    assert energies[0] < high_frequency(images)
    assert all(b <= a * 1.001 for a, b in zip(energies, energies[1:])), energies
    assert energies[4] < 0.8 * high_frequency(images)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_motion_blur_is_imagemagicks_one_sided_streak(severity):
    """A single bright pixel becomes a streak of ImageMagick's kernel: weight k_0 stays on
    the pixel, the rest trails within 45 degrees of the horizontal, all summing to 1."""
    radius, sigma = TABLES["motion_blur"][severity - 1]
    taps = torch.arange(2 * math.ceil(radius) + 1, dtype=torch.float64)
    k0 = 1.0 / torch.exp(-(taps**2) / (2 * sigma**2)).sum().item()
    point = torch.zeros(16, 1, 32, 32)
    point[:, :, 16, 16] = 1.0
    out = corrupt(point, "motion_blur", severity, seed=severity)
    assert out.sum(dim=(1, 2, 3)).tolist() == pytest.approx([1.0] * 16, abs=1e-5)
    assert out[:, 0, 16, 16].tolist() == pytest.approx([k0] * 16, rel=1e-5)
    rows, cols = torch.nonzero(out[:, 0] > 1e-6, as_tuple=True)[1:]
    dx, dy = cols - 16, rows - 16
    assert (dx <= 0).all() and (dy.abs() <= dx.abs() + 1).all()
    centres = [torch.nonzero(o[0] > 1e-3).float().mean(0) for o in out]
    assert len({tuple(c.round(decimals=1).tolist()) for c in centres}) > 1, "one angle for all"


# --------------------------------------------------------------------------------------
# digital


@pytest.mark.parametrize("severity", SEVERITIES)
def test_brightness_raises_the_hsv_value(severity):
    shift = TABLES["brightness"][severity - 1]
    images = smooth_images(6, 3, 32, seed=5)
    out = corrupt(images, "brightness", severity)
    assert (out.mean(dim=(1, 2, 3)) > images.mean(dim=(1, 2, 3))).all()
    value, new_value = images.amax(1), out.amax(1)
    torch.testing.assert_close(new_value, (value + shift).clamp(max=1.0))
    # hue and saturation kept: the channels scale together
    torch.testing.assert_close(out * value[:, None], images * new_value[:, None])
    pixel = torch.tensor([0.2, 0.4, 0.1]).view(1, 3, 1, 1)
    scale = (0.4 + shift) / 0.4
    torch.testing.assert_close(corrupt(pixel, "brightness", severity), pixel * scale)
    black = torch.zeros(1, 3, 1, 1)
    torch.testing.assert_close(corrupt(black, "brightness", severity), black + shift)
    grey = torch.linspace(0, 1, 64).view(1, 1, 8, 8)
    torch.testing.assert_close(corrupt(grey, "brightness", severity), (grey + shift).clamp(0, 1))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_contrast_shrinks_each_channels_spread(severity):
    factor = TABLES["contrast"][severity - 1]
    images = smooth_images(6, 3, 32, seed=6)
    out = corrupt(images, "contrast", severity)
    torch.testing.assert_close(out.mean(dim=(2, 3)), images.mean(dim=(2, 3)))
    torch.testing.assert_close(out.std(dim=(2, 3)), factor * images.std(dim=(2, 3)))
    assert (out.std(dim=(1, 2, 3)) < images.std(dim=(1, 2, 3))).all()


@pytest.mark.parametrize("severity", SEVERITIES)
def test_pixelate_makes_blocks_at_the_tabled_scale(severity):
    factor = TABLES["pixelate"][severity - 1]
    small = int(32 * factor)
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(severity))
    out = corrupt(images, "pixelate", severity)
    for image in out:
        # constant along runs of columns and of rows: `small` distinct of each
        assert torch.unique_consecutive(image, dim=2).shape == (3, 32, small)
        assert torch.unique_consecutive(image, dim=1).shape == (3, small, 32)


@pytest.mark.parametrize("size", [8, 32])
def test_pixelate_matches_pil_box_resize(size):
    from PIL import Image

    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(size))
    for severity in SEVERITIES:
        small = int(size * TABLES["pixelate"][severity - 1])
        expected = np.empty(images.shape, dtype=np.float32)
        for index in np.ndindex(*images.shape[:2]):
            image = Image.fromarray(images[index].numpy(), mode="F")
            image = image.resize((small, small), Image.BOX).resize((size, size), Image.BOX)
            expected[index] = np.asarray(image)
        out = corrupt(images, "pixelate", severity)
        np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("shape", [(4, 3, 32, 32), (4, 1, 8, 8)])
def test_jpeg_changes_the_image_and_stays_close(shape):
    images = smooth_images(shape[0], shape[1], shape[2], seed=7, texture=0.0)
    images = images.mul(255).round().div(255)  # JPEG works on 8-bit values
    diffs = []
    for severity in SEVERITIES:
        out = corrupt(images, "jpeg_compression", severity)
        torch.testing.assert_close(out * 255, (out * 255).round(), atol=1e-4, rtol=0)
        diffs.append(mad(out, images))
    assert 0 < diffs[0] < 0.02
    assert diffs[4] > diffs[0]


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_matches_pil(channels):
    from PIL import Image

    images = smooth_images(3, channels, 32, seed=8).mul(255).round().div(255)
    for severity in (1, 5):
        quality = TABLES["jpeg_compression"][severity - 1]
        out = corrupt(images, "jpeg_compression", severity)
        for image, result in zip(images, out):
            buffer = io.BytesIO()
            pixels = image.mul(255).round().byte().permute(1, 2, 0).squeeze(2).numpy()
            Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
            expected = np.asarray(Image.open(buffer), dtype=np.float32) / 255
            expected = expected.reshape(32, 32, channels)
            np.testing.assert_allclose(result.permute(1, 2, 0).numpy(), expected, atol=1e-6)


# --------------------------------------------------------------------------------------
# geometric


def _moved(q: torch.Tensor, linear: torch.Tensor, centre: float) -> torch.Tensor:
    """Where content at (col, row) ``q`` ends up under the inverse map ``linear``."""
    return centre + torch.linalg.solve(linear, q - centre)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_rotate_moves_mass_around_the_centre(severity):
    angle = TABLES["rotate"][severity - 1]
    images = blob(16, 32, col=21.0, row=12.0)
    out = corrupt(images, "rotate", severity, seed=0)
    mass_ratio = out.sum(dim=(1, 2, 3)) / images.sum(dim=(1, 2, 3))
    assert mass_ratio.tolist() == pytest.approx([1.0] * 16, abs=0.02)
    q = torch.tensor([21.0, 12.0])
    targets = []
    for sign in (1, -1):
        a = sign * angle
        linear = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        targets.append(_moved(q, linear, 15.5))
    distances = torch.stack([(centroid(out) - t).norm(dim=1) for t in targets])
    assert (distances.min(0).values < 0.2).all()
    assert set(distances.argmin(0).tolist()) == {0, 1}, "the direction is not random"
    assert ((centroid(out) - q).norm(dim=1) > 1.0).all()


def test_rotate_moves_a_single_bright_pixel():
    point = torch.zeros(4, 1, 32, 32)
    point[:, :, 6, 26] = 1.0
    for severity in SEVERITIES:
        out = corrupt(point, "rotate", severity, seed=1)
        assert (out[:, 0, 6, 26] == 0).all()
        brightest = out.flatten(1).argmax(1)
        rows, cols = brightest // 32, brightest % 32
        assert ((rows - 6) ** 2 + (cols - 26) ** 2 >= 4).all()
        # it stays on its circle around the centre
        radius = ((rows - 15.5) ** 2 + (cols - 15.5) ** 2).sqrt()
        assert ((radius - math.hypot(10.5, 9.5)).abs() < 1.0).all()
        assert out.sum(dim=(1, 2, 3)).tolist() == pytest.approx([1.0] * 4, abs=0.5)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_shear_follows_mnist_c_matrix(severity):
    s = TABLES["shear"][severity - 1]
    images = blob(16, 32, col=18.0, row=13.0)
    out = corrupt(images, "shear", severity, seed=0)
    mass_ratio = (out.sum(dim=(1, 2, 3)) / images.sum(dim=(1, 2, 3))).tolist()
    assert mass_ratio == pytest.approx([1 / math.cos(s)] * 16, rel=0.03)
    q = torch.tensor([18.0, 13.0])
    targets = [
        _moved(q, torch.tensor([[1.0, -math.sin(t)], [0.0, math.cos(t)]]), 15.5) for t in (s, -s)
    ]
    distances = torch.stack([(centroid(out) - t).norm(dim=1) for t in targets])
    assert (distances.min(0).values < 0.2).all()
    assert set(distances.argmin(0).tolist()) == {0, 1}


@pytest.mark.parametrize("severity", SEVERITIES)
def test_scale_shrinks_towards_the_centre(severity):
    factor = TABLES["scale"][severity - 1]
    images = blob(2, 32, col=22.0, row=10.0)
    out = corrupt(images, "scale", severity, seed=0)
    expected = 15.5 + factor * (torch.tensor([22.0, 10.0]) - 15.5)
    assert (centroid(out) - expected).norm(dim=1).max() < 0.1
    ratio = (out.sum(dim=(1, 2, 3)) / images.sum(dim=(1, 2, 3))).tolist()
    assert ratio == pytest.approx([factor**2] * 2, rel=0.03)


# --------------------------------------------------------------------------------------
# other inputs


def test_float64_and_empty_batches():
    images = smooth_images(2, 3, 16, seed=9).double()
    for name in NAMES:
        out = corrupt(images, name, 3)
        assert out.dtype == torch.float64 and out.shape == images.shape
    empty = torch.zeros(0, 1, 8, 8)
    assert corrupt(empty, "motion_blur", 2).shape == (0, 1, 8, 8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_shape_range_and_determinism():
    images = smooth_images(4, 3, 32, seed=10)
    gpu = images.cuda()
    for name in NAMES:
        out = corrupt(gpu, name, 4, seed=2)
        assert out.device == gpu.device and out.shape == gpu.shape
        assert out.min() >= 0 and out.max() <= 1
        assert torch.equal(out, corrupt(gpu, name, 4, seed=2))
        if not corruption_info(name).stochastic:
            torch.testing.assert_close(out.cpu(), corrupt(images, name, 4), atol=2e-3, rtol=0)


# --------------------------------------------------------------------------------------
# bad input


def test_unknown_name_lists_the_names():
    images = torch.zeros(1, 1, 8, 8)
    with pytest.raises(KeyError) as caught:
        corrupt(images, "gausian_noise", 1)
    assert isinstance(caught.value, HemBenchError)
    message = str(caught.value)
    assert "unknown corruption 'gausian_noise'" in message and "'gaussian_noise'" in message
    assert all(name in message for name in NAMES)
    with pytest.raises(KeyError, match="Available: brightness"):
        corruption_info("fog")
    with pytest.raises(KeyError):
        corrupt(images, None, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("severity", [0, 6, -1, 2.5, "3", True, None])
def test_bad_severity(severity):
    with pytest.raises(ConfigError, match=r"severity must be .*got " + repr(severity)[:3]):
        corrupt(torch.zeros(1, 1, 8, 8), "contrast", severity)  # type: ignore[arg-type]


def test_numpy_integer_severity_and_seed_accepted():
    images = smooth_images(1, 1, 8, seed=0)
    expected = corrupt(images, "shot_noise", 2, seed=3)
    assert torch.equal(corrupt(images, "shot_noise", np.int64(2), seed=np.int64(3)), expected)
    with pytest.raises(ConfigError, match="seed must be an integer"):
        corrupt(images, "shot_noise", 2, seed=1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.zeros(1, 8, 8), r"must be \(N, C, H, W\); got shape \(1, 8, 8\)"),
        (torch.zeros(1, 1, 1, 8, 8), r"must be \(N, C, H, W\)"),
        (torch.zeros(1, 2, 8, 8), "1 or 3 channels; got 2"),
        (torch.zeros(1, 1, 8, 8, dtype=torch.uint8), "floating point .* got torch.uint8"),
        (torch.full((1, 1, 8, 8), -0.5), r"in \[0, 1\]; got min -0.5"),
        (torch.full((1, 1, 8, 8), 1.5), r"in \[0, 1\]; got min 1.5, max 1.5"),
        (torch.full((1, 1, 8, 8), float("nan")), r"in \[0, 1\]; got min nan"),
        (np.zeros((1, 1, 8, 8), dtype=np.float32), "must be a torch.Tensor"),
    ],
    ids=["3d", "5d", "2-channels", "uint8", "negative", "above-1", "nan", "numpy"],
)
def test_bad_images(images, message):
    with pytest.raises(ConfigError, match=message):
        corrupt(images, "gaussian_noise", 1)
