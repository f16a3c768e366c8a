"""Protocols: which runs of a results store may be compared with each other.

A *protocol* is everything a run was trained and evaluated with except the loss, the loss's
parameters and the seed: the task, the data set, the model, the head, dropout, the training
recipe (epochs, batch size, learning rate, weight decay, momentum, augmentation), the
precision and the task's options. Runs of different protocols are never averaged, ranked
or tested against each other: a benchmark of the leaderboard is one protocol.

Which settings are part of a protocol is declared once, on the configuration model
(``protocol=`` in :func:`hem_bench.settings.setting`): not the settings that do not change
what is computed (where files go, the data folder, whether to download, progress bars,
plugin files, devices, the evaluation batch size), nor how the same network is executed
(threads, compilation, memory format: their runs are repeats of one experiment), nor the
recipe's description text.

Within one (task, data set), several protocols are told apart by the settings in which they
differ. One of them is the *main* protocol of the (task, data set): the one that uses the
task's recipe (its :class:`~hem_bench.tasks.Task`) and the run defaults in the settings where the
protocols differ, or when none or several do, the one with the most losses, then the most
runs, then the first in sorted order. The main protocol keeps the plain label
``task/dataset``; another one is labelled by how it differs from the main one,
``classify/digits (head=cosine)``, and so are the loss variants run under it,
``ce(head=cosine)`` (the same labels ``hem-bench analyze`` gives). The generality ranking
of the leaderboard uses the main protocols only.

Nothing here is statistics; the grouping is plain Python over the records' ``config``.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd


def _protocol_keys(config_class=None) -> tuple[set[str], set[str], dict[str, Any]]:
    """The settings of the (resolved) configuration model, those of them in the protocol
    (declared with ``protocol=True``: :mod:`hem_bench.settings`), and the run defaults of the
    protocol settings no recipe supplies. A record's setting the model does not know (a
    newer version's, a subclass's) counts in the protocol."""
    from hem_bench.config import RunConfig
    from hem_bench.settings import protocol_fields, run_defaults

    model = (config_class or RunConfig).resolved_class()
    return set(model.model_fields), set(protocol_fields(model)), run_defaults(model)


def protocol_settings(record: dict[str, Any], config_class=None) -> dict[str, Any]:
    """The protocol settings of one record, flat: the configuration's fields that define
    the experiment, with the task options inlined (a task option named like a run setting
    is prefixed ``option.``). The record's ``model`` field is always one of them.
    ``config_class``: the configuration model the record was made with (default
    :class:`~hem_bench.config.RunConfig`)."""
    known, keys, _ = _protocol_keys(config_class)
    config = record.get("config")
    config = dict(config) if isinstance(config, dict) else {}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if key not in keys and key in known:
            continue
        if key == "task_options":
            continue
        flat[str(key)] = value
    options = config.get("task_options")
    if isinstance(options, dict):
        for key, value in options.items():
            flat[f"option.{key}" if key in flat else str(key)] = value
    flat["model"] = str(record.get("model") or config.get("model") or "")
    return flat


def settings_text(settings: dict[str, Any]) -> str:
    """The canonical text of a protocol's settings (sorted JSON), the key of a protocol."""
    return json.dumps(settings, sort_keys=True, default=str)


def format_value(value: Any) -> str:
    """A setting's value as it is shown in a label: ``0.05``, ``cosine``, ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def format_settings(settings: dict[str, Any]) -> str:
    """``k=v, k=v`` in key order."""
    return ", ".join(f"{k}={format_value(settings[k])}" for k in sorted(settings))


def recipe_defaults(task: str, dataset: str) -> dict[str, Any]:
    """The protocol settings a run of ``task`` on ``dataset`` has by default: the run
    defaults, the task's recipe for the data set and its options' defaults. Empty for a
    task or data set this version does not know."""
    from dataclasses import asdict

    try:
        from hem_bench.recipes import with_recipe
        from hem_bench.tasks import get_task

        spec = get_task(task)
        recipe = with_recipe(spec, dataset)
    except Exception:  # noqa: BLE001 - an unknown task or data set has no defaults
        return {}
    _, keys, defaults = _protocol_keys()
    out = dict(defaults)
    out.update({k: v for k, v in asdict(recipe).items() if k in keys})
    for key, option in spec.option_infos().items():
        out[f"option.{key}" if key in out else key] = option.default
    return out


def _same(a: Any, b: Any) -> bool:
    """Whether two setting values are equal (numbers by value: 1 == 1.0)."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if numbers:
        return float(a) == float(b)
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def differing_keys(settings: list[dict[str, Any]]) -> list[str]:
    """The keys whose values are not the same in every one of ``settings`` (a key that
    some lack counts as differing)."""
    keys = sorted({k for s in settings for k in s})
    out = []
    for key in keys:
        values = [s.get(key, _MISSING) for s in settings]
        if any(not _same(values[0], v) for v in values[1:]):
            out.append(key)
    return out


_MISSING = "<not set>"


def assign_protocols(frame) -> None:
    """Fill the frame's ``protocol``, ``variant`` and ``main_protocol`` columns from its
    ``task``, ``dataset``, ``settings`` and ``loss`` columns (see the module docstring).

    ``protocol`` is the label of the run's protocol, unique per protocol; ``variant`` the
    loss label under it (``loss`` plus the settings in which the protocol differs from the
    main one); ``main_protocol`` whether the protocol is its (task, data set)'s main one."""
    if not len(frame):
        return
    frame["protocol"] = ""
    frame["variant"] = frame["loss"]
    frame["main_protocol"] = True
    for (task, dataset), rows in frame.groupby(["task", "dataset"], sort=True):
        texts = sorted(rows["settings"].unique())
        label = f"{task}/{dataset}"
        if len(texts) == 1:
            frame.loc[rows.index, "protocol"] = label
            continue
        settings = {text: json.loads(text) for text in texts}
        differ = differing_keys(list(settings.values()))

        main = _main_of(rows, settings, differ, recipe_defaults(str(task), str(dataset)))
        labels = {}
        for text in texts:
            if text == main:
                labels[text] = (label, "")
                continue
            own = settings[text]
            shown = {
                k: own.get(k, _MISSING)
                for k in differ
                if not _same(own.get(k, _MISSING), settings[main].get(k, _MISSING))
            }
            detail = format_settings(shown)
            labels[text] = (f"{label} ({detail})", detail)
        for text, (name, detail) in labels.items():
            selected = rows.index[rows["settings"] == text]
            frame.loc[selected, "protocol"] = name
            frame.loc[selected, "main_protocol"] = text == main
            if detail:
                frame.loc[selected, "variant"] = [
                    _variant(loss, detail) for loss in frame.loc[selected, "loss"]
                ]


def _main_of(rows, settings: dict[str, dict], differ: list[str], defaults: dict) -> str:
    """The main protocol among ``settings`` (text -> settings) of one (task, dataset): the
    one at the recipe's values in every differing setting, then the most losses, then the
    most runs, then the first in sorted order."""

    def at_recipe(text: str) -> bool:
        values = settings[text]
        return bool(defaults) and all(
            key in defaults and _same(values.get(key, _MISSING), defaults[key]) for key in differ
        )

    def order(text: str) -> tuple[int, int, int, str]:
        runs = rows[rows["settings"] == text]
        return (-int(at_recipe(text)), -runs["loss"].nunique(), -len(runs), text)

    return min(settings, key=order)


def _variant(loss: str, detail: str) -> str:
    """``loss`` with ``detail`` added inside its parentheses: ``ce`` -> ``ce(head=cosine)``,
    ``focal(gamma=3.0)`` -> ``focal(gamma=3.0, head=cosine)``."""
    if loss.endswith(")") and "(" in loss:
        return f"{loss[:-1]}, {detail})"
    return f"{loss}({detail})"


def protocol_table(frame):
    """One row per protocol: its label, task, data set, whether it is main, the settings
        that distinguish it from the main protocol of its (task, data set), the settings in
        which it departs from the task's recipe, how many losses, seeds and runs it holds, and the
    code versions its runs were made with (:func:`code_versions`).
        Sorted by task, data set, main first, then label."""
    import pandas as pd

    rows = []
    for name, runs in frame.groupby("protocol", sort=True):
        first = runs.iloc[0]
        settings = json.loads(first["settings"])
        defaults = recipe_defaults(str(first["task"]), str(first["dataset"]))
        off_recipe = {
            k: v for k, v in settings.items() if k in defaults and not _same(v, defaults[k])
        }
        main = bool(first["main_protocol"])
        distinct = ""
        if not main:
            label = f"{first['task']}/{first['dataset']} ("
            distinct = str(name)[len(label) : -1] if str(name).startswith(label) else ""
        rows.append(
            {
                "protocol": str(name),
                "task": str(first["task"]),
                "dataset": str(first["dataset"]),
                "main": main,
                "distinguished by": distinct,
                "differs from the recipe": format_settings(off_recipe),
                "losses": int(runs["loss"].nunique()),
                "seeds": int(runs["seed"].nunique()),
                "runs": len(runs),
                "code versions": code_versions(runs),
                "settings": settings,
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "protocol",
            "task",
            "dataset",
            "main",
            "distinguished by",
            "differs from the recipe",
            "losses",
            "seeds",
            "runs",
            "code versions",
            "settings",
        ],
    )
    if len(out):
        out["order"] = ~out["main"]
        out = out.sort_values(["task", "dataset", "order", "protocol"]).drop(columns="order")
    return out.reset_index(drop=True)


def code_versions(runs) -> str:
    """The code versions of a protocol's runs (the store's ``code_version`` column) with
    how many runs each made, ``0.1.0@b05cf32 (35)``; several, joined by ``; ``, mean that
    the protocol's runs were made by different code: its comparisons may show a change of
    the code as well as of the loss. '' when the frame has no such column."""
    if "code_version" not in getattr(runs, "columns", ()):
        return ""
    counts = runs["code_version"].fillna("").astype(str).value_counts()
    return "; ".join(f"{v or 'unknown'} ({n})" for v, n in sorted(counts.items()))


def mixed_code(protocols) -> list[str]:
    """The protocols (of a :func:`protocol_table`) whose runs come from several code
    versions."""
    if not len(protocols) or "code versions" not in protocols.columns:
        return []
    return [
        str(p) for p, v in zip(protocols["protocol"], protocols["code versions"]) if "; " in str(v)
    ]


def lr_only_groups(frame) -> list[list[str]]:
    """Sets of protocols (labels, by decreasing learning rate) of one (task, data set)
    that differ in the learning rate ``lr`` and in nothing else; the learning-rate
    sensitivity table is made for each."""
    groups = []
    for _, rows in frame.groupby(["task", "dataset"], sort=True):
        by_rest: dict[str, list[tuple[float, str]]] = {}
        for (protocol, text), _runs in rows.groupby(["protocol", "settings"], sort=True):
            settings = json.loads(text)
            if "lr" not in settings:
                continue
            rest = settings_text({k: v for k, v in settings.items() if k != "lr"})
            by_rest.setdefault(rest, []).append((float(settings["lr"]), str(protocol)))
        for members in by_rest.values():
            if len(members) > 1:
                groups.append([p for _, p in sorted(members, reverse=True)])
    return groups


# -- protocols of a frame of runs ----------------------------------------------------------


def benchmarks(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The (task, dataset, model) triples of the frame, sorted. A triple may hold several
    protocols: the tables group by :func:`protocols` instead."""
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


def with_protocols(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the protocol columns (``settings``, ``protocol``, ``variant``,
    ``main_protocol``); a frame made without them (by hand, from a task, dataset, model,
    loss and seed per run) gets them from its model alone (a copy; the frame is not
    changed)."""
    needed = ("settings", "protocol", "variant", "main_protocol")
    if all(c in frame.columns for c in needed) and (
        not len(frame) or frame["protocol"].astype(str).ne("").all()
    ):
        return frame
    out = frame.copy()
    if "settings" not in out.columns:
        models = out["model"] if "model" in out.columns else [""] * len(out)
        out["settings"] = [json.dumps({"model": str(m)}) for m in models]
    assign_protocols(out)
    return out


def protocols(frame: pd.DataFrame) -> list[str]:
    """The protocol labels of the frame: by task and dataset, the main protocol first."""
    keys = frame[["task", "dataset", "main_protocol", "protocol"]].drop_duplicates("protocol")
    keys = keys.assign(order=~keys["main_protocol"].astype(bool))
    keys = keys.sort_values(["task", "dataset", "order", "protocol"])
    return [str(p) for p in keys["protocol"]]


def protocol_rows(frame: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """The runs of one protocol (one benchmark)."""
    return frame[frame["protocol"] == protocol]


def protocol_info(rows: pd.DataFrame) -> tuple[str, str, str, bool, dict[str, Any]]:
    """task, dataset, model, main and settings of one protocol's runs."""
    import json

    first = rows.iloc[0]
    settings = json.loads(first["settings"]) if first.get("settings") else {}
    return (
        str(first["task"]),
        str(first["dataset"]),
        str(first["model"]),
        bool(first["main_protocol"]),
        settings,
    )
