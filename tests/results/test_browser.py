"""The HTML report in a real browser (headless Chromium) at 1280 px: the first screen shows
the ranking with its mean-rank column, the page never scrolls sideways (a wide table
scrolls inside its box, the loss and mean-rank columns fixed), every loss shows as text
(not as markup), and the screenshot is not blank.

Geometry is measured by a copy of the report with a small script added at its end (the
report itself holds no script): it writes the bounding boxes it measures into the page as
JSON, removes itself, and Chromium's ``--dump-dom`` prints the result.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hem_bench.results.leaderboard import build
from hem_bench.results.report import render
from hem_bench.results.store import load_results
from tests.results.conftest import MALICIOUS
from tests.results.images import check_png
from tests.results.records import record, write

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
WIDTH, HEIGHT = 1280, 800

#: measures the ranking table, its mean-rank column and the page width, before and after
#: scrolling the ranking's box to its right end; writes them as JSON into <pre id=geometry>
MEASURE = """
<script>
(function () {
  function box(element) {
    if (!element) { return null; }
    var r = element.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  }
  var table = document.getElementById("ranking");
  var heads = table ? Array.from(table.querySelectorAll("thead th")) : [];
  var head = heads.find(function (th) { return th.textContent.indexOf("mean rank") === 0; });
  var rows = table ? table.querySelectorAll("tbody tr") : [];
  var column = head ? heads.indexOf(head) : -1;
  var cells = Array.from(rows).map(function (row) { return box(row.children[column]); });
  var out = {
    viewport: [window.innerWidth, window.innerHeight],
    scrollWidth: document.documentElement.scrollWidth,
    table: box(table), head: box(head), cells: cells,
    texts: Array.from(rows).map(function (row) { return row.children[column].textContent; })
  };
  var wrap = table ? table.parentElement : null;
  if (wrap) {
    out.wrapScrollable = wrap.scrollWidth > wrap.clientWidth;
    wrap.scrollLeft = wrap.scrollWidth;
    out.headAfterScroll = box(head);
    out.lossAfterScroll = box(heads[0]);
    out.wrap = box(wrap);
  }
  var pre = document.createElement("pre");
  pre.id = "geometry";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
  document.currentScript.remove();
})();
</script>
"""


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


def geometry(chromium: str, page: Path, tmp_path) -> dict:
    """The measurements of :data:`MEASURE` for ``page`` at 1280 x 800 px."""
    probe = tmp_path / "probe.html"
    text = page.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    size = f"--window-size={WIDTH},{HEIGHT}"
    dom = browse(chromium, tmp_path, size, "--dump-dom", probe.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    match = re.search(r'<pre id="geometry">(.*?)</pre>', dom.stdout, re.S)
    assert match, dom.stdout[-2000:]
    return json.loads(html.unescape(match.group(1)))


def check_first_screen(measured: dict) -> None:
    """The ranking's mean-rank header and every loss's mean rank are inside the first
    1280 x 800 screen, and the page is no wider than the window."""
    width, height = measured["viewport"]
    assert width == WIDTH
    assert measured["scrollWidth"] <= WIDTH, "the page scrolls sideways"
    head = measured["head"]
    assert head is not None, "no mean-rank column in the ranking"
    assert head["left"] >= 0 and head["right"] <= WIDTH and head["top"] >= 0
    assert head["bottom"] <= HEIGHT
    for cell in measured["cells"]:
        assert cell["left"] >= 0 and cell["right"] <= WIDTH and cell["bottom"] <= HEIGHT
    ranks = [float(t) for t in measured["texts"]]
    assert ranks == sorted(ranks)


def test_the_report_loads_in_chromium(chromium, board, tmp_path):
    """The DOM holds every loss as text and every plot; the first screen shows the ranking
    with its mean ranks; the screenshot shows a page that is not blank."""
    page_path = board.out / "report.html"
    url = page_path.resolve().as_uri()
    dom = browse(chromium, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert "<h1>hem-bench leaderboard</h1>" in page
    for loss in ("ce", "hem", MALICIOUS):
        assert f">{html.escape(loss, quote=False)}</" in page
    assert "<script" not in page.lower()  # the loss name stayed text, not an element
    assert html.escape(MALICIOUS, quote=False) in page
    assert page.count("<img ") == len(list((board.out / "plots").glob("*.png")))

    measured = geometry(chromium, page_path, tmp_path)
    check_first_screen(measured)
    assert len(measured["cells"]) == 3  # ce, hem and the script-named loss

    shot = tmp_path / "report.png"
    size = f"--window-size={WIDTH},{HEIGHT}"
    result = browse(chromium, tmp_path, f"--screenshot={shot}", size, url)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = check_png(shot.read_bytes(), min_size=700, min_ink=0.05)
    assert image.size == (WIDTH, HEIGHT)


def test_a_wide_leaderboard_scrolls_inside_its_box(chromium, tmp_path):
    """Sixteen benchmarks and a loss parameter holding a script: the page still does not
    scroll sideways, the ranking's box does, and the loss and mean-rank columns stay in
    place when it is scrolled; the parameter shows as text."""
    folder = tmp_path / "results"
    losses = [("ce", {}), ("hem", {"margin": MALICIOUS}), ("hem", {"margin": "2"}), ("focal", {})]
    for b in range(16):
        for i, (loss, extra) in enumerate(losses):
            data = record(
                "classify",
                f"data-set-number-{b}",
                loss,
                0,
                {"acc": 0.5 + 0.1 * ((i + b) % 4)},
                "acc",
                loss_params=extra,
            )
            write(folder, f"{b}-{i}", data)
    results = load_results(folder)
    page_path = tmp_path / "wide.html"
    page_path.write_text(render(build(results.frame, baseline="ce"), results), encoding="utf-8")
    dom = browse(chromium, tmp_path, "--dump-dom", page_path.resolve().as_uri()).stdout
    assert "<script" not in dom.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom

    measured = geometry(chromium, page_path, tmp_path)
    check_first_screen(measured)
    assert measured["wrapScrollable"], "the ranking should be wider than the page here"
    assert measured["wrap"]["right"] <= WIDTH
    assert measured["headAfterScroll"]["left"] == pytest.approx(measured["head"]["left"], abs=1)
    assert measured["lossAfterScroll"]["left"] == pytest.approx(measured["table"]["left"], abs=1)


#: measures the page width and, for each table named in TABLE_IDS, its box, its wrapper's
#: box and whether the wrapper hides any of it (scrollWidth > clientWidth)
MEASURE_TABLES = """
<script>
(function () {
  var ids = TABLE_IDS;
  function box(element) {
    var r = element.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  }
  var out = {viewport: [window.innerWidth, window.innerHeight],
             scrollWidth: document.documentElement.scrollWidth, tables: {}};
  ids.forEach(function (id) {
    var table = document.getElementById(id);
    if (!table) { out.tables[id] = null; return; }
    var wrap = table.parentElement;
    out.tables[id] = {table: box(table), wrap: box(wrap),
                      hidden: wrap.scrollWidth > wrap.clientWidth + 1,
                      rows: table.querySelectorAll("tbody tr").length,
                      text: table.textContent};
  });
  var pre = document.createElement("pre");
  pre.id = "geometry";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
  document.currentScript.remove();
})();
</script>
"""


def test_claims_and_sensitivity_tables_fit_at_1280(chromium, tmp_path):
    """A store with the HEM paper's claims and a learning-rate arm: the page holds the claims
    table, the learning-rate sensitivity table and the power table; at 1280 px the page does
    not scroll sideways and none of them is cut (each fits its box)."""
    from tests.results.test_claims import HEADLINES, values

    folder = tmp_path / "results"
    for (task, loss, lr), numbers in values().items():
        dataset = "digit-scenes" if task == "segmentation" else "digits"
        for seed, value in enumerate(numbers):
            data = record(
                task, dataset, loss, seed, {HEADLINES[task]: float(value)}, HEADLINES[task]
            )
            data["config"] = {"lr": lr}
            write(folder, f"{task}-{loss}-{lr}-{seed}", data)
    results = load_results(folder)
    board = build(results.frame)
    assert board.sensitivity, "the store has a learning-rate arm"
    page_path = tmp_path / "claims.html"
    page_path.write_text(render(board, results), encoding="utf-8")
    ids = ["claims-table", "power-table", "sensitivity-segmentation-digit-scenes"]
    probe = tmp_path / "probe.html"
    script = MEASURE_TABLES.replace("TABLE_IDS", json.dumps(ids))
    probe.write_text(page_path.read_text().replace("</body>", script + "</body>"))
    dom = browse(
        chromium,
        tmp_path,
        f"--window-size={WIDTH},{HEIGHT}",
        "--dump-dom",
        probe.resolve().as_uri(),
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    match = re.search(r'<pre id="geometry">(.*?)</pre>', dom.stdout, re.S)
    assert match, dom.stdout[-2000:]
    measured = json.loads(html.unescape(match.group(1)))
    assert measured["viewport"][0] == WIDTH
    assert measured["scrollWidth"] <= WIDTH, "the page scrolls sideways"
    claims = measured["tables"]["claims-table"]
    assert claims is not None and claims["rows"] == len(board.claims)
    assert "HEM better than CE at unknown-class rejection" in claims["text"]
    assert "holds" in claims["text"] and "inconclusive" in claims["text"]
    sensitivity = measured["tables"]["sensitivity-segmentation-digit-scenes"]
    assert sensitivity is not None and sensitivity["rows"] == len(board.sensitivity[0].table)
    assert "lr=0.01" in sensitivity["text"] and "rank" in sensitivity["text"]
    assert measured["tables"]["power-table"] is not None
    for name in ids:
        item = measured["tables"][name]
        assert not item["hidden"], f"{name} is cut"
        assert item["wrap"]["right"] <= WIDTH and item["table"]["right"] <= WIDTH + 1, name
