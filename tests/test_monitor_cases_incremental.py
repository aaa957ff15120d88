"""An incremental monitor pass audits only the new case events, and its figures are a full pass's.

A real gateway process and real case events (SPEC §10); the monitor runs in
this process, pinned keys from its trust store. The case book it carries in
its signed state file (each case's state, the event ids seen, the fold
behind ``GET /v1/stats``) must make an incremental pass recompute exactly
what ``--full`` recomputes from index 0, and an edited book must be refused.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.monitor.audit import Monitor, PassResult
from gateway.party.client import Client
from gateway.party.trust import TrustStore
from gateway.protocol import case
from gateway.protocol.clock import now
from gateway.protocol.errors import LocalError
from tests.harness import Party, get, wait_for
from tests.test_cases import Record, World, accepted, drive, send_dossier, sign_event
from tests.test_cases import world as world  # noqa: PLC0414 - the module fixture, reused


def _signed_size(w: World) -> int:
    return int(get(w.gw, w.mon, "/v1/log/checkpoint").body.decode().split("\n")[1])


def _pass(w: World, state: Path, *, full: bool = False) -> PassResult:
    trust = TrustStore.load(w.gw.trust_file(w.mon))

    async def run() -> PassResult:
        async with Client(w.gw.url, w.mon.identity, trust=trust) as client:
            return await Monitor(client, state_path=state, full=full).run_pass()

    return asyncio.run(run())


def _last_event(w: World, party: Party, name: str, record: Record) -> int:
    """Post ``name`` on ``record``'s case and wait until a checkpoint covers it;
    the signed size then."""
    index = int(accepted(w, party, sign_event(party, name, record), name)["log_index"])
    wait_for(lambda: _signed_size(w) > index, timeout=15)
    return _signed_size(w)


def test_an_incremental_pass_after_new_case_events_reports_what_full_does(
    world: World, tmp_path: Path
) -> None:
    w = world
    state = tmp_path / "mon.json"
    records = send_dossier(w, w.ua, w.ru, children=3)
    drive(w, records[0], case.VERIFIED)
    first_size = _last_event(w, w.ru, case.FAMILY_FOUND, records[0])
    first = _pass(w, state)
    assert first.clean, first.findings
    assert first.full and first.case_events >= 3
    shutil.copy(state, tmp_path / "after-first.json")

    # New events on a case the first pass saw (it must continue its state)
    # and on cases it never saw.
    drive(w, records[1], case.DISPUTED)
    drive(w, records[2], case.REPORTED)
    size = _last_event(w, w.ru, case.REUNITED, records[0])
    assert size > first_size

    second = _pass(w, state)
    assert second.clean, second.findings
    assert (second.full, second.audited_from) == (False, first_size)
    full = _pass(w, tmp_path / "after-first.json", full=True)
    assert full.clean, full.findings
    assert full.full and full.audited_from == 0
    assert full.case_events == first.case_events + second.case_events  # only the new ones
    assert second.cases is not None and full.cases is not None
    assert second.cases["pairs"] == full.cases["pairs"]
    by_pair = {(p["holder"], p["home"]): p for p in second.cases["pairs"]}
    counts = by_pair[("ua", "ru")]["cases"]
    assert counts[case.REUNITED] >= 1 and counts[case.DISPUTED] >= 1
    assert counts[case.REPORTED] >= 1
    # The carried fold answers every question as the full one, earlier
    # times and smaller log sizes too (the monitor view's charts ask those).
    assert second.case_stats is not None and full.case_stats is not None
    at = now()
    for as_of in (at, at - timedelta(minutes=5), at + timedelta(days=9)):
        for log_size in (size, first_size, first_size // 2):
            assert second.case_stats.figures(as_of=as_of, log_size=log_size) == (
                full.case_stats.figures(as_of=as_of, log_size=log_size)
            )

    # A third pass with nothing new keeps the figures and reads no entry.
    third = _pass(w, state)
    assert third.clean and not third.full and third.case_events == 0
    assert third.cases is not None and third.cases["pairs"] == full.cases["pairs"]


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(("\"FAMILY_FOUND\"", "\"REPORTED\""), id="a case's state"),
        pytest.param(("\"cases\":{\"cases\":{", "\"cases\":{\"cases\":{\"x\":[\"ua\",\"ru\","
                      "\"REUNITED\",false],"), id="a case added"),
    ],
)
def test_an_edited_case_book_in_the_state_file_is_refused(
    world: World, tmp_path: Path, edit: tuple[str, str]
) -> None:
    w = world
    state = tmp_path / "mon.json"
    records = send_dossier(w, w.ua, w.ru, children=1)
    drive(w, records[0], case.VERIFIED)
    _last_event(w, w.ru, case.FAMILY_FOUND, records[0])
    assert _pass(w, state).clean
    text = state.read_text(encoding="utf-8")
    old, new = edit
    assert old in text
    state.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(LocalError, match="does not verify"):
        _pass(w, state)


def test_an_issuer_missing_from_the_monitors_trust_store_is_named_as_unpinned(
    world: World, tmp_path: Path
) -> None:
    # Regression: with --trust, an issuer the monitor had not pinned was
    # reported as "not registered", sending the operator to the gateway's
    # registry instead of to the monitor's own trust store.
    w = world
    records = send_dossier(w, w.ua, w.ru, children=1)
    drive(w, records[0], case.VERIFIED)
    _last_event(w, w.ru, case.FAMILY_FOUND, records[0])
    partial = tmp_path / "mon-without-ru.json"
    shutil.copy(w.gw.trust_file(w.mon, partners=[w.ua]), partial)
    w.gw.trust_file(w.mon)  # the module's other tests keep every partner pinned

    async def run() -> PassResult:
        async with Client(w.gw.url, w.mon.identity, trust=TrustStore.load(partial)) as client:
            return await Monitor(client, state_path=tmp_path / "s.json", full=True).run_pass()

    result = asyncio.run(run())
    about_ru = [f.message for f in result.findings if repr(w.ru.id) in f.message]
    assert about_ru, result.findings
    assert all("not pinned in the monitor's trust store" in m for m in about_ru), about_ru
    assert all("gateway trust add" in m for m in about_ru)
    assert not any("not registered" in f.message for f in result.findings)
