"""The HTML report: self-contained, complete, and safe from what records hold."""

from __future__ import annotations

import base64
import html
import re

from tests.results.conftest import MALICIOUS
from tests.results.images import check_png


def report(board) -> str:
    """The report.html the command wrote."""
    return (board.out / "report.html").read_text(encoding="utf-8")


def test_strings_from_records_are_escaped(board):
    """The script-like loss name, the failed run's error and paths are escaped in HTML and Markdown."""
    page = report(board)
    assert MALICIOUS not in page and "<script" not in page.lower()
    assert html.escape(MALICIOUS) in page
    assert "boom &lt;b&gt;" in page  # the failed run's error message
    assert html.escape(str(board.mixed.invalid)) in page
    markdown = (board.out / "leaderboard.md").read_text()
    assert MALICIOUS not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown


def test_every_plot_is_embedded_inline(board):
    """Every PNG is embedded as a data URI (the same bytes as plots/), and nothing is loaded from elsewhere."""
    page = report(board)
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
    plots = sorted((board.out / "plots").glob("*.png"))
    assert len(images) == len(plots) == page.count("<img ")
    assert sorted(base64.b64decode(i) for i in images) == sorted(p.read_bytes() for p in plots)
    for image in images:
        check_png(base64.b64decode(image))
    assert not re.search(r'(src|href)="(https?:|//|file:)', page)  # no external resource


def test_the_header_says_what_was_aggregated(board):
    """The header counts the records used and left out, and dates the report."""
    page = report(board)
    assert "Aggregated 25 run records of 28 found under" in page
    assert "left out: 1 schema, 1 failed, 1 invalid." in page
    assert re.search(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC", page)


def test_every_table_is_in_the_report(board):
    """The overall, paired and six benchmark tables, each under its heading."""
    page = report(board)
    for heading in (
        "Overall: generality",
        "Paired comparisons against ce",
        "classify/digits",
        "ood/digits",
        "adversarial/digits",
        "continual/split-digits",
        "segmentation/digit-scenes",
        "fewshot/digits",
    ):
        assert f">{heading}</h2>" in page
    assert page.count("<table>") == 2 + 6
    assert "auroc ↑" in page and "too few seeds" in page


def test_every_record_string_is_escaped_everywhere(tmp_path):
    """Task, data set, model, loss and metric names with markup, in every output."""
    from tests.results.conftest import call
    from tests.results.records import record, write

    evil = {k: f"<b>{k}</b>" for k in ("task", "dataset", "model", "metric")}
    for loss in ("ce", "<img src=x onerror=alert(1)>"):
        for seed in (0, 1):
            data = record(
                evil["task"],
                evil["dataset"],
                loss,
                seed,
                {evil["metric"]: 0.5 + seed / 10 + len(loss) / 100},
                evil["metric"],
                model=evil["model"],
            )
            write(tmp_path / "results", f"{len(loss)}-{seed}", data)
    out = tmp_path / "out"
    result = call(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(out)])
    assert result.code == 0, result.stderr
    page = (out / "report.html").read_text()
    markdown = (out / "leaderboard.md").read_text()
    for text in (page, markdown):
        assert "<b>" not in text and "<img src=x" not in text
        assert "&lt;b&gt;dataset&lt;/b&gt;" in text and "&lt;b&gt;metric&lt;/b&gt;" in text
    assert html.escape("<img src=x onerror=alert(1)>") in page
    (plot,) = (out / "plots").iterdir()  # the file name is made safe
    assert (
        re.fullmatch(r"headline-[A-Za-z0-9._-]+\.png", plot.name) and plot.parent == out / "plots"
    )
