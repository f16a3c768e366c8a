"""What every loader of files under ``--data-dir`` shares: the errors that name the data
set, the folder expected and how to get it; MD5 checks; torchvision's download turned into
one clear error; the ``size`` option of the segmentation sets.

Standard library and hem-bench's errors only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hem_bench.errors import ConfigError, DataNotFoundError


def _not_found(name: str, what: str, folder: Path, how: str) -> DataNotFoundError:
    return DataNotFoundError(f"dataset {name!r} not found: expected {what} in {folder}. {how}")


def _download_hint(data_dir: Path) -> str:
    return f"Pass --download to fetch it into {data_dir}."


def _unreadable(name: str, path: Path | str, error: BaseException) -> DataNotFoundError:
    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return DataNotFoundError(
        f"dataset {name!r}: could not read {path} ({reason}); the file is corrupt or not in "
        f"the expected format. Delete it and fetch it again."
    )


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_md5(name: str, path: Path, expected: str) -> None:
    """Raise if the file at ``path`` does not have the MD5 sum ``expected``."""
    actual = _md5(path)
    if actual != expected:
        raise DataNotFoundError(
            f"dataset {name!r}: {path} failed its MD5 check (expected {expected}, got "
            f"{actual}): it is corrupt, truncated or not the official release. Delete it and "
            f"pass --download to fetch it again, or pass --no-verify to load it anyway."
        )


def _download(name: str, data_dir: Path, fetch: Callable[[], Any]) -> None:
    """Run torchvision's download (``fetch``), turning its failures into one clear error."""
    try:
        fetch()
    except Exception as error:  # network, checksum of the download, full disk ...
        raise DataNotFoundError(
            f"dataset {name!r}: download into {data_dir} failed ({type(error).__name__}: {error})."
        ) from error


def _no_download(name: str, download: bool, how: str) -> None:
    if download:
        raise ConfigError(f"dataset {name!r} cannot be downloaded automatically: {how}")


def _size(value: Any, option: str = "size") -> tuple[int, int]:
    """``(H, W)`` from a positive int (a square) or a pair of positive ints."""

    def positive(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v > 0

    if positive(value):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(map(positive, value)):
        return value[0], value[1]
    raise ConfigError(f"{option} must be a positive int or a pair (height, width); got {value!r}")
