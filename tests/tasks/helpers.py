"""Helpers for the task tests."""

from __future__ import annotations

import json
from pathlib import Path


def record_of(out: Path) -> dict:
    (path,) = Path(out).glob("*/record.json")
    return json.loads(path.read_text())
