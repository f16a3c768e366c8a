"""The HTML report: the verdict first, numbers that match the records, self-contained, and
safe from what records hold."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2, rankdata

from hem_bench.losses import available_losses, loss_info
from hem_bench.results.leaderboard import build, group_tables
from hem_bench.results.report import render
from hem_bench.results.stats import critical_difference, nemenyi_q
from hem_bench.results.store import load_results
from tests.results.conftest import MALICIOUS
from tests.results.images import check_png
from tests.results.records import record, write


def report(board) -> str:
    """The report.html the command wrote."""
    return (board.out / "report.html").read_text(encoding="utf-8")


class Tables(HTMLParser):
    """Every ``<table>`` of a page as rows of cells; each cell is (text, attributes)."""

    def __init__(self, page: str):
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"id": dict(attrs).get("id"), "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = ["", dict(attrs), tag]
            self.tables[-1]["rows"][-1].append(self._cell)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data

    def by_id(self, name: str) -> list[list]:
        (table,) = [t for t in self.tables if t["id"] == name]
        return table["rows"]


def independent_means(folder, task: str, dataset: str) -> dict[str, float]:
    """Mean headline per loss of one benchmark, read straight from the record files."""
    values: dict[str, list[float]] = {}
    for path in sorted(folder.rglob("record.json")):
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        if data.get("status") != "completed" or data.get("schema_version") != 1:
            continue
        if (data["task"], data["dataset"]) == (task, dataset):
            values.setdefault(data["loss"], []).append(data["headline"]["value"])
    return {loss: float(np.mean(v)) for loss, v in values.items()}


def test_the_verdict_comes_first_sorted_by_mean_rank(board):
    """The ranking table is the first table, sorted by mean rank; each heatmap cell holds the
    mean headline (from the records) and its rank (scipy's rankdata), coloured by rank."""
    page = report(board)
    assert page[page.index("<table") :].startswith('<table id="ranking"')  # the first table
    rows = Tables(page).by_id("ranking")
    header = [c[0] for c in rows[0]]
    assert header[:2] == ["loss", "mean rank ↓"]
    body = rows[1:]
    mean_ranks = [float(r[1][0]) for r in body]
    assert mean_ranks == sorted(mean_ranks)
    summary = json.loads((board.out / "leaderboard.json").read_text())
    assert [r[0][0].split(". ", 1)[1] for r in body] == [r["loss"] for r in summary["overall"]]
    # the ood/digits column against the records themselves
    column = next(i for i, h in enumerate(header) if h.startswith("ood/digits"))
    means = independent_means(board.mixed.folder, "ood", "digits")
    losses = sorted(means)
    ranks = dict(zip(losses, rankdata([-means[x] for x in losses], method="average")))
    for row in body:
        loss = row[0][0].split(". ", 1)[1]
        text, attrs, _ = row[column]
        value, rank = re.fullmatch(r"([\d.]+) #([\d.]+)", text.strip()).groups()
        assert float(value) == pytest.approx(means[loss], abs=5e-4)
        assert float(rank) == ranks[loss]
        hue = 120 * (1 - (ranks[loss] - 1) / (len(losses) - 1))
        assert f"hsl({hue:.0f}, 62%, 78%)" in attrs["style"]
        assert re.fullmatch(r"\d\.\d{3}", value)  # rounded for reading
    # the mean rank over the benchmarks a loss ran on
    for row, entry in zip(body, summary["overall"]):
        assert float(row[1][0]) == pytest.approx(entry["mean rank"], abs=5e-3)


def test_the_critical_difference_is_demsars():
    """q_alpha is the Nemenyi critical value of Demsar (2006, Table 5a); CD, the Friedman p
    and the groups follow from the rank matrix by the formulas of the paper."""
    published = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
    for k, q in zip(range(2, 11), published):
        assert nemenyi_q(k) == pytest.approx(q, abs=1.5e-3)
    # 4 losses x 5 benchmarks with known values (higher is better)
    values = {
        "a": [0.9, 0.8, 0.95, 0.7, 0.9],
        "b": [0.85, 0.82, 0.9, 0.65, 0.88],
        "c": [0.5, 0.6, 0.4, 0.3, 0.55],
        "d": [0.55, 0.5, 0.45, 0.35, 0.5],
    }
    frame = pd.DataFrame(
        [
            {
                "task": "classify",
                "dataset": f"set{b}",
                "model": "m",
                "loss": loss,
                "seed": 0,
                "headline": "acc",
                "headline_value": v[b],
                "higher_is_better": True,
            }
            for loss, v in values.items()
            for b in range(5)
        ]
    )
    result = critical_difference(group_tables(frame))
    ranks = np.array([rankdata([-values[x][b] for x in "abcd"]) for b in range(5)])
    mean = ranks.mean(axis=0)  # a, b, c, d
    k, n = 4, 5
    assert result.losses == ["a", "b", "d", "c"]
    assert result.mean_ranks == pytest.approx(sorted(mean))
    assert result.cd == pytest.approx(2.569 * math.sqrt(k * (k + 1) / (6 * n)), abs=2e-3)
    statistic = 12 * n / (k * (k + 1)) * (np.sum(mean**2) - k * (k + 1) ** 2 / 4)
    assert result.friedman_p == pytest.approx(chi2.sf(statistic, k - 1))
    # mean ranks a 1.2, b 1.8, d 3.4, c 3.6 and CD 2.098: {a, b} and {b, d, c} are the
    # maximal groups whose ranks differ by less than CD (a and d differ by 2.2)
    assert result.mean_ranks == pytest.approx([1.2, 1.8, 3.4, 3.6])
    assert result.cliques == [(0, 1), (1, 3)]


def test_no_critical_difference_for_one_benchmark():
    """A CD diagram needs two benchmarks and two losses."""
    frame = pd.DataFrame(
        {
            "task": "classify",
            "dataset": "digits",
            "model": "m",
            "loss": ["a", "b"],
            "seed": 0,
            "headline": "acc",
            "headline_value": [0.5, 0.6],
            "higher_is_better": True,
        }
    )
    assert critical_difference(group_tables(frame)) is None


def test_rank_uncertainty_columns_are_shown_when_the_leaderboard_has_them(board, tmp_path):
    """A column of the overall table named with 'CI' or 'interval' appears in the verdict
    beside the mean rank; without one, none."""
    results = load_results(board.mixed.folder)
    leaderboard = build(results.frame, baseline="ce")
    # the leaderboard's own bootstrap interval is shown beside the mean rank
    shown = [c[0] for c in Tables(render(leaderboard, results)).by_id("ranking")[0]]
    assert shown[1:3] == ["mean rank ↓", "mean rank CI"]
    leaderboard.overall = leaderboard.overall.drop(
        columns=[c for c in leaderboard.overall.columns if "CI" in c or "interval" in c]
    )
    plain = Tables(render(leaderboard, results)).by_id("ranking")
    assert not any("CI" in c[0] for c in plain[0])
    intervals = [(r - 0.5, r + 1.0) for r in leaderboard.overall["mean rank"]]
    leaderboard.overall["mean rank 95% CI"] = intervals
    rows = Tables(render(leaderboard, results)).by_id("ranking")
    header = [c[0] for c in rows[0]]
    assert header[1:3] == ["mean rank ↓", "mean rank 95% CI"]
    for row, (low, high) in zip(rows[1:], intervals):
        assert row[2][0] == f"[{low:.2f}, {high:.2f}]"
    # an interval given as two bound columns is one column too
    del leaderboard.overall["mean rank 95% CI"]
    leaderboard.overall["mean rank CI low"] = [low for low, _ in intervals]
    leaderboard.overall["mean rank CI high"] = [high for _, high in intervals]
    rows = Tables(render(leaderboard, results)).by_id("ranking")
    assert [c[0] for c in rows[0]][1:5] == ["mean rank ↓", "mean rank CI", "p(first)", "vs #1"]
    for row, (low, high) in zip(rows[1:], intervals):
        assert row[2][0] == f"[{low:.2f}, {high:.2f}]"


def test_every_metric_column_says_its_direction(board):
    """Each benchmark table titles every metric with ↑ or ↓; lower is better for errors."""
    parsed = Tables(report(board))
    directions = {}
    tables = [t for t in parsed.tables if (t["id"] or "").startswith("t-")]
    assert len(tables) == 6
    for table in tables:
        for text, _, _ in table["rows"][0][2:]:  # after loss and seeds
            name, mark = text.strip().rsplit(" ", 1)
            directions[name] = mark
    assert directions["fpr95"] == "↓" and directions["ece"] == "↓" and directions["nll"] == "↓"
    assert directions["auroc"] == directions["acc"] == directions["robust_acc"] == "↑"
    assert directions["forgetting"] == "↓" and directions["miou"] == "↑"
    assert set(directions.values()) == {"↑", "↓"}


def test_each_loss_links_to_its_paper(board):
    """Losses of the registry link to their paper; a name it does not know is plain text."""
    page = report(board)
    for loss in ("ce", "hem"):
        url = html.escape(loss_info(loss).paper.url)
        assert f'<a href="{url}" title="' in page and f'">{loss}</a>' in page
    assert f">{html.escape(MALICIOUS)}</a>" not in page


def test_the_caveat_says_small_data_and_few_epochs(board):
    """The real runs trained 1 epoch on the embedded digits (recipe: 30): both are said,
    at the top and in the benchmark's own section."""
    page = report(board)
    # continual/split-digits is a name of the synthetic records, not a data set hem-bench has
    assert "Read with care</b> (5 of 6 benchmarks)" in page
    ood = page[page.index('<h2 id="b-ood-digits">') :]
    ood = ood[: ood.index("<h2", 10)]
    expected = "small data (digits: embedded 8×8 digit images); few epochs (1 of the recipe's 30)"
    assert html.escape(expected) in ood
    # the synthetic records have no config: no epochs claimed for them
    adversarial = page[page.index('<h2 id="b-adversarial-digits">') :]
    adversarial = adversarial[: adversarial.index("<h2", 10)]
    assert "small data" in adversarial and "few epochs" not in adversarial


def test_no_caveat_for_a_full_recipe_on_real_data(tmp_path):
    """Runs of the recipe's epochs on a data set that is not embedded carry no caveat."""
    for loss in ("ce", "hem"):
        data = record("classify", "cifar10", loss, 0, {"acc": 0.9}, "acc")
        data["config"] = {"max_epochs": 200}
        write(tmp_path, loss, data)
    results = load_results(tmp_path)
    page = render(build(results.frame, baseline="ce"), results)
    assert 'class="caveat"' not in page


def test_ood_is_reported_per_detector_and_near_far_set(board):
    """Every detector on near (unknown classes) and far (noise) OOD; each number is the
    mean over seeds of the run's mean over the group's sets, from the records."""
    page = report(board)
    parsed = Tables(page)
    auroc = next(t["rows"] for t in parsed.tables if t["rows"] and "auroc" in t["rows"][1][0][0])
    detectors = [c[0] for c in auroc[0][1:]]
    assert detectors == ["energy", "mahalanobis", "maxlogit", "msp", "vim"]
    assert [c[0] for c in auroc[1][1:]] == ["near", "far"] * 5
    records = []
    for path in sorted(board.mixed.folder.rglob("record.json")):
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        completed = data.get("status") == "completed" and data["schema_version"] == 1
        if completed and data["task"] == "ood":
            records.append(data)
    assert {r["loss"] for r in records} == {"ce", "hem", MALICIOUS}
    for row in auroc[2:]:
        loss = row[0][0]
        runs = [r["metrics"] for r in records if r["loss"] == loss]
        for index, detector in enumerate(detectors):
            near = np.mean([m[f"{detector}/unknown/auroc"] for m in runs])
            far = np.mean(
                [
                    np.mean([m[f"{detector}/{s}/auroc"] for s in ("gaussian", "uniform")])
                    for m in runs
                ]
            )
            assert float(row[1 + 2 * index][0]) == pytest.approx(near, abs=5e-4)
            assert float(row[2 + 2 * index][0]) == pytest.approx(far, abs=5e-4)
    assert "fpr95 ↓" in page and "Every OOD set separately" in page


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
    """Every PNG is embedded as a data URI (the same bytes as plots/), and nothing is loaded
    from elsewhere: the only outside addresses are the papers' links."""
    page = report(board)
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
    plots = sorted((board.out / "plots").glob("*.png"))
    assert len(images) == len(plots) == page.count("<img ")
    assert sorted(base64.b64decode(i) for i in images) == sorted(p.read_bytes() for p in plots)
    for image in images:
        check_png(base64.b64decode(image))
    assert not re.search(r'src="(?!data:)', page)  # no external resource
    assert "<link" not in page and "url(" not in page and "@import" not in page
    papers = {html.escape(loss_info(name).paper.url) for name in available_losses()}
    links = re.findall(r'href="([^"#][^"]*)"', page)
    assert links and set(links) <= papers  # the only outside addresses: the papers' links


def test_the_header_says_what_was_aggregated(board):
    """The header counts the records used and left out, and dates the report."""
    page = report(board)
    assert "Aggregated 25 run records of 28 found under" in page
    assert "left out: 1 schema, 1 failed, 1 invalid." in page
    assert re.search(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC", page)


def test_every_section_is_in_the_report_and_its_contents(board):
    """The verdict, the paired comparisons and six benchmark sections, each linked from the
    table of contents."""
    page = report(board)
    headings = {
        "verdict": "Verdict: which loss is most general?",
        "paired": "Paired comparisons against ce",
        "b-classify-digits": "classify/digits",
        "b-ood-digits": "ood/digits",
        "b-adversarial-digits": "adversarial/digits",
        "b-continual-split-digits": "continual/split-digits",
        "b-segmentation-digit-scenes": "segmentation/digit-scenes",
        "b-fewshot-digits": "fewshot/digits",
    }
    nav = page[page.index("<nav") : page.index("</nav>")]
    for anchor, heading in headings.items():
        assert f'<h2 id="{anchor}">{heading}</h2>' in page
        assert f'href="#{anchor}"' in nav
    assert page.index("<nav") < page.index('id="ranking"')
    assert "too few seeds" in page and 'id="paired-matrix"' in page


def test_numbers_are_rounded_for_reading(board):
    """No table cell shows more than 3 decimals (the CSV and JSON keep every digit; the
    p-values of the folded paired table have 3 significant digits; the claims table says
    what the grid shows with the Markdown's figures)."""
    for table in Tables(report(board)).tables:
        if table["id"] in ("paired-details", "claims-table"):
            continue
        for row in table["rows"]:
            for text, _, _ in row:
                assert not re.search(r"\d\.\d{4,}", text), text


def test_every_record_string_is_escaped_everywhere(tmp_path):
    """Task, data set, model, loss and metric names with markup, in every output."""
    from tests.results.conftest import call

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
        assert not re.search(r"<b>(task|dataset|model|metric)</b>", text)
        assert "<img src=x" not in text
        assert "&lt;b&gt;dataset&lt;/b&gt;" in text and "&lt;b&gt;metric&lt;/b&gt;" in text
    assert html.escape("<img src=x onerror=alert(1)>") in page
    (plot,) = (out / "plots").iterdir()  # the file name is made safe
    assert (
        re.fullmatch(r"headline-[A-Za-z0-9._-]+\.png", plot.name) and plot.parent == out / "plots"
    )
