"""``ood``: unknown-class rejection (open-set recognition) and out-of-distribution detection.

Protocol (Vaze et al. 2022): train on the known classes of an open-set split (6 of 10 for
the digits and CIFAR-10, drawn per seed); score the test images of the known classes
against each OOD set — the test images of the unknown classes first, then Gaussian and
uniform noise (Hendrycks & Gimpel 2017) and any data sets given with
``--task-option ood_sets=...`` (converted to the in-distribution image shape), all
served by the task's DataModule (:class:`~hem_bench.datamodules.ood.OODDataModule`).

Detectors, all from pytorch-ood and all post hoc (none changes the model): MSP (maximum
softmax probability, Hendrycks & Gimpel 2017), MaxLogit (Hendrycks et al. 2022), Energy
(Liu et al. 2020), Mahalanobis (Lee et al. 2018; class means and shared covariance of the
training features) and ViM (Wang et al. 2022; principal subspace of the training features).

Metrics per detector and OOD set: ``<detector>/<set>/auroc``, ``fpr95``, ``aupr_in``,
``aupr_out`` (see :mod:`hem_bench.metrics.ood` for the conventions). The headline
detector, MSP on the unknown classes, is also reported as ``auroc``, ``fpr95``,
``aupr_in``, ``aupr_out``; ``acc`` is the closed-set accuracy on the known classes.
The scores themselves are saved (``scores/ood_scores.npz`` in the run folder) so that
metrics and ROC curves can be recomputed.

In the leaderboard's report the task adds every detector on near OOD (the unknown classes
of the open-set split) and far OOD (noise and other data sets), as OpenOOD (Zhang et al.
2023) reports them (:func:`report_section`), and the ROC curve of MSP on the unknown
classes per loss (:func:`plots`).
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

from pydantic import ValidationInfo, field_validator

from hem_bench.errors import ConfigError
from hem_bench.recipes import MNIST_RECIPE, RECIPES, mnist_family
from hem_bench.tasks.options import split_list
from hem_bench.tasks.registry import (
    POINT_MARGIN,
    Metric,
    Task,
    TaskModule,
    TaskOptions,
    option,
    register_task,
)

DETECTORS = ("msp", "maxlogit", "energy", "mahalanobis", "vim")
#: the headline's detector and OOD set
HEADLINE = ("msp", "unknown")
#: the name of the saved scores (``scores/ood_scores.npz`` in the run folder)
SCORES = "ood_scores"


#: the most images of a noise OOD set: they are made and held in memory at once, so no more
#: than the test sets of MNIST or CIFAR hold (10,000)
NOISE_MAX = 10_000


class OODOptions(TaskOptions):
    known: int = option(
        0,
        "known classes (0: 6 of 10, else 60 %)",
        "0, or 2 to one fewer than the data set's classes",
        ge=0,
    )
    ood_sets: tuple[str, ...] = option(
        "",
        "extra OOD data sets (registered names, comma-separated), converted to the "
        "in-distribution image shape",
        "image classification data sets other than the training one",
    )
    noise_count: int = option(
        1000,
        "images in each noise OOD set",
        f"1 to {NOISE_MAX} (each set is held in memory, like a test set)",
    )

    @field_validator("ood_sets", mode="before")
    @classmethod
    def _sets(cls, value: Any) -> tuple[str, ...]:
        return split_list(value)

    @field_validator("noise_count")
    @classmethod
    def _noise(cls, value: int) -> int:
        if not 1 <= value <= NOISE_MAX:
            raise ConfigError(
                f"noise_count must be a number of images from 1 to {NOISE_MAX} (each noise set "
                f"is held in memory, like a test set); got {value}"
            )
        return value

    @field_validator("known")
    @classmethod
    def _known(cls, value: int, info: ValidationInfo) -> int:
        dataset = (info.context or {}).get("dataset")
        classes = getattr(dataset, "num_classes", 0)  # 0: decided by the data (image-folder)
        if value == 1 or (classes and value >= classes):
            upper = (
                f"{classes - 1} (the {dataset.name} data set has {classes} classes)"
                if (classes)
                else "one fewer than the data set's classes"
            )
            raise ConfigError(
                f"task option known={value}: an open-set split needs 2 to {upper} known classes "
                "(a classifier of one class learns nothing), or 0 for the default"
            )
        return value


def make_datamodule(config):
    """The known classes of an open-set split drawn from the seed (Vaze et al. 2022), and
    the OOD sets (noise, ``ood_sets``), checked now and loaded with the data."""
    from hem_bench.datamodules.ood import OODDataModule

    options = config.options
    return OODDataModule.from_config(
        config,
        open_set_known=options.known,
        noise_count=options.noise_count,
        extra_ood_sets=list(options.ood_sets),
    )


class OODTask(TaskModule):
    """Closed-set accuracy, then every detector against every OOD set."""

    needs_features = True

    def setup(self, stage: str) -> None:
        # make (and so check) the OOD sets when training starts, not after it: a missing
        # ood_sets data set fails before the first epoch
        self.evaluation_sets()

    def evaluation_sets(self) -> dict:
        """The known classes' test set, then the DataModule's OOD sets."""
        return {"test": self.data.test_set, **self.data.ood_sets}

    def fit_detectors(self) -> dict:
        """Mahalanobis and ViM, fitted on the features of the (known-class) training set."""
        from pytorch_ood.detector import Mahalanobis, ViM

        features, _, labels = self.extract(self.data.train_set)
        mahalanobis = Mahalanobis(None).fit_features(features, labels)
        head_features, weight, bias = self.model.head.linear_form(features)
        dim = head_features.shape[1]
        # ViM's principal subspace: half the feature dimension for these small networks
        # (the paper uses 1000 of 2048 for ImageNet ResNet-50 features); d < D is required
        vim = ViM(None, d=max(1, dim // 2), w=weight.detach().cpu(), b=bias.detach().cpu())
        vim.fit_features(head_features, labels)
        return {"mahalanobis": mahalanobis, "vim": vim}

    def detector_scores(self, fitted: dict, out: dict) -> dict:
        """Outlier scores (higher = more likely OOD) of every detector."""
        from hem_bench.metrics.ood import logit_scores

        scores = logit_scores(out["logits"])
        scores["mahalanobis"] = fitted["mahalanobis"].predict_features(out["features"])
        head_features, _, _ = self.model.head.linear_form(out["features"])
        scores["vim"] = fitted["vim"].predict_features(head_features)
        return {name: s.detach().double().cpu() for name, s in scores.items()}

    def summarize(self) -> dict[str, float]:
        from hem_bench.metrics.classification import accuracy
        from hem_bench.metrics.ood import ood_metrics

        fitted = self.fit_detectors()
        test = self.gathered("test")
        results = {"acc": accuracy(test["logits"], test["labels"])}
        id_scores = self.detector_scores(fitted, test)
        saved = {f"{d}/test": s.numpy() for d, s in id_scores.items()}
        for set_name in self.set_names:
            if set_name == "test":
                continue
            ood_scores = self.detector_scores(fitted, self.gathered(set_name))
            for detector in DETECTORS:
                metrics = ood_metrics(id_scores[detector], ood_scores[detector])
                for key, value in metrics.items():
                    results[f"{detector}/{set_name}/{key}"] = value
                saved[f"{detector}/{set_name}"] = ood_scores[detector].numpy()
        for key in ("auroc", "fpr95", "aupr_in", "aupr_out"):
            results[key] = results[f"{HEADLINE[0]}/{HEADLINE[1]}/{key}"]
        self.artifacts[SCORES] = saved
        return results


def summary_extras(metrics) -> list[str]:
    """The other detectors' AUROC on the unknown classes (under the run summary's table)."""
    return [k for k in metrics if k.endswith("/unknown/auroc") and not k.startswith("msp/")]


# -- the report: near and far OOD per detector, ROC curves -----------------------------------

#: the near OOD sets (the unknown classes of the open-set split); every other set (noise,
#: other data sets) is far OOD, as OpenOOD (Zhang et al. 2023) groups them
NEAR_OOD_SETS = ("unknown",)
#: what the detector tables show: (metric, higher_is_better)
OOD_METRICS = (("auroc", True), ("fpr95", False))
OOD_KEY = re.compile(r"^([^/]+)/([^/]+)/([^/]+)$")


def ood_sets(rows, metric: str) -> tuple[list[str], dict[str, list[str]]]:
    """The detectors and, per detector, the OOD sets with ``<detector>/<set>/<metric>``."""
    found: dict[str, list[str]] = {}
    for column in rows.columns:
        match = OOD_KEY.match(str(column))
        if match and match.group(3) == metric and rows[column].notna().any():
            found.setdefault(match.group(1), []).append(match.group(2))
    return sorted(found), {d: sorted(s) for d, s in found.items()}


def _group_means(rows, columns) -> dict:
    """(mean, std, n) over seeds of each run's mean over a group's columns, per loss."""
    values = {}
    for loss, runs in rows.groupby("loss", sort=False):
        for detector, name, keys in columns:
            per_run = runs[keys].mean(axis=1, skipna=False).dropna().to_numpy(float)
            values[(loss, detector, name)] = (
                (
                    float(per_run.mean()),
                    float(per_run.std(ddof=1)) if len(per_run) > 1 else math.nan,
                    len(per_run),
                )
                if len(per_run)
                else (math.nan, math.nan, 0)
            )
    return values


def ood_table_html(view, metric: str, higher: bool, groups: list[tuple[str, list[str]]]) -> str:
    """Loss x (detector, group of OOD sets): the mean over seeds of each run's mean of
    ``metric`` over the group's sets; the best of each column in bold."""
    from hem_bench.results.html import Cell, Spanning, arrow, escape, loss_html, number, table_html

    rows, order = view.runs, view.losses
    detectors, sets = ood_sets(rows, metric)
    columns = []  # (detector, group name, [columns])
    for detector in detectors:
        for name, members in groups:
            keys = [f"{detector}/{s}/{metric}" for s in members if s in sets[detector]]
            if keys:
                columns.append((detector, name, keys))
    if not columns:
        return ""
    values = _group_means(rows, columns)
    top: list = [Cell("")]
    for detector in detectors:
        span = sum(1 for d, _, _ in columns if d == detector)
        if span:
            top.append(Spanning(escape(detector), title="detector", span=span))
    header: list = [f'loss <span class="rk">{escape(metric)} {arrow(higher)}</span>']
    for _detector, name, keys in columns:
        sets_named = ", ".join(k.split("/")[1] for k in keys)
        header.append(Cell(escape(name), "num", title=f"{metric} over: {sets_named}"))
    best = {}
    for detector, name, _ in columns:
        means = [
            values[(loss, detector, name)][0] for loss in order if (loss, detector, name) in values
        ]
        means = [m for m in means if not math.isnan(m)]
        if len(means) > 1:
            best[(detector, name)] = max(means) if higher else min(means)
    body = []
    for loss in order:
        if not any((loss, d, n) in values for d, n, _ in columns):
            continue
        row = [Cell(loss_html(loss, view.papers))]
        for detector, name, _ in columns:
            mean, std, n = values.get((loss, detector, name), (math.nan, math.nan, 0))
            css = "num best" if best.get((detector, name)) == mean else "num"
            row.append(Cell(escape(number(mean)), css, title=f"± {number(std)} over {n} seeds"))
        body.append(row)
    return table_html(header, body, header_rows=[top])


def report_section(view) -> str:
    """Every detector on near and far OOD (AUROC, FPR95), then per OOD set in a fold."""
    from hem_bench.results.html import escape

    _, sets = ood_sets(view.runs, "auroc")
    every = sorted({s for found in sets.values() for s in found})
    if not every:
        return ""
    near = [s for s in every if s in NEAR_OOD_SETS]
    far = [s for s in every if s not in NEAR_OOD_SETS]
    groups = [("near", near)] if near else []
    if far:
        groups.append(("far", far))
    parts = [
        f'<h3 id="{escape(f"ood-{view.name}")}">OOD detection per detector: near and far OOD</h3>',
        '<p class="note">Mean over seeds, as OpenOOD (Zhang et al. 2023) reports them: '
        f"<b>near</b> OOD is {escape(', '.join(near) or 'none')} (the unknown classes of the "
        f"open-set split: same data, unseen classes), <b>far</b> OOD is "
        f"{escape(', '.join(far) or 'none')} (noise and other data sets; a run's far value is "
        "its mean over these sets). Every detector is post hoc (MSP, MaxLogit, Energy, "
        "Mahalanobis, ViM; the headline is MSP on near OOD). Bold: the best loss for that "
        "detector and set.</p>",
    ]
    for metric, higher in OOD_METRICS:
        parts.append(ood_table_html(view, metric, higher, groups))
    per_set = [(s, [s]) for s in every]
    details = "".join(
        ood_table_html(view, metric, higher, per_set) for metric, higher in OOD_METRICS
    )
    parts.append(f"<details><summary>Every OOD set separately</summary>{details}</details>")
    return "".join(parts)


def read_scores(folder, detector: str = HEADLINE[0], ood_set: str = HEADLINE[1]):
    """In-distribution and OOD outlier scores of ``detector`` from a run folder's saved
    scores (a :class:`~hem_bench.run_folder.RunFolder`); ``None`` when the file or its keys
    are missing or unreadable."""
    import numpy as np

    path = folder.artifact(SCORES)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            key_in, key_out = f"{detector}__test", f"{detector}__{ood_set}"
            if key_in not in data.files or key_out not in data.files:
                return None
            return np.asarray(data[key_in], float), np.asarray(data[key_out], float)
    except (OSError, ValueError):
        return None


def plots(view) -> list:
    """The ROC curve (``sklearn.metrics.roc_curve``) of MSP on the unknown classes, one line
    per loss (its first seed with saved scores), OOD = the positive class."""
    import numpy as np
    from sklearn.metrics import auc, roc_curve

    from hem_bench.results.plotkit import Plot, new_figure, png, text

    curves = []
    for loss, runs in view.by_loss():
        for _, run in runs.sort_values("seed").iterrows():
            scores = read_scores(view.folder(run))
            if scores is not None:
                curves.append((loss, int(run["seed"]), scores))
                break
    if not curves:
        return []
    detector, ood_set = HEADLINE
    figure = new_figure(5.5, 5.0)
    axes = figure.add_subplot()
    for loss, seed, (inside, outside) in curves:
        labels = np.concatenate([np.zeros(len(inside)), np.ones(len(outside))])
        fpr, tpr, _ = roc_curve(labels, np.concatenate([inside, outside]))
        axes.plot(
            fpr,
            tpr,
            label=f"{text(loss)} (seed {seed}, AUROC {auc(fpr, tpr):.3f})",
            color=view.colours.get(loss),
        )
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    axes.set_xlabel("false positive rate (in-distribution flagged)")
    axes.set_ylabel("true positive rate (OOD detected)")
    axes.set_title(f"{text(view.label)}: ROC, {detector} on {ood_set}")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.legend(fontsize="small", loc="lower right")
    axes.grid(alpha=0.3)
    title = f"{view.label}: ROC of {detector} on {ood_set}"
    return [Plot(f"roc-{view.name}", title, view.label, "roc", png(figure))]


#: the MNIST family's recipe for this task (:data:`hem_bench.recipes.MNIST_RECIPE`)
MNIST = replace(
    MNIST_RECIPE,
    max_epochs=5,
    source=f"{MNIST_RECIPE.source}; 5 epochs of the 6 known classes (about 32,000 images: the "
    "cost of 3 epochs of all ten), for MSP AUROC >= 0.95 on the unknown classes of every "
    "split of seeds 0-4 (3 epochs with weight decay 5e-4: 0.93 on the hardest split)",
)


OOD = register_task(
    Task(
        name="ood",
        summary="unknown-class rejection (open set, Vaze et al. 2022) and OOD detection",
        kind="classification",
        default_dataset="digits",
        options=OODOptions,
        recipes={**RECIPES, **mnist_family(MNIST)},
        headline=Metric("auroc", margin=POINT_MARGIN),
        key_metrics=(
            Metric("auroc", margin=POINT_MARGIN),
            Metric("fpr95", False),
            Metric("aupr_in"),
            Metric("aupr_out"),
            Metric("acc"),
        ),
        metric_directions=(
            Metric("*/*/auroc"),
            Metric("*/*/fpr95", False),
            Metric("*/*/aupr_in"),
            Metric("*/*/aupr_out"),
        ),
        metrics="acc (closed set); auroc, fpr95, aupr_in, aupr_out per detector (msp, "
        "maxlogit, energy, mahalanobis, vim) and OOD set (unknown, gaussian, uniform, ...)",
        datamodule=make_datamodule,
        module=OODTask,
        summary_extras=summary_extras,
        report_section=report_section,
        plots=plots,
    )
)
