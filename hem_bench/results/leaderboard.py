"""The leaderboard: comparison tables from the runs of a results store.

The tables, from the frame of :func:`hem_bench.results.store.load_results`:

- one :class:`GroupTable` per benchmark, a *protocol* (every setting but the loss, its
  parameters and the seed: :mod:`hem_bench.results.protocols`): a row per loss variant,
  and the task's headline and key metrics (:func:`key_metrics`) as mean, standard
  deviation, number of seeds and the 95 % t-interval of the mean. Runs of different
  protocols are never averaged, ranked or tested together;
- the protocols found (:func:`hem_bench.results.protocols.protocol_table`);
- the overall table (:func:`overall_table`): each loss's mean headline on every main
  protocol, its rank there, and its mean rank over them -- the "generality" of a loss, the
  question of the HEM paper (Spratling & Schuett 2025, "A margin-based replacement for
  cross-entropy loss", arXiv:2501.12191): does one loss do well on every task? -- with its
  uncertainty from a bootstrap over benchmarks and seeds (:func:`rank_uncertainty`);
- paired comparisons against a baseline loss within each protocol
  (:mod:`hem_bench.results.paired`): per-seed differences of the headline, their mean (the
  effect size) and its 95 % t-interval, a paired t-test and a Wilcoxon signed-rank test
  (scipy.stats); the exploratory family of :mod:`hem_bench.results.family`;
- learning-rate sensitivity tables (:func:`lr_sensitivity`) where protocols differ only
  in the learning rate;
- analysis tables (:func:`analysis_tables`), where ``hem-bench analyze`` has written its
  results into the records: per benchmark, each loss's class separation R² and linear-probe
  transfer accuracy (Kornblith et al. 2021) beside its headline, as mean, std and n;
- the papers' claims re-tested (:mod:`hem_bench.results.claims`).

Formulas (computed here with numpy, pandas and scipy; none has a maintained library of its
own for these tables; the intervals, Holm's correction and the bootstrap are in
:mod:`hem_bench.results.stats`):

- mean and standard deviation over seeds: ``mean = sum(x_s) / n``,
  ``std = sqrt(sum((x_s - mean)^2) / (n - 1))`` (the sample standard deviation, pandas'
  default, ddof=1); undefined (NaN) for one seed.
- rank of a loss on a benchmark: 1 for the best mean headline (respecting
  ``higher_is_better``); tied losses share the average of the ranks they span (fractional
  ranking, ``scipy.stats.rankdata(method="average")``; e.g. values 0.9, 0.8, 0.8, 0.7
  higher-better rank 1, 2.5, 2.5, 4). The mean rank is the arithmetic mean of a loss's
  ranks over the benchmarks it was run on (Demsar 2006, "Statistical comparisons of
  classifiers over multiple data sets", JMLR 7, uses the same average ranks). A benchmark
  with a single loss ranks nothing.
- paired differences, their tests and the families: :mod:`hem_bench.results.paired` and
  :mod:`hem_bench.results.family`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from hem_bench.results.formats import (
    format_interval,
    format_mean_std,
    format_number,
    slug,
)
from hem_bench.results.paired import COLUMNS as PAIRED_COLUMNS  # noqa: F401 (re-exported)
from hem_bench.results.paired import paired_comparisons, paired_text
from hem_bench.results.protocols import (
    protocol_info,
    protocol_rows,
    protocols,
    with_protocols,
)
from hem_bench.results.sensitivity import Sensitivity, lr_sensitivity
from hem_bench.results.stats import rank_values


def key_metrics(task: str) -> tuple[str, ...]:
    """The key metrics of the task called ``task`` (its :class:`~hem_bench.tasks.Task`),
    shown after the headline where the runs have them; none for a task this installation
    does not have (records name their task)."""
    from hem_bench.tasks import find_task

    found = find_task(task)
    return found.key_metric_names if found is not None else ()


#: the metrics ``hem-bench analyze`` writes into records, shown in the analysis tables,
#: and their direction (class separation describes; it is not better higher or lower)
ANALYSIS_METRICS = ("analysis/class_separation", "analysis/transfer_acc")
ANALYSIS_DIRECTIONS = {"analysis/class_separation": None, "analysis/transfer_acc": True}


def metric_directions(task: str, metrics: list[str]) -> dict[str, bool | None]:
    """Whether higher is better for each of ``metrics`` of ``task``'s records, as the task
    declares it (its :class:`~hem_bench.tasks.Metric` objects), and for the analysis
    metrics; ``None`` for a descriptive metric or one the task does not describe (a task
    this installation does not have)."""
    from hem_bench.tasks import find_task

    found = find_task(task)
    out = {}
    for metric in metrics:
        if metric in ANALYSIS_DIRECTIONS:
            out[metric] = ANALYSIS_DIRECTIONS[metric]
        else:
            out[metric] = found.direction(metric) if found is not None else None
    return out


#: what the analysis tables show (Markdown and HTML)
ANALYSIS_NOTE = (
    "From `hem-bench analyze` (Kornblith et al. 2021): analysis/class_separation is R² = 1 - "
    "(mean within-class cosine distance) / (mean overall cosine distance) of the penultimate "
    "features on the test set; analysis/transfer_acc is the accuracy of a linear probe on "
    "those frozen features for held-out classes. Sorted by class separation; only analysed "
    "runs count."
)


def _mode(values: pd.Series) -> Any:
    """The most common value (the first one seen among equals)."""
    counts = values.value_counts(sort=True)
    return counts.index[0]


@dataclass
class GroupTable:
    """The table of one benchmark (task, dataset, model): losses x metrics.

    A benchmark is one protocol: its runs differ only in loss, loss parameters and seed.
    ``stats`` has one row per loss variant (index ``loss``: the variant's label, e.g.
    ``ce(head=cosine)`` in a protocol that is not the main one) and, for every metric in
    ``metrics`` (the headline first), the columns ``<metric> mean``, ``<metric> std``,
    ``<metric> n``, and ``<metric> ci low`` / ``<metric> ci high`` (the 95 % t-interval of
    the mean over seeds). ``seeds`` is the number of runs of each loss.
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
    #: the protocol's label (:mod:`hem_bench.results.protocols`); equal to ``label`` for
    #: a benchmark table
    protocol: str = ""
    #: whether the protocol is the main one of its (task, dataset): only main protocols
    #: enter the generality ranking
    main: bool = True
    #: the protocol's settings (model, head, epochs, lr, task options, ...)
    settings: dict[str, Any] = field(default_factory=dict)
    #: per metric, whether higher is better (None: descriptive or not described), from the
    #: task's :class:`~hem_bench.tasks.Metric` objects (:func:`metric_directions`)
    directions: dict[str, bool | None] = field(default_factory=dict)

    def direction(self, metric: str) -> bool | None:
        """Whether higher is better for ``metric`` in this table (None: no direction)."""
        if metric == self.headline and self.directional:
            return self.higher_is_better
        return self.directions.get(metric)

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
                if metric == self.metrics[0]:
                    row["95% CI"] = format_interval(
                        self.stats.at[loss, f"{metric} ci low"],
                        self.stats.at[loss, f"{metric} ci high"],
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


def metrics_of(task: str, headline: str, rows: pd.DataFrame) -> list[str]:
    """The headline, then the task's key metrics that the runs have (an unknown task: the
    headline only)."""
    out = [headline]
    for metric in key_metrics(task):
        if metric != headline and metric in rows.columns and rows[metric].notna().any():
            out.append(metric)
    return out


def _metric_values(rows: pd.DataFrame, metric: str, headline: str) -> pd.Series:
    """The values of ``metric``; for the headline, the record's headline value."""
    return rows["headline_value"] if metric == headline else rows[metric]


def group_tables(frame: pd.DataFrame) -> list[GroupTable]:
    """One :class:`GroupTable` per benchmark (protocol); losses sorted best first by mean
    headline."""
    frame = with_protocols(frame)
    return [_protocol_table(protocol_rows(frame, p), p) for p in protocols(frame)]


def _protocol_table(rows: pd.DataFrame, protocol: str, analysis: bool = False) -> GroupTable:
    """The table of one protocol's runs: the headline and the task's key metrics, losses
    sorted best first by mean headline; with ``analysis``, the analysis metrics then the
    headline, sorted by class separation (largest first)."""
    task, dataset, model, main, settings = protocol_info(rows)
    headline = str(_mode(rows["headline"]))
    higher = bool(_mode(rows["higher_is_better"]))
    if analysis:
        metrics = [m for m in ANALYSIS_METRICS if m in rows and rows[m].notna().any()]
        metrics.append(headline)
        sort_by, ascending = ANALYSIS_METRICS[0], False
    else:
        metrics = metrics_of(task, headline, rows)
        sort_by, ascending = headline, not higher
    table, seeds = _loss_stats(rows, metrics, headline)
    directions = metric_directions(task, metrics)
    directions[headline] = higher  # the records' own statement of their headline
    order = table[f"{sort_by} mean"].sort_values(ascending=ascending, na_position="last")
    table = table.loc[order.index]
    prefix = "analysis: " if analysis else ""
    return GroupTable(
        task=task,
        dataset=dataset,
        model=model,
        name=slug(prefix.replace(": ", "-") + protocol.replace("/", "-")),
        label=prefix + protocol,
        headline=headline,
        higher_is_better=higher,
        metrics=metrics,
        stats=table,
        seeds=seeds.loc[table.index],
        directional=not analysis,
        protocol=protocol,
        main=main,
        settings=settings,
        directions=directions,
    )


def _loss_stats(
    rows: pd.DataFrame, metrics: list[str], headline: str
) -> tuple[pd.DataFrame, pd.Series]:
    """Mean, sample std and n of each metric per loss (index ``loss``), and the number of
    seeds of each loss."""
    from hem_bench.results.stats import t_interval

    stats: dict[str, dict[str, float]] = {}
    column = "variant" if "variant" in rows.columns else "loss"
    seeds = rows.groupby(column, sort=True)["seed"].nunique()
    seeds.index.name = "loss"
    for loss, runs in rows.groupby(column, sort=True):
        entry = {}
        for metric in metrics:
            values = _metric_values(runs, metric, headline).dropna().to_numpy(float)
            entry[f"{metric} mean"] = float(values.mean()) if len(values) else math.nan
            entry[f"{metric} std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            entry[f"{metric} n"] = len(values)
            entry[f"{metric} ci low"], entry[f"{metric} ci high"] = t_interval(values)
        stats[loss] = entry
    table = pd.DataFrame.from_dict(stats, orient="index")
    table.index.name = "loss"
    return table, seeds


def analysis_tables(frame: pd.DataFrame) -> list[GroupTable]:
    """One table per benchmark whose runs carry ``hem-bench analyze`` results: class
    separation R², transfer accuracy (where measured) and the headline, per loss, sorted by
    class separation (the study's finding: more separation, better accuracy, worse
    transfer). Only the runs that were analysed count."""
    frame = with_protocols(frame)
    if ANALYSIS_METRICS[0] not in frame.columns:
        return []
    analysed = frame[frame[ANALYSIS_METRICS[0]].notna()]
    return [
        _protocol_table(protocol_rows(analysed, p), p, analysis=True) for p in protocols(analysed)
    ]


def ranked_tables(tables: list[GroupTable]) -> list[GroupTable]:
    """The tables of the generality ranking: the main protocol of each (task, dataset)."""
    return [t for t in tables if t.main]


def overall_table(tables: list[GroupTable]) -> pd.DataFrame:
    """Loss x benchmark: mean headline (``<benchmark> <headline>``), rank
    (``<benchmark> rank``), then ``mean rank`` over the benchmarks a loss was run on and
    ``benchmarks`` (how many). Sorted by mean rank, then by more benchmarks, then name.

    Only the main protocol of each (task, dataset) enters (:func:`ranked_tables`): the
    other protocols have their own tables and are never ranked with it. A benchmark with
    a single loss ranks nothing (its rank is left empty)."""
    tables = ranked_tables(tables)
    losses = sorted({loss for t in tables for loss in t.losses()})
    out = pd.DataFrame(index=pd.Index(losses, name="loss"))
    rank_columns = []
    for table in tables:
        means = table.stats[f"{table.headline} mean"].reindex(losses)
        out[f"{table.label} {table.headline}"] = means
        ranks = rank_values(means, table.higher_is_better)
        if means.notna().sum() < 2:
            ranks[:] = math.nan
        out[f"{table.label} rank"] = ranks
        rank_columns.append(f"{table.label} rank")
    ranks = out[rank_columns] if rank_columns else pd.DataFrame(index=out.index)
    out["mean rank"] = ranks.mean(axis=1, skipna=True) if rank_columns else math.nan
    out["benchmarks"] = ranks.notna().sum(axis=1).astype(int)
    out = out.reset_index()
    out = out.sort_values(
        ["mean rank", "benchmarks", "loss"], ascending=[True, False, True], na_position="last"
    )
    return out.reset_index(drop=True)


def rank_uncertainty(frame: pd.DataFrame, tables: list[GroupTable]) -> pd.DataFrame:
    """The generality ranking with its uncertainty: per loss of the overall table, its
    mean rank, the 95 % percentile interval of the mean rank and the probability of
    ranking first, from a seeded bootstrap that redraws the ranked benchmarks and, within
    each, its seeds (:func:`hem_bench.results.stats.bootstrap_mean_ranks`). Sorted by mean
    rank."""
    frame = with_protocols(frame)
    from hem_bench.results.stats import BOOTSTRAP_REPLICATES, bootstrap_mean_ranks

    columns = ["loss", "mean rank", "rank ci low", "rank ci high", "p(first)", "benchmarks"]
    overall = overall_table(tables)
    if not len(overall):
        return pd.DataFrame(columns=columns)
    losses = list(overall["loss"])
    benches = []
    for table in ranked_tables(tables):
        if len(table.losses()) < 2:
            continue
        rows = protocol_rows(frame, table.protocol).dropna(subset=["headline_value"])
        values = rows.pivot_table(
            index="seed", columns="loss", values="headline_value", aggfunc="first"
        ).reindex(columns=losses)
        benches.append((values.to_numpy(float), table.higher_is_better))
    out = overall[["loss", "mean rank", "benchmarks"]].copy()
    if benches:
        boot = bootstrap_mean_ranks(benches, replicates=BOOTSTRAP_REPLICATES)
        out["rank ci low"], out["rank ci high"] = boot["low"], boot["high"]
        out["p(first)"] = boot["p_first"]
    else:
        out["rank ci low"] = out["rank ci high"] = out["p(first)"] = math.nan
    return out[columns].reset_index(drop=True)


@dataclass
class Leaderboard:
    """All tables of one results store.

    ``tables`` holds one table per benchmark (protocol), main protocols first within a
    (task, dataset); ``overall`` the generality ranking over the main protocols, with the
    bootstrap's ``mean rank CI low`` / ``mean rank CI high`` and ``p(first)`` columns
    (:func:`rank_uncertainty`) after ``benchmarks``;
    ``paired`` the comparisons with the baseline within every protocol, Holm-corrected
    over all of them (``family`` tests)."""

    tables: list[GroupTable]
    overall: pd.DataFrame
    paired: pd.DataFrame
    baseline: str
    losses: list[str] = field(default_factory=list)
    #: the analysis tables (:func:`analysis_tables`); empty when no run was analysed
    analysis: list[GroupTable] = field(default_factory=list)
    #: every protocol found (:func:`hem_bench.results.protocols.protocol_table`): label,
    #: task, dataset, main, the settings that distinguish it, those that depart from the
    #: recipe, and how many losses, seeds and runs it holds
    protocols: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the generality ranking with its bootstrap uncertainty (:func:`rank_uncertainty`):
    #: loss, mean rank, rank ci low/high (95 %), p(first), benchmarks
    ranks: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the learning-rate sensitivity tables (:func:`lr_sensitivity`); empty when no two
    #: protocols differ only in the learning rate
    sensitivity: list[Sensitivity] = field(default_factory=list)
    #: how many comparisons of ``paired`` the exploratory family's Holm correction covers
    family: int = 0
    #: the papers' claims re-tested (:func:`hem_bench.results.claims.claims`): the table,
    #: every part behind it and the size of the claims' (confirmatory) family
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)
    claim_parts: list = field(default_factory=list)
    claims_family: int = 0
    #: the runs the tables were made from (the store's frame, with its protocols)
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)

    def overall_display(self) -> pd.DataFrame:
        """The overall table as text: numbers rounded, missing entries ``–``."""
        out = self.overall.copy()
        for column in out.columns:
            if column in ("loss", "benchmarks"):
                continue
            if column.endswith("rank") or column in RANK_UNCERTAINTY.values():
                out[column] = ["–" if pd.isna(v) else f"{v:.2f}" for v in out[column]]
            else:
                out[column] = [format_number(v) for v in out[column]]
        ranked = len(ranked_tables(self.tables))
        out["benchmarks"] = [f"{n}/{ranked}" for n in out["benchmarks"]]
        return out

    def paired_display(self) -> pd.DataFrame:
        """The paired comparisons as text (:func:`hem_bench.results.paired.paired_text`)."""
        return paired_text(self.paired)

    def ranks_display(self) -> pd.DataFrame:
        """The generality ranking as text: mean rank, its 95 % bootstrap interval and the
        probability of ranking first."""
        out = pd.DataFrame({"loss": self.ranks["loss"]})
        out["mean rank"] = ["–" if pd.isna(v) else f"{v:.2f}" for v in self.ranks["mean rank"]]
        out["95% interval"] = [
            "–" if pd.isna(lo) else f"[{lo:.2f}, {hi:.2f}]"
            for lo, hi in zip(self.ranks["rank ci low"], self.ranks["rank ci high"])
        ]
        out["p(first)"] = ["–" if pd.isna(v) else f"{v:.2f}" for v in self.ranks["p(first)"]]
        out["benchmarks"] = [f"{int(n)}" for n in self.ranks["benchmarks"]]
        return out

    def protocols_display(self) -> pd.DataFrame:
        """The protocols found, as text."""
        if not len(self.protocols):
            return pd.DataFrame()
        out = self.protocols.drop(columns=["settings", "task", "dataset"]).copy()
        out["main"] = ["yes" if v else "no" for v in out["main"]]
        return out

    def paired_numeric(self) -> pd.DataFrame:
        """The paired comparisons for CSV: lists joined with ``;``."""
        out = self.paired.copy()
        out["seeds"] = [";".join(str(s) for s in v) for v in out["seeds"]]
        out["differences"] = [";".join(repr(x) for x in v) for v in out["differences"]]
        return out


def build(frame: pd.DataFrame, baseline: str = "ce", baseline_required: bool = True) -> Leaderboard:
    """Every table of the leaderboard from the frame of a results store: the claims are
    decided first (the confirmatory family), then the paired comparisons (the exploratory
    one, which shows the claims' verdicts for the comparisons that are claims)."""
    frame = with_protocols(frame)
    from hem_bench.results.claims import claims
    from hem_bench.results.protocols import protocol_table

    tables = group_tables(frame)
    board = Leaderboard(
        tables=tables,
        overall=overall_table(tables),
        paired=pd.DataFrame(columns=PAIRED_COLUMNS),
        baseline=baseline,
        losses=sorted(frame["loss"].unique()),
        analysis=analysis_tables(frame),
        protocols=protocol_table(frame),
        ranks=rank_uncertainty(frame, tables),
        sensitivity=lr_sensitivity(tables, frame),
        frame=frame,
    )
    decided = claims(frame, board)
    board.claims, board.claim_parts = decided.table, decided.parts
    board.claims_family = decided.family
    board.claims.attrs["family"] = decided.family
    board.paired = paired_comparisons(
        frame, baseline, required=baseline_required, claims=decided.parts
    )
    board.family = int(board.paired.attrs.get("family", 0))
    if len(board.overall) and len(board.ranks):
        extra = board.ranks.set_index("loss")
        for column, title in RANK_UNCERTAINTY.items():
            board.overall[title] = board.overall["loss"].map(extra[column]).to_numpy(float)
    return board


#: the bootstrap columns of :func:`rank_uncertainty` added to the overall table, by title
RANK_UNCERTAINTY = {
    "rank ci low": "mean rank CI low",
    "rank ci high": "mean rank CI high",
    "p(first)": "p(first)",
}
