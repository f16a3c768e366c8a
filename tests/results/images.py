"""Checks that a PNG is a real picture: PIL reads it, and it is not one flat colour."""

from __future__ import annotations

import io

from PIL import Image


def check_png(data: bytes, min_size: int = 100, min_ink: float = 0.0) -> Image.Image:
    """Assert that ``data`` is a valid PNG of at least ``min_size`` pixels a side with more
    than one colour and, if ``min_ink`` is given, that fraction of non-white pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    Image.open(io.BytesIO(data)).verify()  # checks the chunks' CRCs
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert image.width >= min_size and image.height >= min_size
    low, high = zip(*image.getextrema())
    assert low != high, "the image is a single flat colour"
    if min_ink:
        grey = image.convert("L")
        ink = sum(count for value, count in enumerate(grey.histogram()) if value < 250)
        assert ink / (image.width * image.height) >= min_ink
    return image
