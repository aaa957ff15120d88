"""The local access log: which official opened which child's record, and when.

One JSON line per opening in ``DIR/access.log`` (mode 0600), appended and
flushed before the record is shown: ``{"at","official","packet_id",
"record_id","case_id"}``. Ids only, no name; it stays on the party's
machine and is never sent to the gateway or a monitor.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gateway.protocol.clock import format_time, now

ACCESS_LOG = "access.log"


class AccessLog:
    """Appends openings of records to one local file."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / ACCESS_LOG

    def opened(self, official: str, packet_id: str, record_id: str, case_id: str | None) -> None:
        line = json.dumps(
            {
                "at": format_time(now()),
                "official": official,
                "packet_id": packet_id,
                "record_id": record_id,
                "case_id": case_id,
            },
            separators=(",", ":"),
        )
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, object]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]
