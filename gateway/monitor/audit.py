"""``gateway monitor``: audit a gateway's receipt log without seeing personal data.

A monitor reads only what SPEC §7 and §6 give it: the signed checkpoint,
the log's entries and proofs, the receipts, and public keys
(``GET /v1/gateway``, ``GET /v1/parties/{id}``). Each pass:

1. verifies the checkpoint's signature with the log's key (pinned in the
   state file from the first verified pass on; the origin must not change);
2. checks it against the last checkpoint it verified (state file): a smaller
   size is a **rollback**, the same size with another root or a failing
   consistency proof (RFC 9162 §2.1.4.2) is a **fork** — history rewritten;
3. fetches every entry, recomputes the root (RFC 9162 §2.1.1, written here
   independently of the gateway's tree code) and compares it with the
   checkpoint's; if they differ, it verifies each entry's inclusion proof to
   name exactly which entry is **missing** or **altered**;
4. checks that ``GET /v1/receipts`` lists exactly the log's receipts (case
   events are not receipts and are not listed there);
5. verifies every receipt's signature: gateway receipts with the gateway's
   published keys, party receipts with the issuer's registered ``sig`` key,
   which must have been valid (not before ``not_before``, not after
   ``not_after``, not revoked) at the receipt's ``issued_at``;
6. checks each packet's chain: one ACCEPTED first, by the gateway; then
   DELIVERED, REJECTED or PROCESSED by the recipient, EXPIRED by the gateway,
   in an order the protocol allows (SPEC §3, §6), every receipt naming the
   same sender, recipient, ``envelope_sha256`` and parts, and DELIVERED and
   PROCESSED the same ``extraction_sha256``.

7. checks every case event (SPEC §10) and recomputes ``GET /v1/stats`` from
   the log alone: see :mod:`gateway.monitor.cases`. The figures are asked for
   before the checkpoint is fetched, so the size they were computed from is
   one this pass holds.

It reports, per sender → recipient pair: packets, delivered, processed,
rejected, expired, pending, overdue (not rejected, and no DELIVERED within
``--overdue-after`` of ACCEPTED, counted once that time has passed) and the
median and 95th percentile (nearest rank) of ACCEPTED → DELIVERED, from the
receipts' ``issued_at``.

Exit codes (besides the CLI's 1 for an error talking to the gateway and 2
for usage): 0 = everything verified; 3 = verification failed: fork,
rollback, a bad checkpoint or receipt signature, a missing or altered entry,
receipts the log does not hold, or an incoherent packet chain. Each finding
is printed with its kind, log index and packet id where it has them.

The state file (``--state``) is JSON, written atomically (temporary file,
fsync, rename, directory fsync) and only after a pass whose tree verified::

    {"v": 1, "gateway_id": ..., "origin": ..., "log_key": <public JWK>,
     "checkpoint": <the last verified signed note, verbatim>,
     "size": N, "root": <base64>, "verified_at": <time>}

On load the stored note is verified again with the pinned key, so the state
cannot be edited into trusting something the log never signed.

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
from gateway.monitor.report import PacketChain, PairStats, pair_stats
from gateway.monitor.state import MonitorState, load_state, save_state
from gateway.party.client import Client
from gateway.party.log import LogReader, SignedTreeHead, verify_note
from gateway.protocol import checkpoint, status
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
    NotFound,
    Unauthenticated,
)
from gateway.protocol.ids import ID_PATTERN
from gateway.protocol.merkle import EMPTY_ROOT, b64std, leaf_hash, node_hash
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

GATEWAY_LEVELS = frozenset({"ACCEPTED", "EXPIRED"})  # issued by the gateway, not a party


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


# --- The tree, recomputed independently (RFC 9162 §2.1.1) ----------------------------


def tree_root(entries: Sequence[bytes]) -> bytes:
    """``MTH(entries)``: RFC 9162 §2.1.1, by a stack of perfect subtrees.

    After leaf ``i`` the stack holds the perfect subtrees that make up the
    tree of ``i + 1`` leaves, largest first; MTH splits at the largest power
    of two, so the root is their right fold.
    """
    if not entries:
        return EMPTY_ROOT
    stack: list[bytes] = []
    for i, entry in enumerate(entries):
        stack.append(leaf_hash(entry))
        count = i + 1
        while count % 2 == 0:  # two equal perfect subtrees on top: merge them
            right = stack.pop()
            stack.append(node_hash(stack.pop(), right))
            count //= 2
    root = stack[-1]
    for left in reversed(stack[:-1]):
        root = node_hash(left, root)
    return root


# --- Keys as the registry publishes them ---------------------------------------------


@dataclass(slots=True)
class KeyDirectory:
    """Who may sign receipts: the gateway's keys, and each party's registered keys."""

    gateway_id: str
    gateway_keys: list[PublicKey]
    parties: dict[str, list[RegisteredKey] | None] = field(default_factory=dict)


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
            return Finding(
                "receipt-key", f"{who} names an issuer that is not registered", index, packet_id
            )
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
    facts: Sequence[ReceiptFacts], gateway_id: str
) -> tuple[list[Finding], dict[str, PacketChain]]:
    """Check each packet's receipts form a chain the protocol allows (SPEC §3, §6)."""
    findings: list[Finding] = []
    chains: dict[str, PacketChain] = {}
    first: dict[str, ReceiptFacts] = {}
    seen_ids: dict[str, int] = {}
    for r in facts:
        c = r.claims
        pid = r.packet_id

        def bad(message: str, r: ReceiptFacts = r, pid: str = pid) -> None:
            findings.append(Finding("chain", f"packet {pid}: {message}", r.log_index, pid))

        earlier = seen_ids.get(str(c["receipt_id"]))
        if earlier is not None:
            bad(f"receipt_id {c['receipt_id']} appears again (first at log index {earlier})")
            continue
        seen_ids[str(c["receipt_id"])] = r.log_index
        chain = chains.get(pid)
        if chain is None:
            if r.level != "ACCEPTED":
                bad(f"its first verified receipt is {r.level}, not ACCEPTED")
                continue
            if r.issuer != gateway_id:
                bad(f"ACCEPTED is issued by {r.issuer!r}, not the gateway {gateway_id!r}")
                continue
            chains[pid] = PacketChain(
                pid, str(c["sender"]), str(c["recipient"]), accepted_at=r.issued_at
            )
            chains[pid].levels.append("ACCEPTED")
            first[pid] = r
            continue
        accepted = first[pid].claims
        if r.level == "ACCEPTED":
            bad("a second ACCEPTED receipt")
            continue
        expected_issuer = gateway_id if r.level in GATEWAY_LEVELS else chain.recipient
        if r.issuer != expected_issuer:
            bad(f"{r.level} is issued by {r.issuer!r}, not by {expected_issuer!r}")
            continue
        if (c["sender"], c["recipient"]) != (chain.sender, chain.recipient):
            bad(f"{r.level} names other parties than its ACCEPTED receipt")
            continue
        if c["envelope_sha256"] != accepted["envelope_sha256"]:
            bad(f"{r.level} names another envelope_sha256 than ACCEPTED")
            continue
        if c["parts"] != accepted["parts"]:
            bad(f"{r.level} names other parts (names or digests) than ACCEPTED")
            continue
        previous = chain.levels[-1]
        if not status.receipt_may_follow(previous, r.level) or r.level in chain.levels:
            bad(f"{r.level} cannot follow {' -> '.join(chain.levels)}")
            continue
        if r.level == "PROCESSED" and c["extraction_sha256"] != chain.extraction_sha256:
            bad("PROCESSED names another extraction_sha256 than DELIVERED")
            continue
        chain.levels.append(r.level)
        if r.level == "DELIVERED":
            chain.delivered_at = r.issued_at
            chain.extraction_sha256 = c["extraction_sha256"]
    return findings, chains


# --- One pass ----------------------------------------------------------------------------


@dataclass(slots=True)
class PassResult:
    """What one pass verified, found and counted."""

    head: SignedTreeHead | None = None
    tree_verified: bool = False
    findings: list[Finding] = field(default_factory=list)
    pairs: list[PairStats] = field(default_factory=list)
    receipts: int = 0
    case_events: int = 0
    cases: dict[str, Any] | None = None  # the case figures recomputed from the log
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
    ) -> None:
        self.client = client
        self.state_path = state_path
        self.overdue_after_s = overdue_after_s
        self.cosign = cosign
        self.state: MonitorState | None = load_state(state_path) if state_path is not None else None

    async def run_pass(self) -> PassResult:
        """Verify the log once; advance the state if the tree verified.

        Raises:
            DXGError: the gateway answered an error to a request it must serve.
        """
        result = PassResult()
        info = await self.client.gateway_info()
        gateway_id, origin = str(info["id"]), str(info["origin"])
        published = [PublicKey.from_jwk(k) for k in info["keys"]]
        state = self.state
        if state is not None and origin != state.log_key.name:
            result.findings.append(
                Finding("origin", f"the gateway's origin changed from {state.log_key.name!r}")
            )
            return result
        log_keys = (
            [state.log_key]
            if state is not None
            else [NoteKey(name=origin, public=k) for k in published if k.use == "sig"]
        )
        reader = LogReader(self.client, log_keys=log_keys)
        as_of = now()
        served = await self.client.get_json(f"/v1/stats?as_of={format_time(as_of)}")
        head = await self._checkpoint(reader, result)
        if head is None:
            return result
        result.head = head
        if state is not None and not await self._consistent(reader, state, head, result):
            return result
        try:
            entries = await reader.entries(0, head.size)
        except NotFound as exc:  # below its own signed size: the log lost entries
            result.findings.append(
                Finding(
                    "missing-entry",
                    f"the log refuses entries its checkpoint commits to: {exc.detail}",
                )
            )
            return result
        if len(entries) != head.size or tree_root(entries) != head.root:
            await self._locate(reader, entries, head, result)
            return result
        result.tree_verified = True
        signer = next(k for k in log_keys if checkpoint_signed_by(head.note, k))
        self.state = MonitorState(
            gateway_id=gateway_id,
            log_key=signer,
            note=head.note,
            verified=head.verified,
            verified_at=format_time(now()),
        )
        if self.state_path is not None:
            save_state(self.state_path, self.state)
        await self._check_listing(entries, result)
        keys = await self._keys(gateway_id, published, entries)
        facts: list[ReceiptFacts] = []
        for index, entry in enumerate(entries):
            if cases.is_case_event(entry):
                continue
            checked = check_receipt(index, entry, keys)
            if isinstance(checked, Finding):
                result.findings.append(checked)
            else:
                facts.append(checked)
        result.receipts = len(facts)
        chain_findings, chains = check_chains(facts, gateway_id)
        result.findings.extend(chain_findings)
        result.pairs = pair_stats(chains, at=now(), overdue_after_s=self.overdue_after_s)
        self._audit_cases(entries, keys, info, served, as_of, result)
        if self.cosign and result.clean:
            await self._cosign(head)
            result.cosigned = True
        return result

    def _audit_cases(
        self,
        entries: list[bytes],
        keys: KeyDirectory,
        info: dict[str, Any],
        served: dict[str, Any],
        as_of: datetime,
        result: PassResult,
    ) -> None:
        """Check the case events and recompute the gateway's figures from them."""
        try:
            policy = Policy.from_json(info.get("policy", Policy().to_json()))
        except ValueError as exc:
            result.findings.append(Finding("case-stats", f"the gateway's policy: {exc}"))
            return
        audit = cases.audit_cases(entries, keys.parties, policy)
        result.findings.extend(Finding(f.kind, f.message, f.log_index) for f in audit.findings)
        result.case_events = audit.events
        size = served.get("log_size")
        if not isinstance(size, int) or not 0 <= size <= len(entries):
            result.findings.append(
                Finding(
                    "case-stats",
                    f"GET /v1/stats names log size {size!r}, not a size of the log this pass"
                    f" verified ({len(entries)})",
                )
            )
            size = len(entries)
        result.cases = audit.stats.figures(as_of=as_of, log_size=size)
        result.case_stats, result.case_log_size = audit.stats, size
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
        self, reader: LogReader, entries: list[bytes], head: SignedTreeHead, result: PassResult
    ) -> None:
        """Name each entry that is not the leaf the checkpoint commits to."""
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
            return await bad_at(index, index)

        failing = [i for i, b in enumerate(await asyncio.gather(*map(bad, range(head.size)))) if b]
        if not failing:
            result.findings.append(
                Finding(
                    "altered-entry",
                    f"the log's entries do not hash to checkpoint {head.size}'s root",
                )
            )
            return
        if len(entries) < head.size:
            # Entries missing: everything after the first gap is served one
            # place early. Say where the gap is, not every shifted entry.
            first = failing[0]
            shifted = first < len(entries) and not await bad_at(first, first + 1)
            result.findings.append(
                Finding(
                    "missing-entry",
                    f"log entry {first} is missing: the log serves {len(entries)} entries for"
                    f" its checkpoint of size {head.size}"
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
                    _packet_of(entries, index),
                )
            )
        if len(failing) > MAX_FINDINGS_SHOWN:
            result.findings.append(
                Finding(
                    "altered-entry",
                    f"and {len(failing) - MAX_FINDINGS_SHOWN} more altered entries after those",
                )
            )

    async def _check_listing(self, entries: list[bytes], result: PassResult) -> None:
        """``GET /v1/receipts`` must list exactly the log's entries, at their indices."""
        listed: dict[int, str] = {}
        cursor = 0
        while True:
            page = await self.client.receipts(after=cursor, limit=RECEIPT_PAGE)
            for item in page["items"]:
                listed[int(item["log_index"])] = str(item["receipt"])
            if int(page["next"]) == cursor:
                break
            cursor = int(page["next"])
        for index, entry in enumerate(entries):
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
                        _packet_of(entries, index),
                    )
                )
            elif receipt.encode("ascii") != entry:
                result.findings.append(
                    Finding(
                        "receipts-listing",
                        f"GET /v1/receipts serves another receipt at log index {index}"
                        " than the log holds",
                        index,
                        _packet_of(entries, index),
                    )
                )

    async def _keys(
        self, gateway_id: str, published: list[PublicKey], entries: list[bytes]
    ) -> KeyDirectory:
        directory = KeyDirectory(gateway_id=gateway_id, gateway_keys=published)
        issuers = {issuer_of(e) for e in entries} - {None, gateway_id}
        for issuer in sorted(i for i in issuers if i is not None):
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
