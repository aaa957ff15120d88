"""``gateway monitor``: audit a gateway's receipt log without seeing personal data.

A monitor reads only what SPEC §7 and §6 give it: the signed checkpoint,
the log's entries and proofs, the receipts, and public keys (pinned in its
trust store with ``--trust``, else ``GET /v1/gateway`` and
``GET /v1/parties/{id}``). A pass reads only what is new since the state it
saved (O(new entries), not the whole log):

1. verifies the checkpoint's signature with the log's key (pinned in the
   state file from the first verified pass on; the origin must not change);
2. checks it against the last checkpoint it verified (state file): a smaller
   size is a **rollback**, the same size with another root or a failing
   consistency proof (RFC 9162 §2.1.4.2) is a **fork** — history rewritten;
3. fetches the entries after the saved size, appends them to the saved
   compact range (:mod:`gateway.monitor.tree`, written independently of the
   gateway's tree code) and compares the root with the checkpoint's; if
   they differ, it verifies each new entry's inclusion proof to name exactly
   which entry is **missing** or **altered**;
4. checks that ``GET /v1/receipts`` lists exactly the receipts among
   those entries (case events are not receipts and are not listed there);
5. verifies every new receipt's signature: gateway receipts with the
   gateway's keys, party receipts with the issuer's ``sig`` key, which must
   have been valid (not before ``not_before``, not after ``not_after``, not
   revoked) at the receipt's ``issued_at``;
6. continues each packet's chain from the saved chain book
   (:mod:`gateway.monitor.chains`): one ACCEPTED first, by the gateway; then
   DELIVERED, REJECTED or PROCESSED by the recipient, EXPIRED by the gateway,
   in an order the protocol allows (SPEC §3, §6), every receipt naming the
   same sender, recipient, ``envelope_sha256`` and parts, and PROCESSED the
   ``extraction_sha256`` of DELIVERED;
7. checks every new case event (SPEC §10) and folds it into the case book
   and figures carried from the saved state, then recomputes
   ``GET /v1/stats`` from them: see :mod:`gateway.monitor.cases`. The
   figures are asked for before the checkpoint is fetched, so the size they
   were computed from is one this pass holds.

The first pass (no state), a pass from a version 1 state file, and every
pass with ``--full`` read the whole log from index 0 (still checking
consistency with the saved checkpoint first): ``--full`` re-reads entries
already audited, which an incremental pass trusts from its earlier audit
(the signed tree still commits to them; an entry edited in the gateway's
database without re-signing fails the inclusion proof of whoever reads it).

It reports, per sender → recipient pair: packets, delivered, processed,
rejected, expired, pending, overdue (not rejected, and no DELIVERED within
``--overdue-after`` of ACCEPTED, counted once that time has passed) and the
median and 95th percentile (nearest rank) of ACCEPTED → DELIVERED, from the
receipts' ``issued_at``; an incremental pass reports what a full audit would.

Exit codes (besides the CLI's own): 0 = everything verified; 3 =
verification failed: fork, rollback, a bad checkpoint or receipt signature,
a missing or altered entry, receipts the log does not hold, or an
incoherent packet chain. Each finding is printed with its kind, log index
and packet id where it has them. The state advances only after a pass that
found nothing, so a finding is reported again on every pass.

The state file (``--state``, :mod:`gateway.monitor.state`) holds the last
verified checkpoint, its compact range, the chain book and the case audit
(each case's state, the event ids seen, the figures' fold), signed with the
monitor's own key; an edited one is refused.

With ``--cosign``, a pass that found nothing posts a cosignature/v1 line
(key name = the monitor's id, key = its registered Ed25519 key) of the
checkpoint it verified: ``POST /v1/log/cosignatures?size=N``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.monitor import cases
from gateway.monitor.chains import ChainBook
from gateway.monitor.report import PairStats, pair_stats
from gateway.monitor.state import MonitorState, load_state, save_state
from gateway.monitor.tree import CompactRange
from gateway.party.client import Client
from gateway.party.log import LogReader, SignedTreeHead, verify_note
from gateway.protocol import checkpoint
from gateway.protocol.checkpoint import NoteKey
from gateway.protocol.clock import format_time, now, parse_time
from gateway.protocol.crypto import jws
from gateway.protocol.crypto.keys import PublicKey
from gateway.protocol.errors import (
    EXIT_OK,
    EXIT_VERIFICATION,
    BadRequest,
    DXGError,
    Invalid,
    LocalError,
    NotFound,
    Unauthenticated,
)
from gateway.protocol.ids import ID_PATTERN
from gateway.protocol.merkle import b64std
from gateway.protocol.receipt import ReceiptClaims, claimed_issuer, verify_receipt
from gateway.protocol.stats import CaseStats, Policy
from gateway.protocol.trust import RegisteredKey

EXIT_CLEAN = EXIT_OK
EXIT_FAILED = EXIT_VERIFICATION  # the log or its receipts failed verification: the findings
DEFAULT_OVERDUE_S = 24 * 3600  # a day without DELIVERED deserves a look
DEFAULT_INTERVAL_S = 10.0
PROOF_CONCURRENCY = 32  # inclusion proofs in flight while locating a bad entry
MAX_FINDINGS_SHOWN = 20  # per kind; the rest is counted
RECEIPT_PAGE = 1000



# --- Findings -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that failed verification, said so a person can act on it.

    ``kind`` is one of: ``checkpoint-signature``, ``origin``, ``rollback``,
    ``fork``, ``missing-entry``, ``altered-entry``, ``receipts-listing``,
    ``receipt-format``, ``receipt-signature``, ``receipt-key``, ``chain``,
    ``case-format``, ``case-signature``, ``case-key``, ``case-chain``, ``case-stats``.
    """

    kind: str
    message: str
    log_index: int | None = None
    packet_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "log_index": self.log_index,
            "packet_id": self.packet_id,
        }

    def __str__(self) -> str:
        where = "" if self.log_index is None else f" [log index {self.log_index}]"
        return f"{self.kind.upper()}{where}: {self.message}"


# --- Keys as the registry publishes them ---------------------------------------------


@dataclass(slots=True)
class KeyDirectory:
    """Who may sign receipts: the gateway's keys, and each party's registered keys."""

    gateway_id: str
    gateway_keys: list[PublicKey]
    parties: dict[str, list[RegisteredKey] | None] = field(default_factory=dict)
    pinned: bool = False  # the keys come from the monitor's trust store, not the registry

    @property
    def unknown_issuer(self) -> str:
        """What a finding says of an issuer without keys here, and what to do."""
        if self.pinned:
            return (
                "names an issuer whose keys are not pinned in the monitor's trust store"
                " (if it is a party of this exchange: gateway trust add FILE PARTY"
                " --keys PARTY.pub.json)"
            )
        return cases.UNREGISTERED


# --- Receipts and chains ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptFacts(ReceiptClaims):
    """A receipt whose signature verified, at its log index."""

    log_index: int
    claims: dict[str, Any]


def issuer_of(entry: bytes) -> str | None:
    """The issuer a log entry claims, unverified (to know whose keys to fetch)."""
    if cases.is_case_event(entry):
        return cases.issuer_of(entry)
    try:
        return claimed_issuer(entry)[1]
    except DXGError:
        return None


def check_receipt(index: int, entry: bytes, keys: KeyDirectory) -> ReceiptFacts | Finding:
    """Verify one log entry as a receipt signed by a key valid when it was issued."""
    try:
        parsed, issuer = claimed_issuer(entry)
        claimed = json.loads(parsed.payload)
        issued_at = parse_time(str(claimed["issued_at"]))
        packet_id = str(claimed.get("packet_id"))
    except (DXGError, ValueError, KeyError, TypeError, AttributeError) as exc:
        detail = exc.detail if isinstance(exc, DXGError) else type(exc).__name__
        return Finding("receipt-format", f"the entry is not a readable receipt: {detail}", index)
    who = f"the {claimed.get('level')} receipt of packet {packet_id} by {issuer!r}"
    if issuer == keys.gateway_id:
        candidates = [RegisteredKey(k) for k in keys.gateway_keys if k.kid == parsed.kid]
    else:
        registered = keys.parties.get(issuer)
        if registered is None:
            return Finding("receipt-key", f"{who} {keys.unknown_issuer}", index, packet_id)
        candidates = [r for r in registered if r.key.kid == parsed.kid and r.key.use == "sig"]
    if not candidates:
        return Finding(
            "receipt-key",
            f"{who} is signed with key {parsed.kid}, which is not a signing key of {issuer!r}",
            index,
            packet_id,
        )
    (record,) = candidates[:1]
    problem = record.problem_at(issued_at)
    if problem is not None:
        return Finding(
            "receipt-key",
            f"{who} is signed with key {parsed.kid}, which was {problem}"
            f" when the receipt was issued ({format_time(issued_at)})",
            index,
            packet_id,
        )
    try:
        verified = verify_receipt(parsed, record.key)
    except Unauthenticated as exc:
        return Finding("receipt-signature", f"{who}: {exc.detail}", index, packet_id)
    except Invalid as exc:
        return Finding("receipt-format", f"{who}: {exc.detail}", index, packet_id)
    return ReceiptFacts(log_index=index, claims=verified.claims)


def check_chains(
    facts: Sequence[ReceiptFacts], gateway_id: str, book: ChainBook | None = None
) -> tuple[list[Finding], ChainBook]:
    """Check each packet's receipts form a chain the protocol allows (SPEC §3, §6).

    Continues ``book`` (an incremental pass) or starts a strict one (a full
    audit, which remembers closed chains too); see :mod:`gateway.monitor.chains`.
    """
    book = book if book is not None else ChainBook(gateway_id, strict=True)
    findings: list[Finding] = []
    for r in facts:
        problem = book.add(r, r.log_index)
        if problem is not None:
            pid = r.packet_id
            findings.append(Finding("chain", f"packet {pid}: {problem}", r.log_index, pid))
    return findings, book


# --- One pass ----------------------------------------------------------------------------


@dataclass(slots=True)
class PassResult:
    """What one pass verified, found and counted."""

    head: SignedTreeHead | None = None
    tree_verified: bool = False
    findings: list[Finding] = field(default_factory=list)
    pairs: list[PairStats] = field(default_factory=list)
    receipts: int = 0  # receipts verified in this pass (the new ones, unless full)
    case_events: int = 0  # case events verified in this pass (the new ones, unless full)
    audited_from: int = 0  # the first log index this pass read
    full: bool = True
    # The case figures recomputed from the log (every case event ever
    # audited, carried in the state file, not only this pass's).
    cases: dict[str, Any] | None = None
    # The fold behind ``cases``, and the log size it was asked at: the monitor
    # view asks it for the figures of earlier days too (its charts).
    case_stats: CaseStats | None = None
    case_log_size: int = 0
    cosigned: bool = False

    @property
    def clean(self) -> bool:
        return self.head is not None and self.tree_verified and not self.findings

    def to_json(self, state: MonitorState | None) -> dict[str, Any]:
        return {
            "verified": self.clean,
            "checkpoint": None if self.head is None else self.head.to_json(),
            "previous": None
            if state is None
            else {"size": state.verified.size, "root": b64std(state.verified.root)},
            "audited": {
                "mode": "full" if self.full else "incremental",
                "from": self.audited_from,
                "to": None if self.head is None else self.head.size,
            },
            "receipts": self.receipts,
            "case_events": self.case_events,
            "findings": [f.to_json() for f in self.findings],
            "pairs": [p.to_json() for p in self.pairs],
            "cases": self.cases,
            "cosigned": self.cosigned,
        }


class Monitor:
    """Follows one gateway's log as one registered monitor."""

    def __init__(
        self,
        client: Client,
        *,
        state_path: Path | None,
        overdue_after_s: float = DEFAULT_OVERDUE_S,
        cosign: bool = False,
        full: bool = False,
    ) -> None:
        """Audit the log through ``client``.

        Args:
            client: the monitor's signed client; its trust store, if it has
                one, pins the gateway's key and the parties' keys (else they
                are read from the gateway's registry).
            state_path: the state file (None: nothing is remembered).
            overdue_after_s: see the report.
            cosign: cosign checkpoints after a pass that found nothing.
            full: read and re-verify the whole log every pass (still checking
                consistency with the saved checkpoint), not only what is new.

        Raises:
            LocalError: the state file exists but does not verify.
        """
        self.client = client
        self.state_path = state_path
        self.overdue_after_s = overdue_after_s
        self.cosign = cosign
        self.full = full
        self.state: MonitorState | None = (
            load_state(state_path, client.identity.signing.public)
            if state_path is not None
            else None
        )

    async def run_pass(self) -> PassResult:
        """Verify what is new in the log once; advance the state if nothing was found.

        Raises:
            DXGError: the gateway answered an error to a request it must serve.
        """
        result = PassResult()
        info = await self.client.gateway_info()
        gateway_id, origin = str(info["id"]), str(info["origin"])
        trust = self.client.trust
        if trust is not None:
            trust.require()
            assert trust.gateway is not None
            gateway_keys = [k.key for k in trust.gateway.keys if k.use == "sig"]
        else:
            gateway_keys = [PublicKey.from_jwk(k) for k in info["keys"]]
        state = self.state
        if state is not None and origin != state.log_key.name:
            result.findings.append(
                Finding("origin", f"the gateway's origin changed from {state.log_key.name!r}")
            )
            return result
        if state is not None:
            log_keys = [state.log_key]
        elif trust is not None:
            log_keys = await LogReader(self.client).log_keys()
        else:
            log_keys = [NoteKey(name=origin, public=k) for k in gateway_keys if k.use == "sig"]
        reader = LogReader(self.client, log_keys=log_keys)
        as_of = now()
        served = await self.client.get_json(f"/v1/stats?as_of={format_time(as_of)}")
        head = await self._checkpoint(reader, result)
        if head is None:
            return result
        result.head = head
        if state is not None and not await self._consistent(reader, state, head, result):
            return result
        incremental = not self.full and state is not None and state.incremental
        try:
            policy: Policy | None = Policy.from_json(info.get("policy", Policy().to_json()))
        except ValueError as exc:  # the receipts are still audited; the figures cannot be
            result.findings.append(Finding("case-stats", f"the gateway's policy: {exc}"))
            policy = None
        if incremental:
            assert state is not None and state.tree is not None and state.book is not None
            assert state.cases is not None
            start, tree = state.verified.size, state.tree
            book = ChainBook.from_json(gateway_id, state.book)
            try:
                case_book = cases.CaseBook.from_json(state.cases, policy or Policy())
            except ValueError as exc:  # signed by this monitor yet unreadable: a bug, no attack
                raise LocalError(
                    f"the monitor's state file holds a case book this version cannot read ({exc});"
                    " run one pass with --full to rebuild it"
                ) from exc
        else:
            start, tree, book = 0, CompactRange(), ChainBook(gateway_id, strict=True)
            case_book = cases.CaseBook(stats=CaseStats(policy or Policy()))
        result.full, result.audited_from = not incremental, start
        try:
            entries = await reader.entries(start, head.size) if head.size > start else []
        except NotFound as exc:  # below its own signed size: the log lost entries
            result.findings.append(
                Finding(
                    "missing-entry",
                    f"the log refuses entries its checkpoint commits to: {exc.detail}",
                )
            )
            return result
        # The consistency proof tied the saved range's tree to this checkpoint:
        # the new entries, appended to it, must give the signed root.
        new_tree = tree.append(entries)
        if len(entries) != head.size - start or new_tree.root() != head.root:
            await self._locate(reader, entries, start, head, result)
            return result
        result.tree_verified = True
        await self._check_listing(entries, start, result)
        keys = await self._keys(gateway_id, gateway_keys, entries)
        facts: list[ReceiptFacts] = []
        for offset, entry in enumerate(entries):
            if cases.is_case_event(entry):
                continue
            checked = check_receipt(start + offset, entry, keys)
            if isinstance(checked, Finding):
                result.findings.append(checked)
            else:
                facts.append(checked)
        result.receipts = len(facts)
        chain_findings, book = check_chains(facts, gateway_id, book)
        result.findings.extend(chain_findings)
        result.pairs = pair_stats(book, at=now(), overdue_after_s=self.overdue_after_s)
        if policy is not None:
            self._audit_cases(entries, start, head.size, keys, case_book, served, as_of, result)
        if not result.clean:
            return result  # the state never advances past a finding: the next pass repeats it
        unchanged = incremental and state is not None and state.verified.size == head.size
        if not unchanged:  # nothing new: the saved state is still exact, keep its file as is
            self._advance(gateway_id, log_keys, head, new_tree, book, case_book)
        if self.cosign:
            await self._cosign(head)
            result.cosigned = True
        return result

    def _advance(
        self,
        gateway_id: str,
        log_keys: list[NoteKey],
        head: SignedTreeHead,
        new_tree: CompactRange,
        book: ChainBook,
        case_book: cases.CaseBook,
    ) -> None:
        """Remember a checkpoint that verified, with its range and books, on disk."""
        signer = next(k for k in log_keys if checkpoint_signed_by(head.note, k))
        self.state = MonitorState(
            gateway_id=gateway_id,
            log_key=signer,
            note=head.note,
            verified=head.verified,
            verified_at=format_time(now()),
            tree=new_tree,
            book=book.to_json(),
            cases=case_book.to_json(),
        )
        if self.state_path is not None:
            save_state(self.state_path, self.state, self.client.identity.signing)

    def _audit_cases(
        self,
        entries: list[bytes],
        start: int,
        size: int,
        keys: KeyDirectory,
        book: cases.CaseBook,
        served: dict[str, Any],
        as_of: datetime,
        result: PassResult,
    ) -> None:
        """Check the new case events, continuing ``book``, and recompute the
        gateway's figures from everything the book holds (``entries`` are the
        log's ``[start, size)``)."""
        audit = cases.audit_cases(
            entries, keys.parties, book.stats.policy, start=start, book=book,
            unknown_issuer=keys.unknown_issuer,
        )
        result.findings.extend(Finding(f.kind, f.message, f.log_index) for f in audit.findings)
        result.case_events = audit.events
        log_size = served.get("log_size")
        if not isinstance(log_size, int) or not 0 <= log_size <= size:
            result.findings.append(
                Finding(
                    "case-stats",
                    f"GET /v1/stats names log size {log_size!r}, not a size of the log this pass"
                    f" verified ({size})",
                )
            )
            log_size = size
        result.cases = audit.stats.figures(as_of=as_of, log_size=log_size)
        result.case_stats, result.case_log_size = audit.stats, log_size
        for finding in cases.compare_stats(served, result.cases):
            result.findings.append(Finding(finding.kind, finding.message))

    async def _checkpoint(self, reader: LogReader, result: PassResult) -> SignedTreeHead | None:
        try:
            return await reader.checkpoint()
        except Invalid as exc:
            result.findings.append(Finding("checkpoint-signature", exc.detail))
            return None

    async def _consistent(
        self, reader: LogReader, state: MonitorState, head: SignedTreeHead, result: PassResult
    ) -> bool:
        old = state.verified
        old_desc = f"size {old.size}, root {b64std(old.root)}, verified {state.verified_at}"
        new_desc = f"size {head.size}, root {b64std(head.root)}"
        if head.size < old.size:
            result.findings.append(
                Finding(
                    "rollback",
                    f"the log's checkpoint ({new_desc}) is older than one it signed"
                    f" before ({old_desc}): the log was rolled back",
                )
            )
            return False
        if head.size == old.size:
            if head.root == old.root:
                return True
            result.findings.append(
                Finding(
                    "fork",
                    f"the log signed two different trees of size {old.size}: root"
                    f" {b64std(old.root)} before, {b64std(head.root)} now: history was rewritten",
                )
            )
            return False
        try:
            await reader.prove_consistency(old, head)
        except (Invalid, NotFound) as exc:
            result.findings.append(
                Finding(
                    "fork",
                    f"the log's checkpoint ({new_desc}) is not consistent with the one verified"
                    f" before ({old_desc}): history was rewritten ({exc.detail})",
                )
            )
            return False
        return True

    async def _locate(
        self,
        reader: LogReader,
        entries: list[bytes],
        start: int,
        head: SignedTreeHead,
        result: PassResult,
    ) -> None:
        """Name each entry of ``[start, head.size)`` that is not the leaf the
        checkpoint commits to (``entries[i]`` was served as index ``start + i``)."""
        semaphore = asyncio.Semaphore(PROOF_CONCURRENCY)

        async def bad_at(position: int, index: int) -> bool:
            if position >= len(entries) or index >= head.size:
                return True
            async with semaphore:
                try:
                    await reader.prove_inclusion(entries[position], index, head)
                except DXGError:  # a bad proof, or none for a size the log signed
                    return True
            return False

        async def bad(index: int) -> bool:
            return await bad_at(index - start, index)

        indices = range(start, head.size)
        verdicts = await asyncio.gather(*map(bad, indices))
        failing = [i for i, b in zip(indices, verdicts, strict=True) if b]
        if not failing:
            result.findings.append(
                Finding(
                    "altered-entry",
                    f"the log's entries do not hash to checkpoint {head.size}'s root",
                )
            )
            return
        if len(entries) < head.size - start:
            # Entries missing: everything after the first gap is served one
            # place early. Say where the gap is, not every shifted entry.
            first = failing[0]
            position = first - start
            shifted = position < len(entries) and not await bad_at(position, first + 1)
            result.findings.append(
                Finding(
                    "missing-entry",
                    f"log entry {first} is missing: the log serves {start + len(entries)}"
                    f" entries for its checkpoint of size {head.size}"
                    + (
                        f", and the entry it serves at {first} is the one the checkpoint"
                        f" has at {first + 1}"
                        if shifted
                        else ""
                    ),
                    first,
                )
            )
            if len(failing) > 1:
                result.findings.append(
                    Finding(
                        "missing-entry",
                        f"{len(failing) - 1} entries after {first} do not verify at their"
                        " indices either",
                    )
                )
            return
        for index in failing[:MAX_FINDINGS_SHOWN]:
            result.findings.append(
                Finding(
                    "altered-entry",
                    f"log entry {index} was altered: it is not the leaf checkpoint {head.size}"
                    " commits to (its inclusion proof fails)",
                    index,
                    _packet_of(entries, index - start),
                )
            )
        if len(failing) > MAX_FINDINGS_SHOWN:
            result.findings.append(
                Finding(
                    "altered-entry",
                    f"and {len(failing) - MAX_FINDINGS_SHOWN} more altered entries after those",
                )
            )

    async def _check_listing(self, entries: list[bytes], start: int, result: PassResult) -> None:
        """``GET /v1/receipts`` must list exactly the log's entries ``[start, start + n)``,
        at their indices; read from ``start`` on, so a pass reads only the new ones."""
        end = start + len(entries)
        listed: dict[int, str] = {}
        cursor = start
        while cursor < end:
            page = await self.client.receipts(after=cursor, limit=RECEIPT_PAGE)
            for item in page["items"]:
                index = int(item["log_index"])
                if start <= index < end:
                    listed[index] = str(item["receipt"])
            if int(page["next"]) <= cursor:
                break
            cursor = int(page["next"])
        for offset, entry in enumerate(entries):
            index = start + offset
            receipt = listed.get(index)
            if cases.is_case_event(entry):
                if receipt is not None:
                    result.findings.append(
                        Finding(
                            "receipts-listing",
                            f"GET /v1/receipts lists a receipt at log index {index}, where the"
                            " log holds a case event",
                            index,
                        )
                    )
                continue
            if receipt is None:
                result.findings.append(
                    Finding(
                        "receipts-listing",
                        f"log entry {index} is not listed by GET /v1/receipts",
                        index,
                        _packet_of(entries, offset),
                    )
                )
            elif receipt.encode("ascii") != entry:
                result.findings.append(
                    Finding(
                        "receipts-listing",
                        f"GET /v1/receipts serves another receipt at log index {index}"
                        " than the log holds",
                        index,
                        _packet_of(entries, offset),
                    )
                )

    async def _keys(
        self, gateway_id: str, gateway_keys: list[PublicKey], entries: list[bytes]
    ) -> KeyDirectory:
        """Who may sign the receipts in ``entries``: pinned keys if the monitor
        has a trust store, else the keys the gateway's registry lists."""
        directory = KeyDirectory(gateway_id=gateway_id, gateway_keys=gateway_keys,
                                 pinned=self.client.trust is not None)
        issuers = {issuer_of(e) for e in entries} - {None, gateway_id}
        trust = self.client.trust
        for issuer in sorted(i for i in issuers if i is not None):
            if trust is not None:
                pinned = trust.parties.get(issuer)
                directory.parties[issuer] = None if pinned is None else list(pinned)
                continue
            if not ID_PATTERN.fullmatch(issuer):  # unverified text: never put it in a URL
                directory.parties[issuer] = None
                continue
            try:
                info = await self.client.get_json(f"/v1/parties/{issuer}")
            except (NotFound, BadRequest):
                directory.parties[issuer] = None
                continue
            directory.parties[issuer] = [RegisteredKey.from_json(k) for k in info["keys"]]
        return directory

    async def _cosign(self, head: SignedTreeHead) -> None:
        identity = self.client.identity
        line = checkpoint.cosign(head.verified, identity.signing, name=identity.party_id)
        await self.client.request(
            "POST",
            f"/v1/log/cosignatures?size={head.size}",
            data=line.encode("utf-8"),
            headers={"Content-Type": "text/plain"},
        )


def checkpoint_signed_by(note: str, key: NoteKey) -> bool:
    """Whether ``key`` verifiably signed ``note`` (to pin the key that did)."""
    try:
        verify_note(note, [key])
    except Invalid:
        return False
    return True


def _packet_of(entries: Sequence[bytes], index: int) -> str | None:
    """The packet an entry claims to be about, unverified, for the report."""
    if index >= len(entries):
        return None
    try:
        claims = json.loads(jws.parse(entries[index], typ=jws.TYP_RECEIPT).payload)
        return str(claims["packet_id"])
    except (DXGError, ValueError, KeyError, TypeError):
        return None
