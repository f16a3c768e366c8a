"""The results store: reading records into a frame, and what is left out (and said so)."""

from __future__ import annotations

import json
import math
import warnings

import pytest

from hem_bench.errors import ConfigError
from hem_bench.results.store import RUN_COLUMNS, RecordWarning, load_results
from tests.results.conftest import MALICIOUS, real_records
from tests.results.records import record, write


def load_with_warnings(folder):
    """``load_results(folder)`` and the RecordWarning messages it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = load_results(folder)
    return results, [str(w.message) for w in caught if issubclass(w.category, RecordWarning)]


def test_frame_holds_one_row_per_usable_record(mixed_results, real_results):
    """Every usable record is one row; its fields and metrics are the record's values, NaN where it lacks a metric."""
    results, _ = load_with_warnings(mixed_results.folder)
    frame = results.frame
    # 8 real runs, the malicious copy, 16 synthetic; failed, old schema and invalid left out
    assert len(frame) == 8 + 1 + 16
    assert list(frame.columns[: len(RUN_COLUMNS)]) == list(RUN_COLUMNS)
    assert {"msp/unknown/auroc", "calibration/1/conf", "robust_acc/pgd/0.1"} <= set(
        results.metric_columns
    )
    assert MALICIOUS in set(frame["loss"])
    for original in real_records(real_results):
        (row,) = frame[
            (frame["run_id"] == original["run_id"]) & (frame["loss"] == original["loss"])
        ].to_dict(orient="records")
        assert row["task"] == original["task"] and row["seed"] == original["seed"]
        assert row["model"] == original["model"] and row["dataset"] == original["dataset"]
        assert row["headline"] == original["headline"]["name"]
        assert row["headline_value"] == original["headline"]["value"]
        assert row["higher_is_better"] is original["headline"]["higher_is_better"]
        assert row["path"].endswith("record.json")
        for key, value in original["metrics"].items():
            assert row[key] == value
        absent = set(results.metric_columns) - set(original["metrics"])
        assert all(math.isnan(row[key]) for key in absent)


def test_left_out_records_are_counted_and_named(mixed_results):
    """Failed runs, another schema version and invalid JSON are counted and named in one warning each."""
    results, messages = load_with_warnings(mixed_results.folder)
    messages = [m for m in messages if "unknown tasks" not in m]  # the synthetic tasks
    counts = results.counts()
    assert counts == {
        "found": 28,
        "used": 25,
        "schema": 1,
        "failed": 1,
        "invalid": 1,
        "duplicate": 0,
    }
    assert len(messages) == 3
    schema, failed, invalid = messages
    assert schema.startswith("hem-bench: skipped 1 record of another schema_version")
    assert str(mixed_results.other_schema) in schema
    assert failed.startswith("hem-bench: skipped 1 record of failed runs")
    assert str(mixed_results.failed) in failed
    assert invalid.startswith("hem-bench: skipped 1 record that could not be read")
    assert str(mixed_results.invalid) in invalid and "invalid JSON" in invalid


def test_the_command_line_prints_what_it_left_out(board):
    """The command line shows the warnings as one-line messages on stderr."""
    stderr = board.result.stderr
    assert "hem-bench: skipped 1 record of failed runs" in stderr
    assert str(board.mixed.invalid) in stderr and str(board.mixed.other_schema) in stderr
    assert "Traceback" not in stderr


def test_records_lacking_fields_are_invalid_not_fatal(tmp_path):
    """Files that are JSON but not records are reported with why; the rest still load."""
    write(tmp_path, "good", record("ood", "digits", "ce", 0, {"auroc": 0.8}, "auroc"))
    bad = record("ood", "digits", "ce", 1, {"auroc": 0.7}, "auroc")
    del bad["headline"]
    write(tmp_path, "no-headline", bad)
    write(tmp_path, "a-list", json.dumps([1, 2]))
    write(tmp_path, "odd-status", record("ood", "digits", "ce", 2, {}, "auroc", status="running"))
    with pytest.warns(RecordWarning, match="skipped 3 records that could not be read") as caught:
        results = load_results(tmp_path)
    assert len(results.frame) == 1
    message = str(caught[0].message)
    assert "'headline' is missing" in message and "unknown status 'running'" in message


def test_a_repeated_experiment_keeps_the_run_that_finished_last(tmp_path):
    """Two runs of the same (task, dataset, model, loss, seed): the later one counts, the other is named."""
    early = record("ood", "digits", "ce", 0, {"auroc": 0.6}, "auroc")
    late = record(
        "ood", "digits", "ce", 0, {"auroc": 0.9}, "auroc", finished_at="2025-02-01T00:00:00+00:00"
    )
    write(tmp_path, "b-late", late)
    first = write(tmp_path, "a-early", early)
    with pytest.warns(RecordWarning, match="skipped 1 record repeating") as caught:
        results = load_results(tmp_path)
    assert str(first) in str(caught[0].message)
    assert results.frame["headline_value"].tolist() == [0.9]


def test_parameter_variants_of_a_loss_are_separate_entries(tmp_path):
    """A loss run with several values of a parameter gives one entry per value."""
    for seed in (0, 1):
        for margin in (1.0, 2.0):
            data = record("ood", "digits", "hem", seed, {"auroc": 0.5 + margin / 10}, "auroc")
            data["loss_params"] = {"margin": margin}
            write(tmp_path, f"hem-{margin}-{seed}", data)
        data = record("ood", "digits", "lsr", seed, {"auroc": 0.6}, "auroc")
        data["loss_params"] = {"smoothing": 0.1, "extra": 1} if seed else {"smoothing": 0.1}
        write(tmp_path, f"lsr-{seed}", data)
    write(tmp_path, "ce", record("ood", "digits", "ce", 0, {"auroc": 0.5}, "auroc"))
    write(tmp_path, "hem", record("ood", "digits", "hem", 2, {"auroc": 0.5}, "auroc"))
    frame = load_results(tmp_path).frame
    # only the parameter that differs is named; runs that agree where they overlap, and a
    # run that does not state the varying parameter, keep the plain name
    assert sorted(frame["loss"].unique()) == [
        "ce",
        "hem",
        "hem(margin=1.0)",
        "hem(margin=2.0)",
        "lsr",
    ]
    assert set(frame["loss_name"]) == {"ce", "hem", "lsr"}


def test_bad_folders_raise_config_errors(tmp_path):
    """A missing folder, a folder without records, and one without usable records are ConfigErrors."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_results(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="no run records"):
        load_results(tmp_path)
    write(tmp_path, "failed", record("ood", "digits", "ce", 0, {}, "auroc", status="failed"))
    with pytest.warns(RecordWarning), pytest.raises(ConfigError, match="no usable.*1 failed"):
        load_results(tmp_path)


def test_a_store_marked_separate_is_left_out_of_the_folder_above(tmp_path):
    """results/example/ holds its own store: reading results/ must not mix it in."""
    from hem_bench.analysis.study import find_runs
    from hem_bench.results.store import SEPARATE_STORE, RecordWarning, find_record_files

    write(tmp_path, "mine", record("ood", "digits", "ce", 0, {"auroc": 0.9}, "auroc"))
    example = tmp_path / "example"
    write(example / "runs", "theirs", record("ood", "digits", "hem", 0, {"auroc": 0.8}, "auroc"))
    (example / SEPARATE_STORE).write_text("a store of its own")
    with pytest.warns(RecordWarning, match=rf"left out {example}.*{SEPARATE_STORE}"):
        results = load_results(tmp_path)
    assert list(results.frame["loss"]) == ["ce"]
    assert list(load_results(example, warn=False).frame["loss"]) == ["hem"]
    assert [p.parent.name for p in find_record_files(example / "runs")] == ["theirs"]
    # the analysis reads records the same way
    with (
        pytest.warns(RecordWarning),
        pytest.raises(ConfigError, match="no completed runs of task .classify."),
    ):
        find_runs(tmp_path, "classify")
