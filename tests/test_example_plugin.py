"""The worked example plugin, installed like a partner would, run by a real gateway.

``examples/dxg-example-cards`` is built and installed into a directory of
its own (pip, no network), the gateway process gets it on its path and allows
it in its configuration, and a card PDF sent through the gateway comes out as
a record in the recipient's extraction document. Nothing in the gateway names
the plugin: it is found through the ``dxg.extractors`` entry point.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pymupdf

from gateway.party.pull import Puller
from tests.harness import get, make_packet, post_packet, start_gateway, wait_for

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dxg-example-cards"
CARD_LINES = (
    "DXG-CARD v1",
    "family_name = Moroz",
    "given_name = Olena",
    "sex = F",
    "birth_date = 2011-07-09",
    "displacement_date = 2022-03-20",
    "current_location = Lviv",
)


def _card_pdf() -> bytes:
    doc = pymupdf.open()
    page = doc.new_page()
    for i, line in enumerate(CARD_LINES):
        page.insert_text((72, 72 + 16 * i), line)
    data: bytes = doc.tobytes()
    return data


def test_the_example_plugin_runs_through_the_gateway(tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(site), str(EXAMPLE)],
        check=True, capture_output=True, timeout=300,
    )
    assert list(site.glob("dxg_example_cards-*.dist-info/entry_points.txt"))

    gw = start_gateway(tmp_path, config={"extractors": ["documents", "example-cards"]})
    gw.env = {"PYTHONPATH": str(site)}
    ua, ru = gw.add_party("ua"), gw.add_party("ru")
    gw.start()
    try:
        packet = make_packet(ua, "ru", [("card.pdf", "application/pdf", _card_pdf())])
        assert post_packet(gw, ua, packet).status == 202
        wait_for(lambda: get(gw, ru, f"/v1/packets/{packet.packet_id}").json()["status"]
                 == "READY", timeout=120)

        async def pull() -> Path:
            async with gw.client(ru) as client:
                (result,) = await Puller(client).pull(tmp_path / "inbox")
            assert result.level == "DELIVERED", result.reason
            assert result.folder is not None
            return result.folder

        folder = asyncio.run(pull())
        doc = json.loads((folder / "extraction.json").read_text())
        assert doc["extractors"]["example-cards"] == "1.0.0"
        assert "documents" in doc["extractors"]
        # The plugin's record, by its own record_id scheme (the built-in parser
        # reads the card too: "family_name = Moroz" is an English label to it).
        plugin_id = hashlib.sha256(b"card.pdf/1/0").hexdigest()[:32]
        cards = [r for r in doc["records"] if r["record_id"] == plugin_id]
        assert len(cards) == 1
        (card,) = cards
        assert (card["given_name"], card["sex"], card["birth_date"]) == (
            "Olena", "female", "2011-07-09")
        assert card["age"]["at_displacement"] == 10
        assert card["provenance"]["family_name"]["page"] == 1
    finally:
        gw.stop()
