"""The demo's case story (SPEC §10): eight children, from dossier to reunion.

The holder side (``ru``, where the children are) sends a dossier about eight
fictitious children, two of whom turned 18 since they were displaced, and
reports each. The home side (``ua``, where the families are) pulls it,
verifies seven and disputes one; the holder answers the dispute with a
second dossier naming the same case, and the home side verifies that child
too. Families are found, contacts logged, returns scheduled, and all eight
are reunited. Every step is a signed event the gateway checks against the
case's state and appends to the log; the monitor then recomputes the
figures from the log alone.

Used by ``gateway demo`` and by the test that checks nothing a monitor can
fetch afterwards holds a child's data.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway.party import cases
from gateway.party.client import Client, neutral_name
from gateway.party.pull import Puller
from gateway.protocol import case
from gateway.protocol.clock import now
from gateway.protocol.errors import Unavailable

HOLDER, HOME = "ru", "ua"
READY_TIMEOUT_S = 120.0
# A pull takes only these: a verification packet sent a moment ago may still be
# on its way to READY, and a pull before it would leave it unacknowledged.
DELIVERABLE = frozenset({"READY", "DELIVERED", "PROCESSED"})
RETURN_IN_DAYS = 5  # the planned return lies ahead: nothing is overdue at the end
DISPUTED_CHILD = 5  # the one whose photo the home side cannot match at first

# Eight fictitious children as the holder's officials wrote their forms.
# Two (Шевчук, Кравченко) were 14 and 15 when displaced and are 18 now.
CHILDREN: list[list[tuple[str, str]]] = [
    [
        ("Фамилия", family),
        ("Имя", given),
        ("Отчество", patronymic),
        ("Пол", sex),
        ("Дата рождения", born),
        ("Место рождения", place),
        ("Дата перемещения", moved),
        ("Текущее местонахождение", "Социальный приют"),
    ]
    for family, given, patronymic, sex, born, place, moved in (
        ("Коваленко", "Артём", "Игоревич", "мужской", "12.04.2013", "Херсон", "05.10.2022"),
        ("Шевчук", "Анна", "Олеговна", "женский", "03.08.2007", "Мариуполь", "20.04.2022"),
        ("Бондаренко", "Кирилл", "Сергеевич", "мужской", "21.01.2014", "Бердянск", "14.09.2022"),
        ("Мельник", "Софья", "Андреевна", "женский", "30.11.2015", "Херсон", "05.10.2022"),
        ("Кравченко", "Максим", "Петрович", "мужской", "15.02.2007", "Мелитополь", "01.06.2022"),
        ("Лысенко", "Дарья", "Викторовна", "женский", "09.09.2012", "Каховка", "11.08.2022"),
        ("Романенко", "Егор", "Николаевич", "мужской", "27.05.2016", "Мариуполь", "20.04.2022"),
        ("Ткачук", "Полина", "Денисовна", "женский", "18.12.2013", "Энергодар", "30.07.2022"),
    )
]


@dataclass(slots=True)
class StoryResult:
    """What the story did: the dossiers, the cases and how many events were accepted."""

    dossiers: list[str] = field(default_factory=list)
    case_ids: list[str] = field(default_factory=list)
    events: int = 0
    last_log_index: int = -1


async def _ready_records(client: Client, packet_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        view = await client.status(packet_id)
        if "records" in view:
            records: list[dict[str, Any]] = view["records"]
            return records
        await asyncio.sleep(0.2)
    raise RuntimeError(f"dossier {packet_id} did not become READY in time")


async def wait_status(client: Client, packet_id: str, wanted: Set[str]) -> dict[str, Any]:
    """Poll the packet's status until it is one of ``wanted``; its view then.

    Raises:
        Unavailable: not within :data:`READY_TIMEOUT_S`.
    """
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        view: dict[str, Any] = await client.status(packet_id)
        if view["status"] in wanted:
            return view
        await asyncio.sleep(0.2)
    raise Unavailable(f"packet {packet_id} did not reach {sorted(wanted)} in time")


async def run_story(
    clients: Mapping[str, Client],
    work: Path,
    make_pdf: Callable[[list[list[tuple[str, str]]], str], bytes],
    say: Callable[[str], None],
) -> StoryResult:
    """Play the story between ``clients["ru"]`` (holder) and ``clients["ua"]`` (home)."""
    holder, home = clients[HOLDER], clients[HOME]
    result = StoryResult()

    sent_to_holder: list[str] = []  # verification packets, each to be pulled and acknowledged

    def counted(answer: Mapping[str, Any]) -> None:
        result.events += 1
        result.last_log_index = max(result.last_log_index, int(answer["log_index"]))

    def verified(answer: Mapping[str, Any]) -> None:
        counted(answer)
        sent_to_holder.append(str(answer["packet_id"]))

    folder = work / "outbox" / "cases"
    folder.mkdir(parents=True, exist_ok=True)
    pdf = folder / "dossiers.pdf"
    pdf.write_bytes(make_pdf(CHILDREN, "Dossiers (demo, fictitious children)"))
    sent = await holder.send([pdf], recipient=HOME, purpose="reunification")
    result.dossiers.append(sent["packet_id"])
    records = await _ready_records(holder, sent["packet_id"])
    aged = sum(r["aged_out"] for r in records)
    say(
        f"{HOLDER} → {HOME}: a dossier about {len(records)} children ({aged} turned 18 since"
        f" displacement); each record has its case id."
    )
    for item in await cases.report(holder, sent["packet_id"]):
        if "error" in item:
            raise RuntimeError(f"REPORTED refused: {item['error']}")
        counted(item)
        result.case_ids.append(item["case_id"])
    say(f"{HOLDER} reported {len(records)} cases (REPORTED).")

    await Puller(home).pull(work / "inbox" / HOME)
    for n, record in enumerate(records):
        disputed = n == DISPUTED_CHILD
        answer = await cases.verify(
            home,
            record["case_id"],
            dossier_id=sent["packet_id"],
            record_id=record["record_id"],
            result="disputed" if disputed else "verified",
            reason="photo_mismatch" if disputed else None,
            fields={
                "family_name": "confirmed",
                "birth_date": "confirmed",
                "photo": "differs" if disputed else "confirmed",
            },
        )
        verified(answer)
    say(
        f"{HOME} checked each child against its records and sent a sealed verification"
        f" packet for each: {len(records) - 1} VERIFIED, 1 DISPUTED (photo_mismatch)."
    )
    for packet_id in sent_to_holder:
        await wait_status(holder, packet_id, DELIVERABLE)
    await Puller(holder).pull(work / "inbox" / HOLDER)

    # The holder answers the dispute: a second dossier about the same child,
    # naming the same case id, then REPORTED again.
    again = records[DISPUTED_CHILD]
    second = folder / "dossier-again.pdf"
    second.write_bytes(make_pdf([CHILDREN[DISPUTED_CHILD]], "Dossier, new photo (demo)"))
    # body.cases names the part as the manifest does: the neutral name send gives it.
    part = neutral_name(1, second)
    body = {"cases": [{"case_id": again["case_id"], "part": part, "index": 0}]}
    resent = await holder.send([second], recipient=HOME, purpose="reunification", body=body)
    result.dossiers.append(resent["packet_id"])
    (record,) = await _ready_records(holder, resent["packet_id"])
    counted(
        await cases.issue(
            holder,
            again["case_id"],
            case.REPORTED,
            packet_id=resent["packet_id"],
            record_id=record["record_id"],
        )
    )
    await Puller(home).pull(work / "inbox" / HOME)
    verified(
        await cases.verify(
            home,
            again["case_id"],
            dossier_id=resent["packet_id"],
            record_id=record["record_id"],
            result="verified",
        )
    )
    for packet_id in sent_to_holder:
        await wait_status(holder, packet_id, DELIVERABLE)
    await Puller(holder).pull(work / "inbox" / HOLDER)
    say(f"{HOLDER} answered the dispute with a new dossier on the same case; {HOME} VERIFIED it.")

    due = (now() + timedelta(days=RETURN_IN_DAYS)).date()
    steps = [
        (home, case.FAMILY_FOUND, "families found"),
        (holder, case.CONTACT, "each child spoke with the family"),
        (holder, case.RETURN_SCHEDULED, f"returns scheduled for {due}"),
        (home, case.CONTACT, "the families confirmed the calls"),
        (home, case.REUNITED, "all reunited"),
    ]
    for client, name, words in steps:
        planned = due if name == case.RETURN_SCHEDULED else None
        for case_id in result.case_ids:
            counted(await cases.issue(client, case_id, name, due=planned))
        say(f"{client.identity.party_id}: {name} ×{len(result.case_ids)} ({words}).")
    say(f"{result.events} case events accepted, each signed and in the receipt log.")
    return result


def figures_line(doc: Mapping[str, Any]) -> str:
    """One sentence of ``GET /v1/stats`` for the demo's pair."""
    for pair in doc["pairs"]:
        if (pair["holder"], pair["home"]) == (HOLDER, HOME):
            return json.dumps(
                {k: pair[k] for k in ("cases", "reunited_last_24h", "aged_out")},
                ensure_ascii=False,
            )
    return "no cases"
