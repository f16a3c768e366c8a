"""The run record: one pydantic model, one reader and one writer, the JSON of every record
this version has written kept to the byte."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hem_bench.config import ResolvedConfig
from hem_bench.results.record import (
    SCHEMA_VERSION,
    InvalidRecord,
    OtherSchema,
    RunRecord,
    make_record,
    read_record,
    record_json,
    write_record,
)
from tests.results.records import record, write

EXAMPLE = Path(__file__).resolve().parents[2] / "results" / "example" / "runs"
#: the fields that differ between two runs of the same configuration
VOLATILE = ("timings", "env", "started_at", "finished_at")


def example_paths() -> list[Path]:
    return sorted(EXAMPLE.glob("*/record.json"))


def test_every_committed_record_reads_and_writes_back_to_the_same_bytes(tmp_path):
    """Read into the model and written again, each committed record is the same file."""
    paths = example_paths()
    assert len(paths) > 100
    tasks = set()
    for path in paths:
        loaded = read_record(path)
        tasks.add(loaded.task)
        assert record_json(loaded) == path.read_text(encoding="utf-8"), path
    assert tasks == {"classify", "ood", "adversarial", "imbalanced", "continual", "segmentation"}
    copy = write_record(tmp_path / "run" / "record.json", read_record(paths[0]))
    assert copy.read_bytes() == paths[0].read_bytes()


def test_make_record_gives_the_records_the_suite_has_always_written():
    """The committed records (written before the model existed): made again from their
    configuration, metrics, headline and task fields, they are the same but for timings,
    environment and times."""
    for path in example_paths()[::7]:
        original = json.loads(path.read_text(encoding="utf-8"))
        config = ResolvedConfig(**original["config"])
        assert config.run_id == original["run_id"]
        core = set(RunRecord.model_fields)
        extra = {k: v for k, v in original.items() if k not in core}
        headline = original["headline"]
        made = make_record(
            config,
            original["status"],
            original["metrics"],
            (headline["name"], headline["higher_is_better"]),
            original["timings"],
            original["started_at"],
            extra=extra,
        ).data()
        assert list(made) == list(original)
        for key in VOLATILE:
            made.pop(key), original.pop(key)
        assert json.dumps(made, allow_nan=True) == json.dumps(original, allow_nan=True)


def _config() -> ResolvedConfig:
    data = json.loads(example_paths()[0].read_text(encoding="utf-8"))
    return ResolvedConfig(**data["config"])


@pytest.mark.parametrize("field", ["metrics", "run_id", "status", "headline", "error", "seed"])
def test_task_fields_cannot_replace_the_records_own(field):
    """A task's extra field named like a core field is refused, not merged over it."""
    with pytest.raises(ValueError, match=f"must not replace the record's own: {field}"):
        make_record(_config(), "completed", {"acc": 0.5}, ("acc", True), {}, "t0", extra={field: 1})


def test_a_failed_record_and_task_fields_keep_their_order():
    """A failed record has ``error`` after the core fields and a NaN headline; task fields
    follow in the order the task gave them."""
    failed = make_record(_config(), "failed", {}, ("acc", True), {"total": 1.23456}, "t0", "boom")
    data = json.loads(record_json(failed))
    assert list(data)[-1] == "error" and data["error"] == "boom"
    assert math.isnan(data["headline"]["value"]) and data["timings"] == {"total": 1.235}
    done = make_record(
        _config(),
        "completed",
        {"ACC": 1, "x/Y": 0.25},
        ("acc", True),
        {},
        "t0",
        extra={"zeta": [1], "alpha": {"a": None}},
    )
    data = json.loads(record_json(done))
    assert list(data)[-2:] == ["zeta", "alpha"] and "error" not in data
    assert data["metrics"] == {"acc": 1.0, "x/y": 0.25} and data["headline"]["value"] == 1.0
    assert done.extras == {"zeta": [1], "alpha": {"a": None}}


def test_nan_and_infinite_metrics_are_kept():
    made = make_record(
        _config(), "completed", {"nll": math.inf, "ece": math.nan}, ("nll", False), {}, "t0"
    )
    text = record_json(made)
    assert '"nll": Infinity' in text and '"ece": NaN' in text
    assert math.isinf(json.loads(text)["headline"]["value"])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"headline": None}, "the field 'headline' is missing"),
        ({"status": "running"}, "unknown status 'running'"),
        ({"seed": "one"}, "'seed' must be an integer; found 'one'"),
        ({"metrics": {"acc": "high"}}, "metric 'acc' is not a number: 'high'"),
        ({"metrics": [0.5]}, "'metrics' must be a mapping"),
        ({"headline": {"value": 0.5}}, "the field 'headline.name' is missing"),
    ],
)
def test_invalid_records_name_the_file_and_the_field(tmp_path, change, message):
    data = record("ood", "digits", "ce", 0, {"auroc": 0.8}, "auroc")
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    path = write(tmp_path, "run", data)
    with pytest.raises(InvalidRecord) as caught:
        read_record(path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert not isinstance(caught.value, OtherSchema)


def test_unreadable_files_and_other_schema_versions(tmp_path):
    broken = write(tmp_path, "broken", '{"schema_version": 1, "status": ')
    with pytest.raises(InvalidRecord, match="invalid JSON") as caught:
        read_record(broken)
    assert str(broken) in str(caught.value)
    listed = write(tmp_path, "list", "[1, 2]")
    with pytest.raises(InvalidRecord, match="expected a JSON object; found list"):
        read_record(listed)
    old = write(
        tmp_path, "old", dict(record("ood", "digits", "ce", 0, {}, "auroc"), schema_version=0)
    )
    with pytest.raises(OtherSchema) as caught:
        read_record(old)
    assert str(old) in str(caught.value)
    assert f"schema_version 0 (this version of hem-bench reads {SCHEMA_VERSION})" in str(
        caught.value
    )
    none = write(tmp_path, "none", {"status": "completed"})
    with pytest.raises(OtherSchema, match="schema_version 'none'"):
        read_record(none)
    with pytest.raises(InvalidRecord, match="cannot read it"):
        read_record(tmp_path / "nowhere" / "record.json")


def test_a_hand_written_record_without_optional_fields_is_written_back_as_it_was(tmp_path):
    """Fields a record does not state are not added when it is written again (analyze
    rewrites records in place)."""
    data = record("ood", "digits", "ce", 0, {"auroc": 0.8}, "auroc")
    for key in ("env", "timings", "model", "config"):
        del data[key]
    path = write(tmp_path, "run", data)
    loaded = read_record(path)
    assert loaded.model is None and loaded.config is None
    assert loaded.data() == data
