"""The monitor's audit of case events (SPEC §10), from the log alone.

Every log entry whose ``typ`` is ``dxg-case+jws`` is a case event. For each,
in log order, the monitor checks what it can without seeing a dossier:

- the event is signed by a registered ``sig`` key of its issuer that was
  valid at its ``issued_at``, and its payload is a §10 event (closed
  schema, member rules) — **case-key**, **case-signature**, **case-format**;
- it is a legal step of its case, by the shared state machine
  (:func:`gateway.protocol.case.apply`: the right side, the case's sides
  and aged-out flag, a transition the table allows), and no ``event_id``
  appears twice — **case-chain**;

and folds every event that passed into :class:`~gateway.protocol.stats.CaseStats`,
the same fold the gateway keeps, so the figures of ``GET /v1/stats`` can be
recomputed exactly and any difference reported — **case-stats**. What the
monitor cannot see (which dossier holds which record) it does not judge.

What it learns is a :class:`CaseBook` (each case's state, every
``event_id`` seen, the fold), which an incremental monitor carries in its
signed state file: a pass audits only the new events, continuing the book,
and its figures are those of a pass over the whole log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.protocol import case
from gateway.protocol.case import Case
from gateway.protocol.clock import format_time, parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import b64url_decode
from gateway.protocol.errors import DXGError, Invalid, Unauthenticated
from gateway.protocol.stats import CaseStats, Policy
from gateway.protocol.trust import RegisteredKey

MAX_DIFFERENCES_SHOWN = 10  # per comparison; enough to see what drifted


@dataclass(frozen=True, slots=True)
class CaseFinding:
    """A case event that failed, or a figure that differs: kind, sentence, where."""

    kind: str
    message: str
    log_index: int | None = None


def typ_of(entry: bytes) -> str | None:
    """The ``typ`` a log entry's protected header claims (unverified: to route it)."""
    head = entry.split(b".", 1)[0]
    try:
        header = json.loads(b64url_decode(head.decode("ascii")))
    except (ValueError, UnicodeDecodeError):
        return None
    typ = header.get("typ") if isinstance(header, dict) else None
    return typ if isinstance(typ, str) else None


def is_case_event(entry: bytes) -> bool:
    return typ_of(entry) == jws.TYP_CASE


def issuer_of(entry: bytes) -> str | None:
    """The issuer a case event claims, unverified (to know whose keys to fetch)."""
    try:
        return case.claimed_issuer(entry)[1]
    except DXGError:
        return None


@dataclass(slots=True)
class CaseBook:
    """What the case events audited so far established, to continue from.

    ``cases``: each case's sides, state and aged-out flag (for
    :func:`gateway.protocol.case.apply`); ``seen``: every ``event_id`` that
    passed, with its first log index; ``stats``: the fold of those events.
    """

    stats: CaseStats
    cases: dict[str, Case] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "cases": {
                c.case_id: [c.holder, c.home, c.state, c.aged_out] for c in self.cases.values()
            },
            "seen": self.seen,
            "stats": self.stats.to_json(),
        }

    @classmethod
    def from_json(cls, obj: Any, policy: Policy) -> CaseBook:
        """Raises: ValueError if ``obj`` is not a book :meth:`to_json` wrote."""
        try:
            cases = {
                str(case_id): Case(
                    case_id=str(case_id),
                    holder=str(holder),
                    home=str(home),
                    state=str(state),
                    aged_out=bool(aged_out),
                )
                for case_id, (holder, home, state, aged_out) in obj["cases"].items()
            }
            seen = {str(k): int(v) for k, v in obj["seen"].items()}
            stats = CaseStats.from_json(obj["stats"], policy)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"the case book does not read: {type(exc).__name__}") from exc
        if set(cases) != set(stats.case_ids()) or len(seen) < len(stats):
            raise ValueError("the case book's cases or events are not its fold's")
        return cls(stats=stats, cases=cases, seen=seen)


@dataclass(slots=True)
class CaseAudit:
    """What the case events of one log say, checked."""

    book: CaseBook
    findings: list[CaseFinding] = field(default_factory=list)
    events: int = 0  # events that verified and were legal steps (in this call)

    @property
    def stats(self) -> CaseStats:
        return self.book.stats


UNREGISTERED = "names an issuer that is not registered at the gateway"  # keys from the registry


def _verified(
    index: int,
    entry: bytes,
    parties: Mapping[str, list[RegisteredKey] | None],
    unknown_issuer: str,
) -> case.SignedCaseEvent | CaseFinding:
    try:
        parsed, issuer = case.claimed_issuer(entry)
        issued_at = parse_time(str(json.loads(parsed.payload)["issued_at"]))
    except (DXGError, ValueError, KeyError, TypeError) as exc:
        detail = exc.detail if isinstance(exc, DXGError) else type(exc).__name__
        return CaseFinding(
            "case-format", f"the entry is not a readable case event: {detail}", index
        )
    who = f"the case event by {issuer!r}"
    registered = parties.get(issuer)
    if registered is None:
        return CaseFinding("case-key", f"{who} {unknown_issuer}", index)
    candidates = [r for r in registered if r.kid == parsed.kid and r.use == "sig"]
    if not candidates:
        return CaseFinding(
            "case-key", f"{who} is signed with key {parsed.kid}, not a signing key of it", index
        )
    problem = candidates[0].problem_at(issued_at)
    if problem is not None:
        return CaseFinding(
            "case-key",
            f"{who} is signed with key {parsed.kid}, which was {problem} when the event was"
            f" issued ({format_time(issued_at)})",
            index,
        )
    try:
        return case.verify(parsed, candidates[0].key)
    except Unauthenticated as exc:
        return CaseFinding("case-signature", f"{who}: {exc.detail}", index)
    except Invalid as exc:
        return CaseFinding("case-format", f"{who}: {exc.detail}", index)


def audit_cases(
    entries: Sequence[bytes],
    parties: Mapping[str, list[RegisteredKey] | None],
    policy: Policy,
    *,
    start: int = 0,
    book: CaseBook | None = None,
    unknown_issuer: str = UNREGISTERED,
) -> CaseAudit:
    """Check every case event of ``entries``, in order, and fold the legal ones.

    Args:
        entries: the log's entries from index ``start``; receipts among them
            are skipped.
        parties: each issuer's registered keys (None: not registered).
        policy: the gateway's published promise periods (for the figures).
        start: the log index of ``entries[0]``.
        book: what the events before ``start`` established (None: nothing,
            ``start`` must be 0). It is continued in place.
        unknown_issuer: what a finding says of an issuer ``parties`` has no
            keys for (where the keys come from, and what to do).
    """
    if book is None:
        book = CaseBook(stats=CaseStats(policy))
    book.stats.policy = policy
    audit = CaseAudit(book=book)
    cases, first_seen = book.cases, book.seen
    for index, entry in enumerate(entries, start):
        if not is_case_event(entry):
            continue
        checked = _verified(index, entry, parties, unknown_issuer)
        if isinstance(checked, CaseFinding):
            audit.findings.append(checked)
            continue
        event = checked.event
        earlier = first_seen.get(event.event_id)
        if earlier is not None:
            audit.findings.append(
                CaseFinding(
                    "case-chain",
                    f"event_id {event.event_id} appears again (first at log index {earlier})",
                    index,
                )
            )
            continue
        first_seen[event.event_id] = index
        try:
            updated = case.apply(cases.get(event.case_id), event)
        except DXGError as err:
            audit.findings.append(
                CaseFinding(
                    "case-chain",
                    f"{event.event} on case {event.case_id} is not a legal step: {err.detail}",
                    index,
                )
            )
            continue
        cases[event.case_id] = updated
        audit.stats.feed(event, index)
        audit.events += 1
    return audit


def _differences(path: str, served: Any, recomputed: Any) -> Iterator[str]:
    if isinstance(served, dict) and isinstance(recomputed, dict):
        for key in sorted(set(served) | set(recomputed)):
            yield from _differences(f"{path}.{key}", served.get(key), recomputed.get(key))
    elif served != recomputed:
        yield (
            f"{path}: the gateway says {json.dumps(served)},"
            f" the log gives {json.dumps(recomputed)}"
        )


def compare_stats(served: Mapping[str, Any], recomputed: Mapping[str, Any]) -> list[CaseFinding]:
    """Every figure ``GET /v1/stats`` served that the log does not give."""
    found = []
    if (
        served.get("as_of") != recomputed["as_of"]
        or served.get("log_size") != recomputed["log_size"]
    ):
        found.append(
            f"the gateway answered for as_of {served.get('as_of')}, log size"
            f" {served.get('log_size')}; asked for {recomputed['as_of']}"
        )
    theirs = {(p.get("holder"), p.get("home")): p for p in served.get("pairs", [])}
    mine = {(p["holder"], p["home"]): p for p in recomputed["pairs"]}
    for pair in sorted(set(theirs) | set(mine), key=str):
        name = f"{pair[0]} -> {pair[1]}"
        if pair not in mine:
            found.append(f"pair {name}: the gateway counts cases the log does not hold")
        elif pair not in theirs:
            found.append(f"pair {name}: the gateway leaves out cases the log holds")
        else:
            found.extend(f"pair {name}{d}" for d in _differences("", theirs[pair], mine[pair]))
    shown = [CaseFinding("case-stats", f"GET /v1/stats differs from the log: {m}") for m in found]
    if len(shown) > MAX_DIFFERENCES_SHOWN:
        rest = len(shown) - MAX_DIFFERENCES_SHOWN
        shown = [*shown[:MAX_DIFFERENCES_SHOWN], CaseFinding("case-stats", f"and {rest} more")]
    return shown


def render_case_summary(pairs: Sequence[Mapping[str, Any]]) -> str:
    """The case figures in words, one sentence per pair (what officials report)."""
    lines = []
    for p in pairs:
        aged = p["aged_out"]
        lines.append(
            f"{p['holder']} -> {p['home']}: {p['reunited_last_24h']} reunited in the last 24 h"
            f" ({p['reunited_last_7d']} in 7 d); aged out: {aged['open']} open,"
            f" {aged['reunited']} reunited, {aged['return_overdue']} return overdue;"
            f" overdue: {p['response_overdue']} response, {p['contact_overdue']} contact"
        )
    return "\n".join(lines)


def render_case_table(pairs: Sequence[Mapping[str, Any]]) -> str:
    """The per-pair case figures, one line per holder → home pair."""
    short = {"REPORTED": "rep", "VERIFIED": "ver", "DISPUTED": "disp",
             "INFO_REQUESTED": "info", "FAMILY_FOUND": "found",
             "RETURN_SCHEDULED": "sched", "REUNITED": "reun", "CLOSED": "closed"}  # fmt: skip
    header = ["cases", *short.values(), "reun24h", "reun7d", "aged:open", "aged:reun",
              "aged:late", "resp-late", "contact-late", "rep>ver_d", "ver>reun_d"]  # fmt: skip
    rows = [header]

    def days(value: float | None) -> str:
        return "-" if value is None else f"{value:g}"

    for p in pairs:
        aged, med = p["aged_out"], p["median_days"]
        rows.append(
            [f"{p['holder']} -> {p['home']}", *(str(p["cases"][s]) for s in short),
             str(p["reunited_last_24h"]), str(p["reunited_last_7d"]), str(aged["open"]),
             str(aged["reunited"]), str(aged["return_overdue"]), str(p["response_overdue"]),
             str(p["contact_overdue"]), days(med["reported_to_verified"]),
             days(med["verified_to_reunited"])]
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    )
