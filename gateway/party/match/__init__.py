"""``gateway match``: find the family's report for each child of a dossier (SPEC §11).

The party's own tool; no server is involved. The registry is read as a
stream (:mod:`.registry`), indexed for blocking (:mod:`.linker`), and each
record is compared field by field with its candidates (:mod:`.compare`)
using the name knowledge of :mod:`gateway.protocol.names`.

The tool proposes; an official decides. A score is a probability that the
two are the same child under the tool's model, not a confirmation
(docs/matching.md says what to check before confirming).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.party.match.linker import Linker
from gateway.party.match.profile import from_record
from gateway.party.match.registry import RegistryError, read_registry, unique_reports
from gateway.protocol.errors import EXIT_USAGE, BadRequest, LocalError

# Chosen on the development seed of bench/match_corpus.py as the threshold with
# the highest precision, then the highest recall (docs/matching.md).
DEFAULT_THRESHOLD = 0.8
DEFAULT_TOP = 5  # SPEC §11


class RecordsError(LocalError):
    """A records file cannot be read; the command line exits 2 like for the registry."""

    exit_code = EXIT_USAGE  # SPEC §11: a bad registry or records file exits 2


def load_records(path: Path) -> list[dict[str, Any]]:
    """The records of one file: an extraction document or a list of records.

    Raises:
        RecordsError: the file is unreadable, not JSON, or holds neither form.
    """
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise RecordsError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise RecordsError(
            f"{path} is not JSON; give the output of gateway extract or a pulled records.json"
        ) from None
    records = document.get("records") if isinstance(document, dict) else document
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise RecordsError(
            f"{path} holds neither an extraction document (an object with records)"
            " nor a list of records"
        )
    return records


def run(
    registry: Path,
    record_files: Sequence[Path],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    top: int = DEFAULT_TOP,
) -> dict[str, Any]:
    """Match every record of ``record_files`` against ``registry``: the JSON of SPEC §11.

    Raises:
        RegistryError: the registry is not UTF-8, lacks a column or has a bad row.
        RecordsError: a records file cannot be read.
        BadRequest: ``threshold`` is outside 0..1 or ``top`` is below 1.
    """
    if not 0.0 <= threshold <= 1.0:
        raise BadRequest("--threshold is a probability between 0 and 1")
    if top < 1:
        raise BadRequest("--top is at least 1")
    records = [r for path in record_files for r in load_records(path)]
    linker = Linker(unique_reports(read_registry(registry), registry))
    profiles = [from_record(record) for record in records]
    matches = []
    for record, found in zip(
        records, linker.match_all(profiles, threshold=threshold, top=top), strict=True
    ):
        matches.append(
            {
                "record_id": record.get("record_id"),
                "case_id": record.get("case_id"),
                "candidates": [
                    {"report_id": c.report_id, "score": c.score, "fields": c.fields}
                    for c in found
                ],
            }
        )
    return {
        "registry": {"path": str(registry), "rows": linker.rows},
        "threshold": threshold,
        "matches": matches,
    }


__all__ = ["DEFAULT_THRESHOLD", "DEFAULT_TOP", "RecordsError", "RegistryError", "run"]
