"""Run records: one JSON file per run, one pydantic model, one reader and one writer.

A record (:class:`RunRecord`) holds ``schema_version``, ``run_id``, ``status``
("completed" or "failed"), ``task``, ``dataset``, ``model``, ``loss``, ``loss_params``,
``seed``, ``config`` (the whole resolved configuration), ``metrics`` (a flat mapping of
lowercase '/'-separated keys to floats; NaN and infinities are kept as they are), ``headline``
(``{"name", "value", "higher_is_better"}``), ``timings`` (seconds), ``env`` (versions of the
packages, devices, git commit: :mod:`hem_bench.env`), ``started_at`` and ``finished_at``
(UTC, ISO 8601), ``error`` for a failed run, and what the task adds (``attacks``,
``evaluated``, ``accuracy_matrix``, ... and ``analysis`` from ``hem-bench analyze``), kept
as they are after the fields above.

:func:`write_record` writes a record to a temporary file in the same folder and renames it
into place (:mod:`hem_bench.atomic`): a crashed run leaves no half record, and parallel
workers never write the same file. :func:`read_record` is the only reader: it checks the
JSON, the schema version (:class:`OtherSchema` for a record of another version) and the
fields (:class:`InvalidRecord`), and every error names the file. The JSON is the one the
records of this version have always had: same keys, same order, same number formatting.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from hem_bench.atomic import write_atomic
from hem_bench.env import environment
from hem_bench.errors import quote
from hem_bench.run_folder import RECORD_NAME  # noqa: F401  (the record's file name)

if TYPE_CHECKING:
    from hem_bench.config import ResolvedConfig

#: the version of the record's format; a record of another version is not read as this one
SCHEMA_VERSION = 1
STATUSES = ("completed", "failed")


class InvalidRecord(ValueError):
    """A file that is not a run record this version can read. ``path`` is the file,
    ``reason`` says why; ``str()`` names both."""

    def __init__(self, reason: str, path: str | Path | None = None) -> None:
        self.reason, self.path = reason, None if path is None else Path(path)
        super().__init__(reason if path is None else f"{path}: {reason}")


class OtherSchema(InvalidRecord):
    """A record of another ``schema_version``: its fields may mean something else."""

    def __init__(self, version: Any, path: str | Path | None = None) -> None:
        self.version = version
        super().__init__(
            f"schema_version {version!r} (this version of hem-bench reads {SCHEMA_VERSION})",
            path,
        )


class Headline(BaseModel):
    """The task's main metric: its name, its value (NaN when the run has none) and its
    direction."""

    model_config = ConfigDict(extra="forbid")

    name: str
    value: float | None = None
    higher_is_better: bool = True


def _metric_number(key: str, value: Any) -> float:
    """A metric's value as a float: numbers only (not text, not yes/no)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"metric {key!r} is not a number: {value!r}")
    return float(value)


def _loose(annotation: Any) -> Any:
    """The plain type of a configuration field's annotation: ``Literal`` values as ``str``,
    containers as ``dict``/``list``, unions kept; ranges are not checked here (a record
    states what ran, and older records were made with older limits)."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin is Literal:
        return str
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_loose(arg) for arg in typing.get_args(annotation))]  # noqa: UP007
    if origin in (dict, list, tuple):
        return origin
    return annotation


def _config_model():
    """A lenient model of a record's ``config``: each field of the run configuration typed
    by its plain type (numbers as numbers, names as text), every field optional, other
    fields allowed. Readers (the leaderboard's protocols) rely on these types."""
    from pydantic import create_model

    from hem_bench.config import ResolvedConfig

    fields = {  # a field may be absent (older records); None only where the run allows it
        name: (_loose(info.annotation), None) for name, info in ResolvedConfig.model_fields.items()
    }
    return create_model("RecordConfig", __config__=ConfigDict(extra="allow"), **fields)


_CONFIG_MODEL = _config_model()


class RunRecord(BaseModel):
    """One run's record (the fields of docs/design.md, then the task's extra fields)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    schema_version: int
    run_id: str = ""
    status: Literal["completed", "failed"]
    task: str
    dataset: str
    model: str | None = None
    loss: str
    loss_params: dict[str, Any] | None = None
    seed: int
    config: dict[str, Any] | None = None
    metrics: dict[str, float]
    headline: Headline
    timings: dict[str, float] | None = None
    env: dict[str, Any] | None = None
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("'metrics' must be a mapping of metric names to numbers")
        return {str(k): _metric_number(str(k), v) for k, v in value.items()}

    @field_validator("config", mode="before")
    @classmethod
    def _config(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # None is allowed; anything else fails the field's own type
        try:
            _CONFIG_MODEL.model_validate(value)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error.get("loc", ()))
            message = str(error.get("msg", "")).removeprefix("Input should be ")
            raise ValueError(
                f"'config.{where}' should be {message} (found {quote(error.get('input'), 60)})"
            ) from None
        return value

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"'seed' must be an integer; found {value!r}")
        return value

    @property
    def extras(self) -> dict[str, Any]:
        """The fields a task (or ``analyze``) added beyond the core ones."""
        return dict(self.__pydantic_extra__ or {})

    @property
    def headline_value(self) -> float:
        """The headline's value; the metric of its name where the record states none."""
        value = self.headline.value
        if value is None or math.isnan(value):
            return float(self.metrics.get(self.headline.name, math.nan))
        return float(value)

    def data(self) -> dict[str, Any]:
        """The record as the plain JSON data of its file: the fields it was given (a
        record made by :func:`make_record` has them all), in the order of the model, then
        the extra fields in their order."""
        return self.model_dump(exclude_unset=True)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record_json(record: RunRecord) -> str:
    """The text of a record file."""
    return json.dumps(record.data(), indent=2, sort_keys=False, allow_nan=True)


def write_record(path: str | Path, record: RunRecord) -> Path:
    """Write ``record`` to ``path`` through a temporary file and a rename (flushed to disk
    first: a record must survive a power loss)."""
    return write_atomic(path, record_json(record), sync=True)


def _field_problem(error: dict[str, Any]) -> str:
    """One pydantic error as a sentence about the record's field."""
    loc = [str(part) for part in error.get("loc", ())]
    field = loc[0] if loc else "?"
    kind = error.get("type", "")
    if kind == "missing":
        return f"the field {'.'.join(loc)!r} is missing"
    if field == "status" and kind == "literal_error":
        return f"unknown status {error.get('input')!r} (accepted: {', '.join(STATUSES)})"
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if kind == "value_error":
        return message
    if field == "seed":
        return f"'seed' must be an integer; found {error.get('input')!r}"
    if field == "headline" and len(loc) == 1:
        return "'headline' must be an object with 'name', 'value', 'higher_is_better'"
    return f"{'.'.join(loc)!r}: {message} (found {error.get('input')!r})"


def validate_record(data: Any, path: str | Path | None = None) -> RunRecord:
    """The :class:`RunRecord` of ``data`` (the JSON of a record file); raises
    :class:`OtherSchema` for another schema version and :class:`InvalidRecord` for
    anything that is not a record, naming ``path`` when given."""
    if not isinstance(data, dict):
        raise InvalidRecord(f"expected a JSON object; found {type(data).__name__}", path)
    version = data.get("schema_version", "none")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise OtherSchema(version, path)
    try:
        return RunRecord.model_validate(data)
    except ValidationError as exc:
        problems = [_field_problem(error) for error in exc.errors()]
        raise InvalidRecord("; ".join(dict.fromkeys(problems)), path) from None


#: the largest record file read (a record is a few kilobytes; an analysed continual run's
#: a few hundred): a bigger file is not a record, and is not read into memory
MAX_RECORD_BYTES = 64 * 2**20


def read_record(path: str | Path) -> RunRecord:
    """The record in ``path``: :class:`InvalidRecord` for a file that cannot be read (a
    folder, too big, not UTF-8), is not JSON (nested too deeply to parse, too) or not a
    record, :class:`OtherSchema` for a record of another version; the error names the
    file. Never raises anything else."""
    path = Path(path)
    try:
        if path.is_dir():
            raise InvalidRecord("it is a folder, not a record file", path)
        size = path.stat().st_size
        if size > MAX_RECORD_BYTES:
            raise InvalidRecord(
                f"it is {size / 2**20:.0f} MB, larger than any record ({MAX_RECORD_BYTES // 2**20} "
                "MB at most)",
                path,
            )
        text = path.read_text(encoding="utf-8")
    except InvalidRecord:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidRecord(f"cannot read it: {exc}", path) from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise InvalidRecord("invalid JSON: nested too deeply", path) from None
    except ValueError as exc:
        raise InvalidRecord(f"invalid JSON: {exc}", path) from None
    try:
        return validate_record(data, path)
    except RecursionError:
        raise InvalidRecord("nested too deeply to be a record", path) from None


def clean_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Metrics as a flat mapping of lowercase keys to floats."""
    return {str(key).lower(): float(value) for key, value in metrics.items()}


def make_record(
    config: ResolvedConfig,
    status: str,
    metrics: dict[str, Any],
    headline: tuple[str, bool],
    timings: dict[str, float],
    started_at: str,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
    trainer: dict[str, Any] | None = None,
) -> RunRecord:
    """The record of a run of ``config``. ``extra`` holds the task's own fields; one named
    like a field of the record is a ``ValueError`` (a task cannot overwrite them).
    ``trainer`` states what Lightning actually ran with (accelerator, devices, strategy,
    precision, threads: :func:`hem_bench.trainer.describe_trainer`), kept in
    ``env.trainer``."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}; got {status!r}")
    clash = sorted(set(extra or {}) & set(RunRecord.model_fields))
    if clash:
        raise ValueError(
            f"a task's record fields must not replace the record's own: {', '.join(clash)}"
        )
    metrics = clean_metrics(metrics)
    name, higher_is_better = headline[0], headline[1]
    fields: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": config.run_id,
        "status": status,
        "task": config.task,
        "dataset": config.dataset,
        "model": config.model,
        "loss": config.loss,
        "loss_params": dict(config.loss_params),
        "seed": config.seed,
        "config": config.model_dump(),
        "metrics": metrics,
        "headline": {
            "name": name,
            "value": metrics.get(name, math.nan),
            "higher_is_better": higher_is_better,
        },
        "timings": {k: round(float(v), 3) for k, v in timings.items()},
        "env": {**environment(), **({"trainer": dict(trainer)} if trainer else {})},
        "started_at": started_at,
        "finished_at": now(),
    }
    if error is not None:
        fields["error"] = error
    return RunRecord(**fields, **(extra or {}))
