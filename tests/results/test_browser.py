"""The HTML report in a real browser (headless Chromium): it loads, shows every loss as
text (not as markup), and renders a page that is not blank."""

from __future__ import annotations

import html
import shutil
import subprocess

import pytest

from tests.results.conftest import MALICIOUS
from tests.results.images import check_png

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium executable; skips the test where none is installed (session-scoped and
    requested first, so that the skip comes before the runs that make the report)."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed: apt-get install -y chromium (Debian's package)")


def browse(chromium: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with a fresh profile folder."""
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    command = [chromium, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_report_loads_in_chromium(chromium, board, tmp_path):
    """The DOM holds every loss as text and every plot; the screenshot shows a page that is not blank."""
    url = (board.out / "report.html").resolve().as_uri()
    dom = browse(chromium, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert "<h1>hem-bench leaderboard</h1>" in page
    for loss in ("ce", "hem", MALICIOUS):
        assert f"<td>{html.escape(loss, quote=False)}</td>" in page
    assert "<script" not in page.lower()  # the loss name stayed text, not an element
    assert page.count("<img ") == len(list((board.out / "plots").glob("*.png")))

    shot = tmp_path / "report.png"
    result = browse(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", url)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = check_png(shot.read_bytes(), min_size=1000, min_ink=0.03)
    assert image.size == (1280, 2000)
