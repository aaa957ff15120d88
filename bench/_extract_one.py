"""The process ``ocr_throughput --memory`` measures: one engine extracting one part.

It imports what the gateway's extraction worker imports (the engine) and
nothing of the benchmark, so the measured tree is the caller, the fork
server, the sandbox, its page workers and their Tesseract processes.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from gateway.pluginspec import Limits, PartInput
from gateway.server.ingestion import Ingestor


def main(path: Path, workers: int) -> int:
    with Ingestor(["documents"], Limits(document_timeout_s=3600), workers) as engine:
        result = engine.extract([PartInput(path.name, "application/pdf", path,
                                           date(2026, 3, 1))])
    if result.errors:
        print("memory: errors:", result.errors, file=sys.stderr)
        return 1
    print(f"memory: {len(result.pages)} pages, {len(result.photos)} photos "
          f"({sum(len(p.photo.data) for p in result.photos) / 1e6:.1f} MB), "
          f"{len(result.records)} records", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2])))
