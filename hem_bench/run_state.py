"""The state of a run folder, and what a new start may do with it.

- **The lock.** A run folder is claimed by a lock file (``.lock``, created atomically,
  holding the owner's PID and host); a second process finds it held and stops
  (:class:`RunInProgress`), and a lock left by a dead process is taken over.
- **Records are evidence** (:func:`prepare_start`): a ``record.json`` this version cannot
  read is kept (:class:`RecordInTheWay`; ``--force`` moves it aside, named, and says so); a
  completed record is only replaced by ``--force`` (:class:`AlreadyCompleted`); an
  interrupted run (a checkpoint, no record) is continued only by ``--resume`` or started
  again only by ``--force`` (:class:`UnfinishedRun`); a run that starts afresh removes the
  earlier attempt's checkpoints and moves its logs aside, so no log holds an epoch twice.

Where each file lives is :mod:`hem_bench.run_folder`'s; how a run goes is
:mod:`hem_bench.runner`'s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hem_bench.checkpoints import check_checkpoint, checkpoint_epoch
from hem_bench.errors import ConfigError, HemBenchError
from hem_bench.results.record import InvalidRecord, read_record
from hem_bench.run_folder import LOCK_NAME, RunFolder

if TYPE_CHECKING:
    from hem_bench.config import ResolvedConfig


class RunInProgress(HemBenchError):
    """The run folder is claimed by another live process."""


class AlreadyCompleted(Exception):
    """A completed record of the configuration exists (found once the folder was claimed)."""

    def __init__(self, record: dict, record_path: Path) -> None:
        super().__init__(f"already completed: {record_path}")
        self.record, self.record_path = record, record_path


class RecordInTheWay(HemBenchError):
    """The run folder holds a ``record.json`` this version cannot read (another schema
    version, not JSON, not a record, another run's id, a folder): it is evidence and is
    kept; ``--force`` moves it aside."""


class UnfinishedRun(HemBenchError):
    """The run folder holds an interrupted run (a checkpoint, no record) and neither
    ``--resume`` nor ``--force`` says what to do with it."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _lock_owner(lock: Path) -> tuple[int, str] | None:
    """(pid, host) written in a lock file; None when unreadable or half written."""
    try:
        pid, host = lock.read_text().split()[:2]
        return int(pid), host
    except (OSError, ValueError):
        return None


def _lock_is_stale(lock: Path) -> bool:
    owner = _lock_owner(lock)
    if owner is None:  # being written right now, or garbage: stale only when old
        try:
            return time.time() - lock.stat().st_mtime > 10
        except FileNotFoundError:
            return True
    pid, host = owner
    return host == socket.gethostname() and not _pid_alive(pid)


@contextlib.contextmanager
def claim(run_dir: Path):
    """Hold ``run_dir/.lock`` for the block: created with O_EXCL (atomic), holding this
    process's PID and host. A lock of a dead process on this host is taken over (under an
    ``flock`` so that two processes never both take it over); a live one raises
    :class:`RunInProgress`."""
    lock = run_dir / LOCK_NAME
    for _ in range(3):
        if lock.is_dir() and not lock.is_symlink():
            raise RunInProgress(
                f"the lock file {lock} of run folder {run_dir} is a folder; remove it (no run "
                "makes it) and run again"
            )
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _lock_is_stale(lock):
                _break_stale_lock(lock)
                continue
            owner = _lock_owner(lock)
            who = f"process {owner[0]} on {owner[1]}" if owner else "another process"
            raise RunInProgress(
                f"run folder {run_dir} is in use by {who} (lock file {lock}); wait for it "
                "to finish, or delete the lock file if no such process is running"
            ) from None
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()} {socket.gethostname()}\n")
        break
    else:
        raise RunInProgress(f"run folder {run_dir}: could not take its lock file {lock}")
    try:
        yield
    finally:
        owner = _lock_owner(lock)
        if owner is not None and owner[0] == os.getpid():
            lock.unlink(missing_ok=True)


def _break_stale_lock(lock: Path) -> None:
    import fcntl

    with open(lock.with_name(LOCK_NAME + ".break"), "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:  # checked again under the guard: another process may have taken it over
            if lock.is_file() and _lock_is_stale(lock):
                lock.unlink()
        finally:
            fcntl.flock(guard, fcntl.LOCK_UN)


def prepare_out(out: str | Path) -> Path:
    """The results folder, created if needed; a clear error when it cannot be."""
    path = Path(out)
    if str(out).strip() == "":
        raise ConfigError("--out '': give a results folder")
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; give a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--out {str(out)!r}: cannot create the folder ({exc.strerror})"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {str(out)!r}: the folder is not writable")
    return path


def record_state(config: ResolvedConfig) -> tuple[str, Any, str]:
    """What the run folder of ``config`` holds where its record goes: ``("none", None,
    "")``, ``("completed" | "failed", record, "")``, or ``("unreadable", None, why)`` for a
    file this version cannot read as this run's record (another schema version, not JSON,
    not a record, another run id) or a folder of that name."""
    path = RunFolder(config.run_dir()).record
    if not os.path.lexists(path):
        return "none", None, ""
    if path.is_dir():
        return "unreadable", None, "it is a folder, not a record file"
    try:
        record = read_record(path)
    except InvalidRecord as exc:
        return "unreadable", None, exc.reason
    if record.run_id != config.run_id:
        return (
            "unreadable",
            None,
            f"it holds run id {record.run_id!r}, not this run's {config.run_id!r}: edited, or "
            "moved from another run folder",
        )
    return record.status, record, ""


def existing_record(config: ResolvedConfig) -> dict | None:
    """The completed record of this configuration, if one exists."""
    state, record, _ = record_state(config)
    return record.data() if state == "completed" else None


def record_in_the_way(
    config: ResolvedConfig,
    remedy: str = "move it away, or run with --force to move it aside and run again",
) -> str:
    """The message of a ``record.json`` that blocks the run of ``config`` ('' if none)."""
    state, _, why = record_state(config)
    if state != "unreadable":
        return ""
    path = RunFolder(config.run_dir()).record
    return f"{path} cannot be read as this run's record ({why}); it is kept: {remedy}"


def stamp() -> str:
    """A time stamp for names of files moved aside (UTC, to the second)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def move_aside(path: Path) -> Path:
    """Rename ``path`` to ``<name>.replaced-<time>`` beside it (a number added if taken);
    returns the new path. Used by ``--force`` for what it replaces: nothing is deleted."""
    when = stamp()
    target = path.with_name(f"{path.name}.replaced-{when}")
    n = 1
    while os.path.lexists(target):
        n += 1
        target = path.with_name(f"{path.name}.replaced-{when}-{n}")
    os.replace(path, target)
    return target


def checkpoint_files(run_dir: Path) -> list[Path]:
    """The checkpoints of an unfinished run in ``run_dir`` (``last.ckpt``, a continual
    run's ``experience-*.pt``)."""
    folder = RunFolder(run_dir)
    if not folder.checkpoints.is_dir():
        return []
    return sorted(
        p
        for p in folder.checkpoints.iterdir()
        if p == folder.last_checkpoint or (p.name.startswith("experience-") and p.suffix == ".pt")
    )


def _fresh_start(run_dir: Path) -> list[str]:
    """Make ``run_dir`` ready for a run from epoch 0: the checkpoints of an earlier attempt
    are removed (they would be resumed by mistake later) and its logs moved aside (so that
    no log holds an epoch twice). Returns what was done, for the message."""
    done = []
    for path in checkpoint_files(run_dir):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        done.append(f"removed {path}")
    logs = RunFolder(run_dir).logs
    if logs.is_dir() and any(logs.iterdir()):
        done.append(f"moved the earlier logs to {move_aside(logs)}")
    return done


def prepare_start(config: ResolvedConfig, resume: bool, force: bool, notice=None) -> Path | None:
    """Decide how the run of ``config`` starts, in its claimed folder, before any data is
    loaded; returns the checkpoint to resume from (``None``: from epoch 0).

    - a ``record.json`` this version cannot read is evidence: :class:`RecordInTheWay`,
      unless ``force``, which moves it aside (``record.json.replaced-<time>``) and says so;
    - a completed record: :class:`AlreadyCompleted`, unless ``force``;
    - ``resume`` with a checkpoint: the checkpoint, checked (:func:`check_checkpoint`);
    - an interrupted run (a checkpoint, no record) without ``resume`` or ``force``:
      :class:`UnfinishedRun`, saying how to continue it or start it again;
    - otherwise a fresh start: checkpoints of an earlier attempt removed, its logs moved
      aside (a rerun of a failed run, or ``force``).
    """
    import warnings

    def say(message: str) -> None:
        if notice is not None:
            notice(message)
        else:
            warnings.warn(f"hem-bench: {message}", stacklevel=3)

    run_dir = config.run_dir()
    folder = RunFolder(run_dir)
    path = folder.record
    state, record, why = record_state(config)
    if state == "unreadable":
        if not force:
            raise RecordInTheWay(record_in_the_way(config))
        moved = move_aside(path)
        say(f"--force: {path} could not be read as this run's record ({why}); moved it to {moved}")
        state = "none"
    if state == "completed":
        if not force:
            raise AlreadyCompleted(record.data(), path)
        say(f"--force: the completed record {path} will be replaced by this run's")
    checkpoints = checkpoint_files(run_dir)
    last = folder.last_checkpoint
    if resume and checkpoints and state != "completed":
        if os.path.lexists(last):
            check_checkpoint(last, config)
        return last  # (a continual run resumes from its experience files: its procedure's)
    if checkpoints and state == "none" and not force:
        epoch = checkpoint_epoch(last) if last.is_file() else None
        where = (
            f"its last checkpoint is from epoch {epoch + 1}"
            if epoch is not None
            else (f"it has checkpoints in {run_dir / 'checkpoints'}")
        )
        raise UnfinishedRun(
            f"run folder {run_dir} holds an interrupted run ({where}, and no record): add "
            "--resume to continue it, or --force to start it again from epoch 0"
        )
    done = _fresh_start(run_dir)
    if force and done:
        say("--force: " + "; ".join(done))
    return None
