"""Files written atomically: to a temporary file in the same folder, then renamed into place.

A process killed while writing leaves the previous file (or none), never half a file, and
parallel workers never see each other's partial output. The renamed file gets the
permissions any new file gets (``0o666`` less the umask), not the owner-only mode of
:func:`tempfile.mkstemp`, so records and reports stay readable by the rest of a group.
Standard library only: the command line imports this before torch.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block
    ends without an exception, removed when it raises. ``suffix`` is for writers that
    insist on an extension (``numpy.savez`` adds ``.npz`` to any other name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: bytes | str, sync: bool = False) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; ``sync`` flushes it to disk
    before the rename (for records, which must survive a power loss)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        if sync:
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)
