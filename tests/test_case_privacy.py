"""After the demo's case story, nothing a monitor can fetch holds a child's data.

The story of ``gateway demo`` (eight children, reported, verified and
disputed, answered, found, in contact, returned and reunited) runs against a
real gateway. Then every answer a monitor can get (the log, its proofs, the
receipts, the cases, the figures, the parties' keys) plus the monitor's own
output and state is searched, JWS payloads decoded, for every name, place
and date of birth of those children in every form: as written, as the
extractor read them (Latin transliteration, ISO dates), JSON-escaped,
URL-quoted and base64-encoded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.cli.demo import sample_pdf
from gateway.cli.story import CHILDREN, StoryResult, run_story
from tests.conftest import Exchange
from tests.harness import get, http, run_cli, wait_for
from tests.test_log_api import assert_no_secrets, decoded_jws, signed_size

MIN_SECRET_CHARS = 5  # shorter values ("2012", "ж") occur in ids and hashes by chance

IDENTIFYING = ("family_name", "given_name", "patronymic", "birth_date", "birth_place",
               "displacement_place", "current_location", "guardian")  # fmt: skip


def story(exchange: Exchange, work: Path) -> StoryResult:
    gw = exchange.gw

    async def run() -> StoryResult:
        async with (
            gw.client(exchange.ua) as ua,
            gw.client(exchange.ru) as ru,
        ):
            return await run_story({"ua": ua, "ru": ru}, work, sample_pdf, lambda _: None)

    return asyncio.run(run())


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)


def secrets_of(work: Path) -> list[str]:
    """Every identifying value as written on the forms and as the extractor read it."""
    found = {value for child in CHILDREN for _, value in child}
    for records in (work / "inbox" / "ua").glob("*/records.json"):
        for record in json.loads(records.read_text()):
            for member in IDENTIFYING:
                found |= set(walk_strings(record.get(member)))
            found |= set(walk_strings(record.get("latin")))
            found |= set(walk_strings(record.get("family_contacts")))
    return sorted(s for s in found if len(s) >= MIN_SECRET_CHARS)


def test_nothing_a_monitor_can_fetch_after_the_story_holds_a_childs_data(
    exchange: Exchange, tmp_path: Path
) -> None:
    gw, mon = exchange.gw, exchange.mon
    result = story(exchange, tmp_path)
    secrets = secrets_of(tmp_path)
    assert "Шевчук" in secrets and "Shevchuk" in secrets and "2007-08-03" in secrets
    wait_for(lambda: signed_size(gw, mon) > result.last_log_index, timeout=30)

    state = tmp_path / "mon.json"
    args = ["--gateway", gw.url, "--id", "mon", "--keys", str(mon.prefix), "--state", str(state)]
    audit = run_cli("monitor", *args, "--once", "--json", check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    table = run_cli("monitor", *args, "--once", check=False)
    assert "8 reunited in the last 24 h" in table.stdout

    size = signed_size(gw, mon)
    listing = get(gw, mon, "/v1/cases?after=0&limit=1000").json()
    assert {i["case_id"] for i in listing["items"]} == set(result.case_ids)
    paths = [
        "/v1/log/checkpoint",
        f"/v1/log/entries?start=0&end={size}",
        f"/v1/log/proof/consistency?from=1&to={size}",
        "/v1/receipts?after=0&limit=1000",
        "/v1/cases?after=0&limit=1000",
        "/v1/stats",
        "/v1/parties/ua",
        "/v1/parties/ru",
        "/v1/parties/mon",
        *(f"/v1/cases/{case_id}" for case_id in result.case_ids),
        *(f"/v1/packets/{packet_id}" for packet_id in result.dossiers),  # refused to monitors
        *(f"/v1/log/proof/inclusion?index={i}&size={size}" for i in range(size)),
    ]
    seen = [http("GET", gw.url + "/v1/gateway").body.decode()]
    seen += [get(gw, mon, path).body.decode() for path in paths]
    seen += [audit.stdout, audit.stderr, table.stdout, table.stderr, state.read_text()]
    seen += decoded_jws("\n".join(seen))
    surface = "\n".join(seen)
    assert '"event":"REUNITED"' in surface  # the case events were read, decoded
    assert_no_secrets(surface, secrets)
