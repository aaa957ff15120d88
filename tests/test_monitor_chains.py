"""The monitor's receipt rules, on receipts signed here: keys, chains and the report.

No gateway is needed: these are the checks ``gateway monitor`` runs over the
entries it fetched, fed with entries made for each rule.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.monitor.audit import (
    Finding,
    KeyDirectory,
    ReceiptFacts,
    check_chains,
    check_receipt,
)
from gateway.monitor.report import nearest_rank, pair_stats
from gateway.protocol.crypto.keys import SigningKey
from gateway.protocol.receipt import sign_receipt
from gateway.protocol.trust import RegisteredKey

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
GW, RU, UA = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
ENVELOPE = "ab" * 32
PARTS = [("note.txt", "cd" * 32)]
EXTRACTION = "ef" * 32


def directory(**ru_window: datetime) -> KeyDirectory:
    return KeyDirectory(
        gateway_id="gw",
        gateway_keys=[GW.public],
        parties={
            "ru": [RegisteredKey(RU.public, **ru_window)],
            "ua": [RegisteredKey(UA.public)],
        },
    )


def receipt(level: str, packet_id: str, *, at: datetime, **over: Any) -> bytes:
    issuer = over.pop("issuer", "gw" if level in ("ACCEPTED", "EXPIRED") else "ru")
    key = over.pop("key", None) or {"gw": GW, "ru": RU, "ua": UA}[issuer]
    fields: dict[str, Any] = {
        "level": level,
        "packet_id": packet_id,
        "issuer": issuer,
        "sender": "ua",
        "recipient": "ru",
        "envelope_sha256": ENVELOPE,
        "parts": PARTS,
        "extraction_sha256": None if level in ("ACCEPTED", "EXPIRED") else EXTRACTION,
        "reason": "refused" if level in ("REJECTED", "EXPIRED") else None,
        "at": at,
    }
    fields.update(over)
    return sign_receipt(key, **fields).encode("ascii")


def audit(
    entries: list[bytes], keys: KeyDirectory | None = None
) -> tuple[list[Finding], list[ReceiptFacts]]:
    findings: list[Finding] = []
    facts: list[ReceiptFacts] = []
    for index, entry in enumerate(entries):
        checked = check_receipt(index, entry, keys or directory())
        if isinstance(checked, Finding):
            findings.append(checked)
        else:
            facts.append(checked)
    return findings, facts


def chain_findings(*entries: bytes) -> list[str]:
    findings, facts = audit(list(entries))
    assert findings == []
    return [f.message for f in check_chains(facts, "gw")[0]]


def new_id() -> str:
    return str(uuid.uuid4())


def test_a_complete_chain_is_clean_and_counted() -> None:
    p, q, r = new_id(), new_id(), new_id()
    entries = [
        receipt("ACCEPTED", p, at=T0),
        receipt("ACCEPTED", q, at=T0),
        receipt("ACCEPTED", r, at=T0),
        receipt("DELIVERED", p, at=T0 + timedelta(seconds=10)),
        receipt("PROCESSED", p, at=T0 + timedelta(seconds=60)),
        receipt("EXPIRED", q, at=T0 + timedelta(days=14)),
        receipt("REJECTED", r, at=T0 + timedelta(seconds=5)),
    ]
    findings, facts = audit(entries)
    assert findings == []
    problems, chains = check_chains(facts, "gw")
    assert problems == []
    (stats,) = pair_stats(chains, at=T0 + timedelta(days=15), overdue_after_s=3600)
    assert (stats.sender, stats.recipient, stats.packets) == ("ua", "ru", 3)
    assert (stats.delivered, stats.processed, stats.rejected, stats.expired) == (1, 1, 1, 1)
    assert (stats.pending, stats.overdue) == (0, 1)  # the expired one; rejected is not overdue
    assert stats.median_s == stats.p95_s == 10


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ({"level": "DELIVERED", "issuer": "ua"}, "DELIVERED is issued by 'ua', not by 'ru'"),
        ({"level": "EXPIRED", "issuer": "ru"}, "EXPIRED is issued by 'ru', not by 'gw'"),
        ({"level": "DELIVERED", "envelope_sha256": "00" * 32}, "another envelope_sha256"),
        ({"level": "DELIVERED", "parts": [("note.txt", "00" * 32)]}, "other parts"),
        ({"level": "DELIVERED", "parts": []}, "other parts"),
        ({"level": "DELIVERED", "sender": "ru", "recipient": "ua"}, "names other parties"),
        ({"level": "PROCESSED"}, "PROCESSED cannot follow ACCEPTED"),
        ({"level": "ACCEPTED"}, "a second ACCEPTED receipt"),
    ],
)
def test_a_chain_that_breaks_a_rule_is_named(second: dict[str, Any], message: str) -> None:
    p = new_id()
    level = second.pop("level")
    found = chain_findings(
        receipt("ACCEPTED", p, at=T0), receipt(level, p, at=T0 + timedelta(seconds=1), **second)
    )
    assert len(found) == 1
    assert found[0].startswith(f"packet {p}: ")
    assert message in found[0]


def test_nothing_may_follow_expired_or_come_twice() -> None:
    p, q = new_id(), new_id()
    found = chain_findings(
        receipt("ACCEPTED", p, at=T0),
        receipt("EXPIRED", p, at=T0),
        receipt("DELIVERED", p, at=T0),
        receipt("ACCEPTED", q, at=T0),
        receipt("DELIVERED", q, at=T0),
        receipt("DELIVERED", q, at=T0),
    )
    assert [m.split(": ", 1)[1] for m in found] == [
        "DELIVERED cannot follow ACCEPTED -> EXPIRED",
        "DELIVERED cannot follow ACCEPTED -> DELIVERED",
    ]


def test_a_chain_must_start_with_the_gateways_accepted() -> None:
    p, q = new_id(), new_id()
    found = chain_findings(
        receipt("DELIVERED", p, at=T0),
        receipt("ACCEPTED", q, at=T0, issuer="ru"),
    )
    assert "its first verified receipt is DELIVERED, not ACCEPTED" in found[0]
    assert "ACCEPTED is issued by 'ru', not the gateway 'gw'" in found[1]


def test_processed_names_the_delivered_extraction() -> None:
    p = new_id()
    found = chain_findings(
        receipt("ACCEPTED", p, at=T0),
        receipt("DELIVERED", p, at=T0),
        receipt("PROCESSED", p, at=T0, extraction_sha256="00" * 32),
    )
    assert found == [f"packet {p}: PROCESSED names another extraction_sha256 than DELIVERED"]


def test_the_same_receipt_twice_is_named() -> None:
    p = new_id()
    accepted = receipt("ACCEPTED", p, at=T0)
    found = chain_findings(accepted, accepted)
    assert found == [f"packet {p}: " + found[0].split(": ", 1)[1]]
    assert "appears again (first at log index 0)" in found[0]


@pytest.mark.parametrize(
    ("window", "problem"),
    [
        ({"revoked_at": T0 - timedelta(hours=1)}, "revoked at 2026-03-01T09:00:00Z"),
        ({"not_before": T0 + timedelta(hours=1)}, "not valid before 2026-03-01T11:00:00Z"),
        ({"not_after": T0 - timedelta(hours=1)}, "expired at 2026-03-01T09:00:00Z"),
    ],
)
def test_a_receipt_needs_a_key_valid_when_it_was_issued(
    window: dict[str, datetime], problem: str
) -> None:
    entry = receipt("DELIVERED", new_id(), at=T0)
    (finding,) = audit([entry], directory(**window))[0]
    assert finding.kind == "receipt-key"
    assert problem in finding.message
    # Revoked after it was issued: still valid.
    later = {k: v + timedelta(hours=2) for k, v in window.items() if k == "revoked_at"}
    if later:
        assert audit([entry], directory(**later))[0] == []


def test_a_receipt_by_another_key_or_an_unknown_party_is_refused() -> None:
    p = new_id()
    findings, _ = audit(
        [
            receipt("ACCEPTED", p, at=T0, key=RU),  # claims the gateway, signed by ru
            receipt("DELIVERED", p, at=T0, key=UA),  # claims ru, signed by ua
            receipt("DELIVERED", p, at=T0, issuer="zz", key=UA),
            b"not a receipt",
        ]
    )
    assert [f.kind for f in findings] == [
        "receipt-key",
        "receipt-key",
        "receipt-key",
        "receipt-format",
    ]
    assert "not a signing key of 'gw'" in findings[0].message
    assert "not a signing key of 'ru'" in findings[1].message
    assert "not registered" in findings[2].message
    assert [f.log_index for f in findings] == [0, 1, 2, 3]


def test_overdue_counts_late_and_missing_deliveries_but_not_rejections() -> None:
    ids = [new_id() for _ in range(5)]
    entries = [receipt("ACCEPTED", p, at=T0) for p in ids]
    entries += [
        receipt("DELIVERED", ids[0], at=T0 + timedelta(seconds=30)),  # on time
        receipt("DELIVERED", ids[1], at=T0 + timedelta(hours=2)),  # late
        receipt("REJECTED", ids[2], at=T0 + timedelta(hours=3)),  # closed, not overdue
    ]  # ids[3], ids[4]: pending
    _, facts = audit(entries)
    _, chains = check_chains(facts, "gw")
    (soon,) = pair_stats(chains, at=T0 + timedelta(minutes=30), overdue_after_s=3600)
    assert (soon.pending, soon.overdue) == (2, 1)
    (late,) = pair_stats(chains, at=T0 + timedelta(hours=5), overdue_after_s=3600)
    assert (late.pending, late.overdue) == (2, 3)
    assert late.median_s == (30 + 7200) / 2
    assert late.p95_s == 7200


def test_nearest_rank() -> None:
    samples = [float(v) for v in range(1, 101)]
    assert nearest_rank(samples, 0.95) == 95
    assert nearest_rank([4.0], 0.95) == 4
    assert nearest_rank([1.0, 2.0], 0.5) == 1
