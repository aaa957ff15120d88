"""SPEC §9's case commands as outside tools drive them: separate processes, a real gateway.

One child's case runs from ``case report`` to ``REUNITED`` through
``case verify`` and ``case event``; ``case show`` and ``stats`` read it back.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.party import cases
from gateway.party.console.casework import GatewayCases
from gateway.party.console.decisions import FAILED, SENT, Decision, Decisions
from gateway.protocol.clock import format_time
from tests.conftest import Exchange, running_exchange
from tests.dossiers import Language, make_dossier
from tests.harness import Packet, Party, get, make_packet, post_packet, wait_for


@pytest.fixture(scope="module")
def ex(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    with running_exchange(tmp_path_factory.mktemp("case-cli")) as exchange:
        yield exchange


def gateway_cli(ex: Exchange, party: Party, *args: str, expect: int = 0) -> str:
    """``gateway ARGS`` as ``party``, identified by the environment (SPEC §9)."""
    env = os.environ | {
        "DXG_GATEWAY": ex.gw.url,
        "DXG_ID": party.id,
        "DXG_KEYS": str(party.prefix),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == expect, (args, proc.returncode, proc.stderr)
    return proc.stdout


def as_json(text: str) -> Any:
    return json.loads(text)


def test_a_case_from_report_to_reunion_by_the_commands(ex: Exchange) -> None:
    dossier = make_dossier(7001, lang="ru", layout="table", children=2)
    packet = make_packet(ex.ua, "ru", [(dossier.filename, dossier.media_type, dossier.data)])
    assert post_packet(ex.gw, ex.ua, packet).status == 202
    records = wait_for(
        lambda: get(ex.gw, ex.ua, f"/v1/packets/{packet.packet_id}").json().get("records"),
        timeout=120,
    )

    reported = as_json(gateway_cli(ex, ex.ua, "case", "report", packet.packet_id))
    assert [r["case_id"] for r in reported] == [r["case_id"] for r in records]
    assert {r["state"] for r in reported} == {"REPORTED"}
    # Reporting again is refused per record, and says why (exit 4: refused as sent).
    again = as_json(gateway_cli(ex, ex.ua, "case", "report", packet.packet_id, expect=4))
    assert all("is REPORTED" in r["error"] for r in again)

    first, second = records
    verified = as_json(
        gateway_cli(
            ex,
            ex.ru,
            "case",
            "verify",
            first["case_id"],
            "--packet",
            packet.packet_id,
            "--record",
            first["record_id"],
            "--result",
            "verified",
            "--field",
            "family_name=confirmed",
            "--note",
            "Підтверджено",
        )
    )
    assert verified["state"] == "VERIFIED"
    disputed = as_json(
        gateway_cli(
            ex,
            ex.ru,
            "case",
            "verify",
            second["case_id"],
            "--packet",
            packet.packet_id,
            "--record",
            second["record_id"],
            "--result",
            "disputed",
            "--reason",
            "photo_mismatch",
        )
    )
    assert disputed["state"] == "DISPUTED"
    # The holder received the verification packet, sealed, replying to the dossier.
    view = get(ex.gw, ex.ua, f"/v1/packets/{verified['packet_id']}").json()
    assert (view["sender"], view["recipient"]) == ("ru", "ua")

    case_id = first["case_id"]
    due = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    steps = [
        (ex.ru, ["FAMILY_FOUND"], "FAMILY_FOUND"),
        (ex.ua, ["CONTACT"], "FAMILY_FOUND"),
        (ex.ua, ["RETURN_SCHEDULED", "--due", due], "RETURN_SCHEDULED"),
        (ex.ru, ["CONTACT"], "RETURN_SCHEDULED"),
        (ex.ru, ["REUNITED"], "REUNITED"),
    ]
    for party, event, state in steps:
        answer = as_json(gateway_cli(ex, party, "case", "event", case_id, *event))
        assert answer["state"] == state
        assert isinstance(answer["log_index"], int)

    shown = as_json(gateway_cli(ex, ex.ua, "case", "show", case_id, "--json"))
    assert shown["state"] == "REUNITED" and len(shown["events"]) == 7
    text = gateway_cli(ex, ex.ru, "case", "show", case_id)
    assert "state REUNITED" in text and f"due {due}" in text and "RETURN_SCHEDULED" in text

    def stats_show_the_reunion() -> dict[str, Any] | None:
        doc: dict[str, Any] = as_json(gateway_cli(ex, ex.ua, "stats", "--json"))
        (pair,) = doc["pairs"]
        return doc if pair["reunited_last_24h"] == 1 else None

    doc = wait_for(stats_show_the_reunion, timeout=30)
    (pair,) = doc["pairs"]
    assert pair["cases"]["REUNITED"] == 1 and pair["cases"]["DISPUTED"] == 1
    assert pair["median_days"]["reported_to_verified"] is not None
    later = format_time(datetime.now(UTC) + timedelta(days=8))
    (ahead,) = as_json(gateway_cli(ex, ex.ua, "stats", "--as-of", later, "--json"))["pairs"]
    assert ahead["reunited_last_24h"] == 0 and ahead["reunited_last_7d"] == 0
    table = gateway_cli(ex, ex.mon, "stats")
    assert "ua -> ru" in table and "REUNITED 1" in table


def test_a_refused_event_exits_4_and_says_why(ex: Exchange, tmp_path: Path) -> None:
    env = os.environ | {"DXG_GATEWAY": ex.gw.url, "DXG_ID": "ua", "DXG_KEYS": str(ex.ua.prefix)}
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "case", "event",
         "00000000-0000-4000-8000-000000000000", "CONTACT"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    assert "no case" in proc.stderr
    assert proc.stdout == ""


def _verifications_for_ua(ex: Exchange) -> int:
    items = get(ex.gw, ex.ua, "/v1/inbox?after=0&limit=1000").json()["items"]
    return sum(item["kind"] == "verification" for item in items)


def _one_child_reported(ex: Exchange, seed: int, lang: Language) -> tuple[Packet, Any]:
    """A one-child dossier from ua to ru, extracted and reported: the packet and its record."""
    dossier = make_dossier(seed, lang=lang, children=1)
    packet = make_packet(ex.ua, "ru", [(dossier.filename, dossier.media_type, dossier.data)])
    assert post_packet(ex.gw, ex.ua, packet).status == 202
    (record,) = wait_for(
        lambda: get(ex.gw, ex.ua, f"/v1/packets/{packet.packet_id}").json().get("records"),
        timeout=120,
    )
    gateway_cli(ex, ex.ua, "case", "report", packet.packet_id)
    return packet, record


class _Crashed(Exception):
    """Stands for the verifier dying between its packet and its event."""


def test_a_verification_whose_event_never_went_is_retried_with_sent_and_no_second_packet(
    ex: Exchange,
) -> None:
    # Regression: a verify whose event failed after its packet was accepted
    # could only be retried whole, so the holder got two verification packets.
    packet, record = _one_child_reported(ex, 7002, "uk")
    before = _verifications_for_ua(ex)
    accepted: list[str] = []

    def crash(packet_id: str) -> None:
        accepted.append(packet_id)
        raise _Crashed

    async def first_try() -> None:
        async with ex.gw.client(ex.ru) as client:
            await cases.verify(client, record["case_id"], dossier_id=packet.packet_id,
                               record_id=record["record_id"], result="verified", on_sent=crash)

    with pytest.raises(_Crashed):
        asyncio.run(first_try())
    (sent,) = accepted
    shown = as_json(gateway_cli(ex, ex.ua, "case", "show", record["case_id"], "--json"))
    assert shown["state"] == "REPORTED"  # the packet went, the event did not

    retried = as_json(gateway_cli(
        ex, ex.ru, "case", "verify", record["case_id"], "--packet", packet.packet_id,
        "--record", record["record_id"], "--result", "verified", "--sent", sent,
    ))  # fmt: skip
    assert retried["state"] == "VERIFIED" and retried["packet_id"] == sent
    assert _verifications_for_ua(ex) == before + 1


def test_a_console_decision_interrupted_after_its_packet_retries_only_the_event(
    ex: Exchange, tmp_path: Path
) -> None:
    # The console's side of the regression above: the packet's id is kept the
    # moment it is accepted, survives a console stopping mid-send, and a
    # supervisor's second confirmation sends the event alone.
    packet, record = _one_child_reported(ex, 7003, "ru")
    store = Decisions(tmp_path)
    proposed = store.propose(official="olena", packet_id=packet.packet_id,
                             record_id=record["record_id"], case_id=record["case_id"],
                             result="verified", reason=None, fields={}, note="")  # fmt: skip

    def keep_then_stop(decision: Decision) -> Decision:
        store.update(decision)
        raise _Crashed

    async def send(decision: Decision, keep: Callable[[Decision], Decision]) -> Decision:
        async with ex.gw.client(ex.ru) as client:
            return await GatewayCases(client).send_decision(decision, keep)

    confirmed = store.confirm(proposed.decision_id, official="ivan", supervisor=True)
    with pytest.raises(_Crashed):
        asyncio.run(send(confirmed, keep_then_stop))
    assert store.recover_interrupted() == 1  # the console starts again
    failed = store.get(proposed.decision_id)
    assert failed.state == FAILED and failed.verification_packet_id is not None

    again = store.confirm(proposed.decision_id, official="ivan", supervisor=True)
    sent = asyncio.run(send(again, store.update))
    assert sent.state == SENT and sent.case_state == "VERIFIED", sent.error
    assert sent.verification_packet_id == failed.verification_packet_id
