"""Extraction inside the gateway (SPEC §4): real Tesseract, real processes.

A dossier goes in; the recipient gets a gateway-signed extraction document
with every child's record and photo, and ``gateway pull`` writes the records
beside the files. Hostile parts end as errors in the document while the
packet is still delivered and the gateway keeps serving.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.party.pull import Puller
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.digest import sha256_hex
from gateway.protocol.crypto.keys import PublicKey
from gateway.protocol.media import Sniffer
from gateway.protocol.schemas import validate_extraction
from tests.conftest import Exchange, running_exchange
from tests.dossiers import Hostile, ScanStyle, hostile_inputs, make_dossier
from tests.harness import (
    GatewayProcess,
    Party,
    get,
    http,
    make_packet,
    post_packet,
    wait_for,
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    tmp = tmp_path_factory.mktemp("extraction")
    with running_exchange(tmp, {"extraction_timeout_s": 120}) as ex:
        yield ex


def _ready(gw: GatewayProcess, party: Party, packet_id: str) -> None:
    wait_for(lambda: get(gw, party, f"/v1/packets/{packet_id}").json()["status"] == "READY",
             timeout=180)


def _pull(gw: GatewayProcess, party: Party, out: Path) -> list[dict[str, object]]:
    async def run() -> list[dict[str, object]]:
        async with gw.client(party) as client:
            results = await Puller(client).pull(out)
        return [{"packet_id": r.packet_id, "level": r.level, "folder": r.folder,
                 "records": r.records, "photos": r.photos, "reason": r.reason}
                for r in results]

    return asyncio.run(run())


def test_a_dossier_arrives_with_its_children_records_and_photos(
    gateway: Exchange, tmp_path: Path
) -> None:
    born = make_dossier(101, lang="uk", layout="left", children=2, bilingual=True)
    scan = make_dossier(102, lang="ru", layout="table", scan=ScanStyle(dpi=300))
    packet = make_packet(gateway.ua, "ru", [
        (born.filename, born.media_type, born.data),
        (scan.filename, scan.media_type, scan.data),
    ])
    assert post_packet(gateway.gw, gateway.ua, packet).status == 202
    _ready(gateway.gw, gateway.ru, packet.packet_id)

    (result,) = [r for r in _pull(gateway.gw, gateway.ru, tmp_path)
                 if r["packet_id"] == packet.packet_id]
    assert result["level"] == "DELIVERED", result["reason"]
    folder = Path(str(result["folder"]))

    # The document is the gateway's, bound to this envelope, and schema-valid.
    compact = (folder / "extraction.jws").read_text().strip()
    key = PublicKey.from_jwk(http("GET", gateway.gw.url + "/v1/gateway").json()["keys"][0])
    doc = json.loads(jws.verify(jws.parse(compact, typ=jws.TYP_EXTRACTION), key).payload)
    validate_extraction(doc)
    assert doc["envelope_sha256"] == sha256_hex(packet.envelope)
    assert doc["errors"] == []
    assert doc["extractors"] == {"documents": doc["extractors"]["documents"]}

    records = json.loads((folder / "records.json").read_text())
    expected = [c.truth() for c in born.children + scan.children]
    assert [(r["family_name"], r["given_name"], r["birth_date"]) for r in records] == [
        (t["family_name"], t["given_name"], t["birth_date"]) for t in expected]
    assert [r["source"]["method"] for r in records] == ["text", "text", "ocr"]
    methods = {(p["part"], p["method"]) for p in doc["pages"]}
    assert methods == {(born.filename, "text"), (scan.filename, "ocr")}

    # Every child has a photo; every photo was delivered and matches its digest.
    assert all(len(r["photos"]) == 1 for r in records)
    for r in records:
        (digest,) = r["photos"]
        (photo,) = (folder / "photos").glob(f"{digest}.*")
        assert sha256_hex(photo.read_bytes()) == digest


def _passes_sniffing(hostile: Hostile) -> bool:
    sniffer = Sniffer(hostile.media_type)
    sniffer.feed(hostile.data)
    return bool(hostile.data) and sniffer.matches()


def test_hostile_parts_end_as_errors_and_the_gateway_keeps_serving(
    gateway: Exchange, tmp_path: Path
) -> None:
    # Those that pass intake (a real PDF/PNG/... header); the others never get this far.
    cases = [h for h in hostile_inputs() if not h.warning and _passes_sniffing(h)]
    assert len(cases) >= 3, "the generator makes hostile inputs with valid headers"
    packet = make_packet(gateway.ua, "ru", [(h.filename, h.media_type, h.data) for h in cases])
    assert post_packet(gateway.gw, gateway.ua, packet).status == 202
    _ready(gateway.gw, gateway.ru, packet.packet_id)

    view = get(gateway.gw, gateway.ua, f"/v1/packets/{packet.packet_id}").json()
    assert view["status"] == "READY"
    results = _pull(gateway.gw, gateway.ru, tmp_path)
    (result,) = [r for r in results if r["packet_id"] == packet.packet_id]
    assert result["level"] == "DELIVERED"
    doc = json.loads((Path(str(result["folder"])) / "extraction.json").read_text())
    assert doc["records"] == []
    failed = {h.filename for h in cases}
    assert all(any(name in e for e in doc["errors"]) for name in failed), doc["errors"]
    assert http("GET", gateway.gw.url + "/readyz").status == 200
