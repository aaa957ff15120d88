"""What the console shows of the dossiers it pulled: read from the pull's folders.

``gateway.party.pull`` writes one folder per verified packet under
``DIR/inbox`` (manifest, extraction document, records, parts, photos); this
module only reads them. Nothing here trusts a path from a request: packet
ids must be UUIDs of folders that exist, part names must be listed in that
packet's manifest, photos must be named by their SHA-256.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.protocol.errors import NotFound

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# Below this a field is marked for the official to check against the page,
# when the record does not list what to check (``review``) itself.
LOW_CONFIDENCE = 0.8
FIELDS = (
    "family_name", "given_name", "patronymic", "sex", "birth_date", "birth_place",
    "displacement_date", "displacement_place", "current_location", "guardian",
    "services.medical", "services.psychological", "services.social", "services.education",
)
NAME_FIELDS = ("family_name", "given_name", "patronymic")
RELATIONS = ("mother", "father", "sibling", "grandparent", "other")  # SPEC §4.1


@dataclass(frozen=True, slots=True)
class Child:
    """One record of a pulled dossier, as the inbox lists it."""

    packet_id: str
    record_id: str
    case_id: str | None
    name: str
    birth_date: str | None
    aged_out: bool


@dataclass(frozen=True, slots=True)
class Dossier:
    """One pulled packet."""

    packet_id: str
    sender: str
    kind: str
    created: str
    children: tuple[Child, ...]
    in_reply_to: str | None = None
    verification: dict[str, Any] | None = None  # a verification packet's body (SPEC §10)
    # The extraction's warnings and errors (a child's block that became no
    # record, a page to transcribe by hand): free of personal data (SPEC §4).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Field:
    """One member of a record with what the official must know about it."""

    member: str
    value: str | None
    page: int | None
    bbox: tuple[float, float, float, float] | None
    confidence: float | None
    low: bool  # for the official to check against the page
    inferred: bool
    corrected: bool
    read_again: bool = False  # found by a second reading of the page's region
    label: str = ""  # the message key of its label; "field.<member>" unless set

    @property
    def label_key(self) -> str:
        return self.label or f"field.{self.member}"


def display_name(record: dict[str, Any]) -> str:
    parts = [str(record[m]) for m in NAME_FIELDS if record.get(m)]
    if parts:
        return " ".join(parts)
    latin = record.get("latin") or {}
    return " ".join(str(latin[m]) for m in NAME_FIELDS if latin.get(m)) or "—"


def _value(record: dict[str, Any], member: str) -> Any:
    value: Any = record
    for step in member.split("."):
        value = value.get(step) if isinstance(value, dict) else None
    return value


def record_fields(record: dict[str, Any]) -> list[Field]:
    """The fields of a record in display order, with provenance and marks.

    Family contacts follow the fixed members, one row each, labelled by
    relation, with the provenance the extractor gives ``family_contacts.<i>``.
    """
    provenance = record.get("provenance") or {}
    # The extractor's own list of what to check (calibrated, SPEC §4.1); a
    # plugin that gives none is judged by confidence alone.
    review = record.get("review")
    listed = set(review) if isinstance(review, list) else None
    out = []
    members: list[tuple[str, Any, str]] = [(m, _value(record, m), "") for m in FIELDS]
    contacts = record.get("family_contacts")
    for i, contact in enumerate(contacts if isinstance(contacts, list) else []):
        if not isinstance(contact, dict):
            continue
        text = ", ".join(str(contact[k]) for k in ("name", "place", "phone") if contact.get(k))
        relation = contact.get("relation")
        label = f"relation.{relation}" if relation in RELATIONS else "relation.other"
        members.append((f"family_contacts.{i}", text or None, label))
    for member, value, label in members:
        prov = provenance.get(member) or {}
        bbox = prov.get("bbox")
        confidence = prov.get("confidence")
        out.append(
            Field(
                member=member,
                value=None if value is None else str(value),
                page=prov.get("page") if isinstance(prov.get("page"), int) else None,
                bbox=tuple(float(v) for v in bbox) if isinstance(bbox, list) and len(bbox) == 4
                else None,  # type: ignore[arg-type]
                confidence=float(confidence) if isinstance(confidence, int | float) else None,
                low=member in listed if listed is not None
                else isinstance(confidence, int | float) and confidence < LOW_CONFIDENCE,
                inferred=bool(prov.get("inferred")),
                corrected=bool(prov.get("corrected")),
                read_again=bool(prov.get("read_again")),
                label=label,
            )
        )
    return out


class Inbox:
    """The pulled dossiers under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, packet_id: str) -> Path:
        """Raises: NotFound: not a UUID or no such pulled packet."""
        if not UUID_RE.match(packet_id) or not (self.root / packet_id / "manifest.json").is_file():
            raise NotFound("no such dossier in this console's inbox")
        return self.root / packet_id

    def _read(self, packet_id: str, name: str) -> Any:
        return json.loads((self.folder(packet_id) / name).read_text(encoding="utf-8"))

    def manifest(self, packet_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._read(packet_id, "manifest.json")
        return result

    def records(self, packet_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._read(packet_id, "records.json")
        return result

    def notes(self, packet_id: str, part: str | None = None) -> tuple[str, ...]:
        """The extraction's warnings then errors; with ``part``, those that name it."""
        try:
            doc = self._read(packet_id, "extraction.json")
        except FileNotFoundError:
            return ()
        notes = [n for key in ("warnings", "errors") for n in doc.get(key) or []
                 if isinstance(n, str)]  # fmt: skip
        if part is not None:
            notes = [n for n in notes if n.startswith((f"part {part},", f"part {part}:"))]
        return tuple(notes)

    def record(self, packet_id: str, record_id: str) -> dict[str, Any]:
        """Raises: NotFound: no such record in that dossier."""
        for record in self.records(packet_id):
            if record.get("record_id") == record_id:
                return record
        raise NotFound("no such record in this dossier")

    def dossiers(self) -> list[Dossier]:
        """Every pulled packet, newest first."""
        out: list[Dossier] = []
        if not self.root.is_dir():
            return out
        for folder in self.root.iterdir():
            if not UUID_RE.match(folder.name) or not (folder / "manifest.json").is_file():
                continue
            manifest = self.manifest(folder.name)
            children = tuple(
                Child(
                    packet_id=folder.name,
                    record_id=str(r.get("record_id")),
                    case_id=r.get("case_id"),
                    name=display_name(r),
                    birth_date=r.get("birth_date"),
                    aged_out=bool((r.get("age") or {}).get("turned_18_since_displacement")),
                )
                for r in self.records(folder.name)
            )
            out.append(
                Dossier(
                    packet_id=folder.name,
                    sender=str(manifest.get("sender")),
                    kind=str(manifest.get("kind")),
                    created=str(manifest.get("created")),
                    children=children,
                    in_reply_to=manifest.get("in_reply_to"),
                    verification=manifest.get("body") if manifest.get("kind") == "verification"
                    and isinstance(manifest.get("body"), dict) else None,
                    notes=self.notes(folder.name),
                )
            )
        out.sort(key=lambda d: d.created, reverse=True)
        return out

    def part_path(self, packet_id: str, part: str) -> Path:
        """Raises: NotFound: the manifest lists no such part."""
        names = {p["name"] for p in self.manifest(packet_id).get("parts", [])}
        if part not in names:
            raise NotFound("no such part in this dossier")
        return self.folder(packet_id) / "parts" / part

    def photo_path(self, packet_id: str, sha256: str) -> Path:
        """Raises: NotFound: not a digest, or no such photo."""
        if not SHA256_RE.match(sha256):
            raise NotFound("no such photo")
        folder = self.folder(packet_id) / "photos"
        for path in folder.glob(f"{sha256}.*"):
            return path
        raise NotFound("no such photo")
