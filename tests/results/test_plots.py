"""The plots: every PNG is a real image, each kind is drawn where its metrics exist, and
the numbers behind them are right."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from hem_bench.results.leaderboard import group_tables
from hem_bench.results.plots import benchmark_views, critical_difference_diagram, headline_bars
from hem_bench.results.store import load_results
from hem_bench.run_folder import RunFolder
from hem_bench.tasks.adversarial import plots as adversarial_plots
from hem_bench.tasks.classify import pooled_calibration
from hem_bench.tasks.continual import accuracy_matrix
from hem_bench.tasks.ood import read_scores
from tests.results.images import check_png
from tests.results.records import record, write


def test_every_plot_is_a_valid_image(board):
    """Each kind of plot is drawn where its metrics exist, and every PNG is a real, non-flat image."""
    paths = sorted((board.out / "plots").glob("*.png"))
    names = {p.stem for p in paths}
    assert names == {
        "critical-difference",
        "headline-adversarial-digits",
        "headline-classify-digits",
        "headline-continual-split-digits",
        "headline-fewshot-digits",
        "headline-ood-digits",
        "headline-segmentation-digit-scenes",
        "robust-adversarial-digits-fgsm",
        "robust-adversarial-digits-pgd",
        "reliability-classify-digits",
        "acc-matrix-continual-split-digits",
        "roc-ood-digits",
    }
    for path in paths:
        check_png(path.read_bytes(), min_ink=0.02)
    summary = json.loads((board.out / "leaderboard.json").read_text())
    assert sorted(summary["plots"]) == sorted(f"plots/{p.name}" for p in paths)


def test_stored_scores_give_the_recorded_auroc(real_results):
    """The ROC plot reads the scores with OOD as the positive class: its AUROC is the one
    the run recorded for msp on the unknown set."""
    for path in sorted(real_results.glob("ood-*/record.json")):
        inside, outside = read_scores(RunFolder(path.parent))
        labels = np.concatenate([np.zeros(len(inside)), np.ones(len(outside))])
        auroc = roc_auc_score(labels, np.concatenate([inside, outside]))
        expected = json.loads(path.read_text())["metrics"]["msp/unknown/auroc"]
        assert auroc == pytest.approx(expected, abs=1e-6)
    assert read_scores(RunFolder(real_results)) is None  # no scores file


def test_reliability_bins_are_pooled_over_seeds():
    """Bins pooled over seeds with frac weights; a bin missing in a seed counts as empty there."""
    runs = pd.DataFrame(
        {
            "calibration/3/conf": [0.22, 0.24],
            "calibration/3/acc": [0.5, 1.0],
            "calibration/3/frac": [0.2, 0.1],
            "calibration/9/conf": [0.65, np.nan],
            "calibration/9/acc": [0.7, np.nan],
            "calibration/9/frac": [0.8, np.nan],
        }
    )
    bins = pooled_calibration(runs)
    assert len(bins) == 15
    assert bins.at[3, "acc"] == pytest.approx((0.2 * 0.5 + 0.1 * 1.0) / 0.3)
    assert bins.at[3, "conf"] == pytest.approx((0.2 * 0.22 + 0.1 * 0.24) / 0.3)
    assert bins.at[3, "frac"] == pytest.approx(0.15)
    assert bins.at[9, "acc"] == pytest.approx(0.7) and bins.at[9, "frac"] == pytest.approx(0.4)
    assert bins.drop(index=[3, 9])["acc"].isna().all()  # missing bins are empty


def test_accuracy_matrix_is_the_mean_over_seeds():
    """The accuracy matrix is the mean over seeds; absent cells are NaN."""
    runs = pd.DataFrame({"acc_matrix/0/0": [0.9, 0.8], "acc_matrix/1/0": [0.4, 0.6]})
    runs["acc_matrix/1/1"] = [1.0, 0.9]
    matrix = accuracy_matrix(runs)
    assert matrix.shape == (2, 2) and np.isnan(matrix[0, 1])
    assert matrix[0, 0] == pytest.approx(0.85) and matrix[1, 0] == pytest.approx(0.5)


def test_names_that_look_like_markup_are_drawn_as_text(tmp_path):
    """Loss names with ``$`` (mathtext) or a leading ``_`` (hidden legend entries) still draw."""
    for loss in ("_hidden", "a$b$c", "x^2_{y}"):
        write(tmp_path, loss, record("ood", "digits", loss, 0, {"auroc": 0.7}, "auroc"))
    (plot,) = headline_bars(group_tables(load_results(tmp_path).frame))
    check_png(plot.png)
    assert plot.save(tmp_path / "plots").read_bytes() == plot.png


def test_a_curve_of_one_epsilon_is_left_out(tmp_path):
    """Robust accuracy at a single epsilon is one point per loss: no curve is drawn; with
    two epsilons it is."""
    for loss in ("ce", "hem"):
        metrics = {"robust_acc": 0.3, "robust_acc/pgd/0.1": 0.3, "robust_acc/fgsm/0.1": 0.4}
        metrics["robust_acc/fgsm/0.2"] = 0.2
        write(tmp_path, loss, record("adversarial", "digits", loss, 0, metrics, "robust_acc"))
    frame = load_results(tmp_path).frame
    (view,) = benchmark_views(frame, group_tables(frame))
    plots = adversarial_plots(view)
    assert [p.name for p in plots] == ["robust-adversarial-digits-fgsm"]


def test_the_critical_difference_diagram_needs_two_benchmarks(tmp_path):
    """One benchmark: no diagram; two: a real image."""
    for loss, value in (("ce", 0.5), ("hem", 0.6), ("focal", 0.55)):
        write(tmp_path, f"a-{loss}", record("ood", "digits", loss, 0, {"auroc": value}, "auroc"))
    assert critical_difference_diagram(group_tables(load_results(tmp_path).frame)) == []
    for loss, value in (("ce", 0.7), ("hem", 0.9), ("focal", 0.8)):
        write(tmp_path, f"b-{loss}", record("classify", "digits", loss, 0, {"acc": value}, "acc"))
    (plot,) = critical_difference_diagram(group_tables(load_results(tmp_path).frame))
    check_png(plot.png, min_ink=0.01)
    assert plot.name == "critical-difference" and plot.benchmark == ""
