"""The monitor and case events (SPEC §10): checked from the log, figures recomputed.

Unit tests feed :func:`gateway.monitor.cases.audit_cases` real signed entries
that break one rule each; the end-to-end test runs ``gateway monitor`` (its
own process) against a real gateway, clean, and then after the gateway's
records of one event were tampered with so its figures no longer follow
from the log.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.monitor import cases as monitor_cases
from gateway.protocol import case
from gateway.protocol.case import CaseEvent
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import SigningKey
from gateway.protocol.receipt import sign_receipt
from gateway.protocol.stats import Policy
from gateway.protocol.trust import RegisteredKey
from tests.harness import get, wait_for
from tests.test_cases import World, drive, send_dossier
from tests.test_cases import world as world  # noqa: PLC0414 - the module fixture, reused
from tests.test_monitor import MONITOR_EXIT_FAILED, monitor

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
CASE = "11111111-2222-4333-8444-555555555555"


class Keys:
    def __init__(self) -> None:
        self.holder, self.home = SigningKey.generate(), SigningKey.generate()

    def parties(self) -> dict[str, list[RegisteredKey] | None]:
        return {"ua": [RegisteredKey(self.holder.public)], "ru": [RegisteredKey(self.home.public)]}

    def event(self, name: str, at: datetime = T0, **over: Any) -> bytes:
        issuer = "ru" if case.TABLE[name].side is case.Side.HOME else "ua"
        members: dict[str, Any] = {
            "event_id": str(uuid.uuid4()), "case_id": CASE, "event": name, "issuer": issuer,
            "holder": "ua", "home": "ru", "issued_at": at, "aged_out": False,
        }  # fmt: skip
        if name in case.RESULT_OF or name == case.REPORTED:
            members |= {"packet_id": str(uuid.uuid4()), "record_id": "r1"}
        if name in (case.DISPUTED, case.CLOSED):
            members["reason"] = "other"
        members |= over
        key = self.home if members["issuer"] == "ru" else self.holder
        return case.sign(CaseEvent(**members), key).compact.encode("ascii")


@pytest.fixture
def keys() -> Iterator[Keys]:
    yield Keys()


def kinds(audit: monitor_cases.CaseAudit) -> list[tuple[str, int | None]]:
    return [(f.kind, f.log_index) for f in audit.findings]


def test_legal_events_pass_and_receipts_are_skipped(keys: Keys) -> None:
    receipt = sign_receipt(
        keys.holder, level="ACCEPTED", packet_id=str(uuid.uuid4()), issuer="gw", sender="ua",
        recipient="ru", envelope_sha256="0" * 64, parts=[], extraction_sha256=None, reason=None,
    ).encode()  # fmt: skip
    entries = [receipt, keys.event(case.REPORTED), receipt, keys.event(case.VERIFIED)]
    audit = monitor_cases.audit_cases(entries, keys.parties(), Policy())
    assert audit.findings == []
    assert audit.events == 2
    doc = audit.stats.figures(as_of=T0, log_size=len(entries))
    assert doc["pairs"][0]["cases"]["VERIFIED"] == 1


def test_an_illegal_step_in_the_log_is_a_case_chain_finding(keys: Keys) -> None:
    entries = [keys.event(case.REPORTED), keys.event(case.REUNITED)]
    audit = monitor_cases.audit_cases(entries, keys.parties(), Policy())
    assert kinds(audit) == [("case-chain", 1)]
    assert "is REPORTED" in audit.findings[0].message
    assert audit.events == 1  # the illegal step is not counted


def test_a_wrong_side_and_a_repeated_event_id_are_case_chain_findings(keys: Keys) -> None:
    first = keys.event(case.REPORTED)
    event_id = json.loads(jws.parse(first, typ=jws.TYP_CASE).payload)["event_id"]
    entries = [
        first,
        keys.event(case.VERIFIED, issuer="ua"),
        keys.event(case.CLOSED, event_id=event_id),
    ]
    audit = monitor_cases.audit_cases(entries, keys.parties(), Policy())
    assert kinds(audit) == [("case-chain", 1), ("case-chain", 2)]
    assert "issued by the home side" in audit.findings[0].message
    assert "appears again" in audit.findings[1].message


def test_bad_signatures_keys_and_payloads_are_findings(keys: Keys) -> None:
    good = keys.event(case.REPORTED)
    head, body, sig = good.split(b".")
    forged = head + b"." + body + b"." + sig[:-4] + b"AAAA"
    stranger = case.sign(
        CaseEvent(event_id=str(uuid.uuid4()), case_id=CASE, event="REPORTED", issuer="by",
                  holder="by", home="ru", issued_at=T0, aged_out=False,
                  packet_id=str(uuid.uuid4()), record_id="r1"),
        SigningKey.generate(),
    ).compact.encode()  # fmt: skip
    claims = json.loads(jws.parse(good, typ=jws.TYP_CASE).payload) | {"given_name": "Олена"}
    extra = jws.sign_json(claims, keys.holder, typ=jws.TYP_CASE).encode()
    parties = keys.parties() | {"by": None}
    parties["ua"] = [replace(RegisteredKey(keys.holder.public), revoked_at=T0 - timedelta(days=1))]
    audit = monitor_cases.audit_cases([forged, stranger, extra], parties, Policy())
    assert kinds(audit) == [("case-key", 0), ("case-key", 1), ("case-key", 2)]
    assert "revoked" in audit.findings[0].message
    audit = monitor_cases.audit_cases([forged, extra], keys.parties(), Policy())
    assert kinds(audit) == [("case-signature", 0), ("case-format", 1)]
    assert "Олена" not in audit.findings[1].message


def test_compare_stats_names_each_differing_figure() -> None:
    keys = Keys()
    audit = monitor_cases.audit_cases([keys.event(case.REPORTED)], keys.parties(), Policy())
    mine = audit.stats.figures(as_of=T0, log_size=1)
    assert monitor_cases.compare_stats(mine, mine) == []
    served = json.loads(json.dumps(mine))
    served["pairs"][0]["cases"]["REPORTED"] = 0
    served["pairs"][0]["cases"]["VERIFIED"] = 1
    found = monitor_cases.compare_stats(served, mine)
    assert [f.kind for f in found] == ["case-stats", "case-stats"]
    assert ".cases.REPORTED: the gateway says 0, the log gives 1" in found[0].message
    served["pairs"] = []
    assert "leaves out cases" in monitor_cases.compare_stats(served, mine)[0].message


# --- end to end -----------------------------------------------------------------------------


def test_the_monitor_recomputes_the_figures_and_catches_tampered_records(world: World) -> None:
    records = send_dossier(world, world.ua, world.ru, children=2)
    drive(world, records[0], case.REUNITED)
    drive(world, records[1], case.DISPUTED)

    def reunion_signed() -> bool:
        pairs = json.loads(get(world.gw, world.mon, "/v1/stats").body)["pairs"]
        return any(p["home"] == "ru" and p["cases"]["REUNITED"] for p in pairs)

    wait_for(reunion_signed)  # the last event is under a signed checkpoint

    clean = monitor(world.gw, world.mon, "--json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    report = json.loads(clean.stdout)
    assert report["findings"] == []
    assert report["case_events"] >= 6
    pairs = {(p["holder"], p["home"]): p for p in report["cases"]["pairs"]}
    assert pairs[("ua", "ru")]["cases"]["REUNITED"] >= 1
    table = monitor(world.gw, world.mon)
    assert "recomputed from the log" in table.stdout and "ua -> ru" in table.stdout

    # An insider moves the gateway's record of the REUNITED event two days back:
    # the log still holds the signed event, so the figures no longer follow from it.
    world.gw.stop()
    db = sqlite3.connect(world.gw.root / "dxg.sqlite3")
    with db:
        db.execute(
            "UPDATE case_events SET issued_at = '2020-01-01T00:00:00+00:00'"
            " WHERE case_id = ? AND event = 'REUNITED'",
            (records[0].case_id,),
        )
    db.close()
    world.gw.start()
    tampered = monitor(world.gw, world.mon, "--json")
    assert tampered.returncode == MONITOR_EXIT_FAILED, tampered.stderr
    findings = json.loads(tampered.stdout)["findings"]
    assert findings and {f["kind"] for f in findings} == {"case-stats"}
    assert any("reunited_last_24h" in f["message"] for f in findings)
