"""Files a crash cannot leave half-written: the one atomic write of DXG.

A party's trust store, a monitor's state, a console's users and decisions
are each replaced whole or not at all: the new bytes go to a temporary file
in the same directory, are fsync'd, take their mode, replace the old file
with ``rename``, and the directory entry is fsync'd too, so that after
``kill -9`` or a power cut the path holds the old content or the new, never
a mixture (STYLE: durable before acknowledged).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data``, durably; the file gets ``mode`` (private by default).

    Raises:
        OSError: the directory cannot be written, or the disk is full; ``path``
            is then as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
