"""The leaderboard: comparison tables from the runs of a results store.

Three kinds of table, from the frame of :func:`hem_bench.results.store.load_results`:

- one :class:`GroupTable` per benchmark (task, dataset, model): a row per loss, and the
  task's headline and key metrics (:data:`KEY_METRICS`) as mean, standard deviation and
  number of seeds;
- the overall table (:func:`overall_table`): each loss's mean headline on every benchmark,
  its rank there, and its mean rank over the benchmarks -- the "generality" of a loss, the
  question of the HEM paper (Spratling & Schuett 2025, "A margin-based replacement for
  cross-entropy loss", arXiv:2501.12191): does one loss do well on every task?
- paired comparisons against a baseline loss (:func:`paired_comparisons`): per-seed
  differences of the headline, with a paired t-test and a Wilcoxon signed-rank test
  (scipy.stats);
- analysis tables (:func:`analysis_tables`), where ``hem-bench analyze`` has written its
  results into the records: per benchmark, each loss's class separation R² and linear-probe
  transfer accuracy (Kornblith et al. 2021) beside its headline, as mean, std and n.

Formulas (computed here with numpy, pandas and scipy; none has a maintained library of its
own for these tables):

- mean and standard deviation over seeds: ``mean = sum(x_s) / n``,
  ``std = sqrt(sum((x_s - mean)^2) / (n - 1))`` (the sample standard deviation, pandas'
  default, ddof=1); undefined (NaN) for one seed.
- rank of a loss on a benchmark: 1 for the best mean headline (respecting
  ``higher_is_better``); tied losses share the average of the ranks they span (fractional
  ranking, ``scipy.stats.rankdata(method="average")``; e.g. values 0.9, 0.8, 0.8, 0.7
  higher-better rank 1, 2.5, 2.5, 4). The mean rank is the arithmetic mean of a loss's
  ranks over the benchmarks it was run on (Demsar 2006, "Statistical comparisons of
  classifiers over multiple data sets", JMLR 7, uses the same average ranks).
- paired difference on seed s: ``d_s = x_s - b_s`` when higher is better and
  ``d_s = b_s - x_s`` when lower is better, so that a positive difference always means
  better than the baseline b. The paired t-test (Student 1908; ``scipy.stats.ttest_rel``)
  tests mean(d) = 0 with ``t = mean(d) / (std(d) / sqrt(n))`` and n - 1 degrees of freedom;
  the Wilcoxon signed-rank test (Wilcoxon 1945; ``scipy.stats.wilcoxon``) is reported from
  :data:`WILCOXON_MIN_PAIRS` pairs on, the fewest for which its exact two-sided p-value can
  fall below 0.05 (its smallest value is 2 / 2^n). Both are two-sided, uncorrected for
  multiple comparisons.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hem_bench.errors import ConfigError

#: the key metrics of each task, shown after the headline where the runs have them
KEY_METRICS: dict[str, tuple[str, ...]] = {
    "classify": ("acc", "nll", "ece", "brier", "corruption/mean_acc"),
    "ood": ("auroc", "fpr95", "aupr_in", "aupr_out", "acc"),
    "adversarial": ("acc", "robust_acc"),
    "imbalanced": (
        "balanced_acc",
        "acc",
        "macro_f1",
        "group/many/acc",
        "group/medium/acc",
        "group/few/acc",
    ),
    "continual": ("avg_acc", "bwt", "forgetting"),
    "segmentation": ("miou", "pixel_acc", "mean_class_acc", "dice"),
}

#: the metrics ``hem-bench analyze`` writes into records, shown in the analysis tables
ANALYSIS_METRICS = ("analysis/class_separation", "analysis/transfer_acc")

#: what the analysis tables show (Markdown and HTML)
ANALYSIS_NOTE = (
    "From `hem-bench analyze` (Kornblith et al. 2021): analysis/class_separation is R² = 1 - "
    "(mean within-class cosine distance) / (mean overall cosine distance) of the penultimate "
    "features on the test set; analysis/transfer_acc is the accuracy of a linear probe on "
    "those frozen features for held-out classes. Sorted by class separation; only analysed "
    "runs count."
)

#: fewest paired seeds for a paired test
MIN_PAIRS = 2
#: fewest paired seeds for the Wilcoxon signed-rank test (exact two-sided p >= 2 / 2^n)
WILCOXON_MIN_PAIRS = 6
#: significance level of the verdicts
ALPHA = 0.05
#: decimals shown in the tables
DECIMALS = 4


def slug(text: str) -> str:
    """``text`` made safe as a file name: runs of other characters become ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return cleaned or "_"


def _mode(values: pd.Series) -> Any:
    """The most common value (the first one seen among equals)."""
    counts = values.value_counts(sort=True)
    return counts.index[0]


@dataclass
class GroupTable:
    """The table of one benchmark (task, dataset, model): losses x metrics.

    ``stats`` has one row per loss (index ``loss``) and, for every metric in ``metrics``
    (the headline first), the columns ``<metric> mean``, ``<metric> std``, ``<metric> n``.
    ``seeds`` is the number of runs of each loss.
    """

    task: str
    dataset: str
    model: str
    name: str
    label: str
    headline: str
    higher_is_better: bool
    metrics: list[str]
    stats: pd.DataFrame
    seeds: pd.Series
    #: whether the first metric has a better direction (not so in the analysis tables)
    directional: bool = True

    def losses(self) -> list[str]:
        """The losses of the table, in table order."""
        return list(self.stats.index)

    def display(self) -> pd.DataFrame:
        """The table as text: ``n`` (seeds), then ``mean ± std`` for each metric."""
        rows = []
        for loss in self.stats.index:
            row = {"loss": loss, "n": int(self.seeds[loss])}
            for metric in self.metrics:
                row[self.column_name(metric)] = format_mean_std(
                    self.stats.at[loss, f"{metric} mean"],
                    self.stats.at[loss, f"{metric} std"],
                    int(self.stats.at[loss, f"{metric} n"]),
                    int(self.seeds[loss]),
                )
            rows.append(row)
        return pd.DataFrame(rows)

    def column_name(self, metric: str) -> str:
        """A metric's column title; the headline is marked with an arrow (↑ or ↓)."""
        if metric == self.headline and self.directional:
            return f"{metric} {'↑' if self.higher_is_better else '↓'}"
        return metric

    def numeric(self) -> pd.DataFrame:
        """The table as numbers (for CSV): loss, n, then mean, std and n of each metric."""
        out = self.stats.copy()
        out.insert(0, "n", self.seeds.astype(int))
        for metric in self.metrics:
            out[f"{metric} n"] = out[f"{metric} n"].astype(int)
        return out.reset_index()


def format_number(value: float) -> str:
    """A number with :data:`DECIMALS` decimals; ``–`` for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{DECIMALS}f}"


def format_mean_std(mean: float, std: float, n: int, seeds: int | None = None) -> str:
    """``mean ± std`` (the std left out for one seed); ``(n=k)`` appended when the metric
    has fewer values than the loss has seeds; ``–`` when there is no value."""
    if n == 0 or math.isnan(mean):
        return "–"
    text = format_number(mean)
    if n > 1 and not math.isnan(std):
        text += f" ± {format_number(std)}"
    if seeds is not None and n < seeds:
        text += f" (n={n})"
    return text


def benchmarks(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The (task, dataset, model) triples of the frame, sorted."""
    keys = frame[["task", "dataset", "model"]].drop_duplicates()
    return sorted(tuple(k) for k in keys.itertuples(index=False))


def benchmark_names(keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
    """A short label per benchmark: ``task/dataset``, with ``/model`` where one task and
    data set was run with several models."""
    models: dict[tuple[str, str], set[str]] = {}
    for task, dataset, model in keys:
        models.setdefault((task, dataset), set()).add(model)
    return {
        (t, d, m): f"{t}/{d}/{m}" if len(models[(t, d)]) > 1 else f"{t}/{d}" for t, d, m in keys
    }


def benchmark_rows(frame: pd.DataFrame, key: tuple[str, str, str]) -> pd.DataFrame:
    """The runs of one benchmark ``(task, dataset, model)``."""
    task, dataset, model = key
    return frame[
        (frame["task"] == task) & (frame["dataset"] == dataset) & (frame["model"] == model)
    ]


def metrics_of(task: str, headline: str, rows: pd.DataFrame) -> list[str]:
    """The headline, then the task's key metrics that the runs have (an unknown task: the
    headline only)."""
    out = [headline]
    for metric in KEY_METRICS.get(task, ()):
        if metric != headline and metric in rows.columns and rows[metric].notna().any():
            out.append(metric)
    return out


def _metric_values(rows: pd.DataFrame, metric: str, headline: str) -> pd.Series:
    """The values of ``metric``; for the headline, the record's headline value."""
    return rows["headline_value"] if metric == headline else rows[metric]


def group_tables(frame: pd.DataFrame) -> list[GroupTable]:
    """One :class:`GroupTable` per benchmark; losses sorted best first by mean headline."""
    keys = benchmarks(frame)
    labels = benchmark_names(keys)
    tables = []
    for key in keys:
        task, dataset, model = key
        rows = benchmark_rows(frame, key)
        headline = str(_mode(rows["headline"]))
        higher = bool(_mode(rows["higher_is_better"]))
        metrics = metrics_of(task, headline, rows)
        table, seeds = _loss_stats(rows, metrics, headline)
        order = table[f"{headline} mean"].sort_values(ascending=not higher, na_position="last")
        table = table.loc[order.index]
        label = labels[key]
        tables.append(
            GroupTable(
                task=task,
                dataset=dataset,
                model=model,
                name=slug(label.replace("/", "-")),
                label=label,
                headline=headline,
                higher_is_better=higher,
                metrics=metrics,
                stats=table,
                seeds=seeds.loc[table.index],
            )
        )
    return tables


def _loss_stats(
    rows: pd.DataFrame, metrics: list[str], headline: str
) -> tuple[pd.DataFrame, pd.Series]:
    """Mean, sample std and n of each metric per loss (index ``loss``), and the number of
    seeds of each loss."""
    stats: dict[str, dict[str, float]] = {}
    seeds = rows.groupby("loss", sort=True)["seed"].nunique()
    for loss, runs in rows.groupby("loss", sort=True):
        entry = {}
        for metric in metrics:
            values = _metric_values(runs, metric, headline).dropna().to_numpy(float)
            entry[f"{metric} mean"] = float(values.mean()) if len(values) else math.nan
            entry[f"{metric} std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            entry[f"{metric} n"] = len(values)
        stats[loss] = entry
    table = pd.DataFrame.from_dict(stats, orient="index")
    table.index.name = "loss"
    return table, seeds


def analysis_tables(frame: pd.DataFrame) -> list[GroupTable]:
    """One table per benchmark whose runs carry ``hem-bench analyze`` results: class
    separation R², transfer accuracy (where measured) and the headline, per loss, sorted by
    class separation (the study's finding: more separation, better accuracy, worse
    transfer). Only the runs that were analysed count."""
    if ANALYSIS_METRICS[0] not in frame.columns:
        return []
    analysed = frame[frame[ANALYSIS_METRICS[0]].notna()]
    labels = benchmark_names(benchmarks(frame))
    tables = []
    for key in benchmarks(analysed):
        task, dataset, model = key
        rows = benchmark_rows(analysed, key)
        headline = str(_mode(rows["headline"]))
        metrics = [m for m in ANALYSIS_METRICS if m in rows and rows[m].notna().any()]
        metrics.append(headline)
        table, seeds = _loss_stats(rows, metrics, headline)
        table = table.sort_values(f"{ANALYSIS_METRICS[0]} mean", ascending=False)
        label = labels[key]
        tables.append(
            GroupTable(
                task=task,
                dataset=dataset,
                model=model,
                name=slug("analysis-" + label.replace("/", "-")),
                label=f"analysis: {label}",
                headline=headline,
                higher_is_better=bool(_mode(rows["higher_is_better"])),
                metrics=metrics,
                stats=table,
                seeds=seeds.loc[table.index],
                directional=False,
            )
        )
    return tables


def rank_values(values: pd.Series, higher_is_better: bool) -> pd.Series:
    """Rank 1 = best; ties get the average of the ranks they span (fractional ranking,
    ``scipy.stats.rankdata(method="average")``); NaN values get no rank."""
    from scipy.stats import rankdata

    ranks = pd.Series(math.nan, index=values.index, dtype=float)
    present = values.dropna()
    if len(present):
        keys = -present.to_numpy(float) if higher_is_better else present.to_numpy(float)
        ranks.loc[present.index] = rankdata(keys, method="average")
    return ranks


def overall_table(tables: list[GroupTable]) -> pd.DataFrame:
    """Loss x benchmark: mean headline (``<benchmark> <headline>``), rank
    (``<benchmark> rank``), then ``mean rank`` over the benchmarks a loss was run on and
    ``benchmarks`` (how many). Sorted by mean rank, then by more benchmarks, then name."""
    losses = sorted({loss for t in tables for loss in t.losses()})
    out = pd.DataFrame(index=pd.Index(losses, name="loss"))
    rank_columns = []
    for table in tables:
        means = table.stats[f"{table.headline} mean"].reindex(losses)
        out[f"{table.label} {table.headline}"] = means
        out[f"{table.label} rank"] = rank_values(means, table.higher_is_better)
        rank_columns.append(f"{table.label} rank")
    ranks = out[rank_columns]
    out["mean rank"] = ranks.mean(axis=1, skipna=True)
    out["benchmarks"] = ranks.notna().sum(axis=1).astype(int)
    out = out.reset_index()
    out = out.sort_values(
        ["mean rank", "benchmarks", "loss"], ascending=[True, False, True], na_position="last"
    )
    return out.reset_index(drop=True)


def paired_test(differences: np.ndarray) -> dict[str, float]:
    """Two-sided tests that the mean (t-test) or median (Wilcoxon) of the paired
    differences is zero; NaN where a test is not defined (fewer than :data:`MIN_PAIRS`
    pairs, constant differences, fewer than :data:`WILCOXON_MIN_PAIRS` for Wilcoxon).

    ``scipy.stats.ttest_1samp(d, 0)`` is the paired t-test ``ttest_rel(x, b)`` of
    ``d = x - b`` (the same statistic and p-value).
    """
    from scipy import stats

    out = {"t": math.nan, "t_pvalue": math.nan, "w": math.nan, "w_pvalue": math.nan}
    d = np.asarray(differences, dtype=float)
    if len(d) < MIN_PAIRS or np.all(d == d[0]):
        return out
    result = stats.ttest_1samp(d, 0.0)
    out["t"], out["t_pvalue"] = float(result.statistic), float(result.pvalue)
    if len(d) >= WILCOXON_MIN_PAIRS and np.any(d != 0):
        try:
            result = stats.wilcoxon(d)
            out["w"], out["w_pvalue"] = float(result.statistic), float(result.pvalue)
        except ValueError:  # pragma: no cover - scipy refuses some degenerate inputs
            pass
    return out


def verdict(n: int, mean: float, pvalue: float) -> str:
    """A few words on one comparison: too few seeds, better/worse (p < :data:`ALPHA`), or
    no significant difference."""
    if n < MIN_PAIRS:
        return f"too few seeds (n={n}; a test needs {MIN_PAIRS})"
    if math.isnan(pvalue):
        return "no test (the differences are all equal)"
    if pvalue < ALPHA:
        return f"{'better' if mean > 0 else 'worse'} (p < {ALPHA})"
    return "no significant difference"


def paired_comparisons(
    frame: pd.DataFrame, baseline: str = "ce", required: bool = True
) -> pd.DataFrame:
    """Each loss against ``baseline`` on every benchmark where both ran: the seeds both
    have, the signed per-seed differences (positive = better than the baseline), their
    mean and standard deviation, the paired t-test and Wilcoxon p-values and a verdict.

    When the baseline has no runs at all: :class:`ConfigError` if ``required`` (the user
    named it), else a warning and no comparisons (the default baseline was not run).
    """
    losses = sorted(frame["loss"].unique())
    if baseline not in losses:
        message = (
            f"baseline loss {baseline!r} has no records; losses with records: {', '.join(losses)}"
        )
        if required:
            raise ConfigError(message)
        warnings.warn(
            f"{message}; no paired comparisons (choose one with --baseline)", stacklevel=2
        )
        keys = []
    else:
        keys = benchmarks(frame)
    labels = benchmark_names(keys)
    rows = []
    for key in keys:
        task, dataset, model = key
        runs = benchmark_rows(frame, key)
        higher = bool(_mode(runs["higher_is_better"]))
        headline = str(_mode(runs["headline"]))
        values = runs.dropna(subset=["headline_value"]).pivot_table(
            index="seed", columns="loss", values="headline_value", aggfunc="first"
        )
        if baseline not in values.columns:
            continue
        sign = 1.0 if higher else -1.0
        for loss in sorted(c for c in values.columns if c != baseline):
            pair = values[[loss, baseline]].dropna()
            d = sign * (pair[loss].to_numpy(float) - pair[baseline].to_numpy(float))
            tests = paired_test(d)
            mean = float(d.mean()) if len(d) else math.nan
            rows.append(
                {
                    "benchmark": labels[key],
                    "task": task,
                    "dataset": dataset,
                    "model": model,
                    "loss": loss,
                    "baseline": baseline,
                    "headline": headline,
                    "higher_is_better": higher,
                    "n": len(d),
                    "seeds": [int(s) for s in pair.index],
                    "differences": [float(x) for x in d],
                    "mean diff": mean,
                    "std diff": float(d.std(ddof=1)) if len(d) > 1 else math.nan,
                    "t": tests["t"],
                    "t-test p": tests["t_pvalue"],
                    "wilcoxon": tests["w"],
                    "wilcoxon p": tests["w_pvalue"],
                    "verdict": verdict(len(d), mean, tests["t_pvalue"]),
                }
            )
    columns = [
        "benchmark",
        "task",
        "dataset",
        "model",
        "loss",
        "baseline",
        "headline",
        "higher_is_better",
        "n",
        "seeds",
        "differences",
        "mean diff",
        "std diff",
        "t",
        "t-test p",
        "wilcoxon",
        "wilcoxon p",
        "verdict",
    ]
    return pd.DataFrame(rows, columns=columns)


@dataclass
class Leaderboard:
    """All tables of one results store."""

    tables: list[GroupTable]
    overall: pd.DataFrame
    paired: pd.DataFrame
    baseline: str
    losses: list[str] = field(default_factory=list)
    #: the analysis tables (:func:`analysis_tables`); empty when no run was analysed
    analysis: list[GroupTable] = field(default_factory=list)

    def overall_display(self) -> pd.DataFrame:
        """The overall table as text: numbers rounded, missing entries ``–``."""
        out = self.overall.copy()
        for column in out.columns:
            if column in ("loss", "benchmarks"):
                continue
            if column.endswith("rank"):
                out[column] = ["–" if pd.isna(v) else f"{v:.2f}" for v in out[column]]
            else:
                out[column] = [format_number(v) for v in out[column]]
        out["benchmarks"] = [f"{n}/{len(self.tables)}" for n in out["benchmarks"]]
        return out

    def paired_display(self) -> pd.DataFrame:
        """The paired comparisons as text: differences signed, p-values in 3 significant
        digits."""
        out = pd.DataFrame(
            {
                "benchmark": self.paired["benchmark"],
                "loss": self.paired["loss"],
                "baseline": self.paired["baseline"],
                "headline": [
                    f"{h} {'↑' if hib else '↓'}"
                    for h, hib in zip(self.paired["headline"], self.paired["higher_is_better"])
                ],
                "n": self.paired["n"].astype(int),
                "per-seed diff": [
                    ", ".join(f"{s}: {x:+.{DECIMALS}f}" for s, x in zip(seeds, diffs))
                    for seeds, diffs in zip(self.paired["seeds"], self.paired["differences"])
                ],
                "mean diff": [
                    "–" if pd.isna(v) else f"{v:+.{DECIMALS}f}" for v in self.paired["mean diff"]
                ],
                "t-test p": [_p(v) for v in self.paired["t-test p"]],
                "wilcoxon p": [_p(v) for v in self.paired["wilcoxon p"]],
                "verdict": self.paired["verdict"],
            }
        )
        return out

    def paired_numeric(self) -> pd.DataFrame:
        """The paired comparisons for CSV: lists joined with ``;``."""
        out = self.paired.copy()
        out["seeds"] = [";".join(str(s) for s in v) for v in out["seeds"]]
        out["differences"] = [";".join(repr(x) for x in v) for v in out["differences"]]
        return out


def _p(value: float) -> str:
    """A p-value in 3 significant digits; ``–`` where no test was made."""
    return "–" if pd.isna(value) else f"{value:.3g}"


def build(frame: pd.DataFrame, baseline: str = "ce", baseline_required: bool = True) -> Leaderboard:
    """Every table of the leaderboard from the frame of a results store."""
    tables = group_tables(frame)
    return Leaderboard(
        tables=tables,
        overall=overall_table(tables),
        paired=paired_comparisons(frame, baseline, required=baseline_required),
        baseline=baseline,
        losses=sorted(frame["loss"].unique()),
        analysis=analysis_tables(frame),
    )


def markdown_text(value: Any) -> str:
    """``value`` as Markdown text that is read as nothing else: ``<``, ``>``, ``&`` written
    as entities (no HTML), ``|`` escaped (no table cell break), newlines as spaces; NaN as
    ``–``."""
    import html

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = html.escape(str(value), quote=False).replace("|", "\\|")
    return text.replace("\r", " ").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame``, every cell through
    :func:`markdown_text`."""
    cell = markdown_text
    columns = [cell(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def text_table(frame: pd.DataFrame) -> str:
    """``frame`` as plain fixed-width text for the terminal (no markup is interpreted)."""

    def cell(value: Any) -> str:
        """One cell as printable text: control characters (terminal escapes) become ``?``."""
        return "".join(c if c.isprintable() else "?" for c in str(value))

    cells = [[cell(c) for c in frame.columns]] + [
        [cell(v) for v in row] for row in frame.itertuples(index=False)
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _json_value(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(value, (float, np.floating)):  # JSON has no NaN or infinity
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-ready dicts (NaN and infinities -> None)."""
    return [
        {str(k): _json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]


def summary(board: Leaderboard) -> dict[str, Any]:
    """The leaderboard as JSON-ready data: the overall table, every benchmark table (mean,
    std and n of each metric per loss) and the paired comparisons."""
    return {
        "baseline": board.baseline,
        "losses": board.losses,
        "overall": records_of(board.overall),
        "tables": [_table_summary(table) for table in board.tables],
        "paired": records_of(board.paired),
        "analysis": [_table_summary(table) for table in board.analysis],
    }


def _table_summary(table: GroupTable) -> dict[str, Any]:
    """One table as JSON-ready data: mean, std and n of each metric per loss."""
    rows = []
    for loss in table.stats.index:
        rows.append(
            {
                "loss": loss,
                "n": int(table.seeds[loss]),
                "metrics": {
                    m: {
                        "mean": _json_value(table.stats.at[loss, f"{m} mean"]),
                        "std": _json_value(table.stats.at[loss, f"{m} std"]),
                        "n": int(table.stats.at[loss, f"{m} n"]),
                    }
                    for m in table.metrics
                },
            }
        )
    return {
        "name": table.name,
        "benchmark": table.label,
        "task": table.task,
        "dataset": table.dataset,
        "model": table.model,
        "headline": table.headline,
        "higher_is_better": table.higher_is_better,
        "metrics": table.metrics,
        "rows": rows,
    }
