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
4. checks that ``GET /v1/receipts`` lists exactly the log's entries;
5. verifies every receipt's signature: gateway receipts with the gateway's
   published keys, party receipts with the issuer's registered ``sig`` key,
   which must have been valid (not before ``not_before``, not after
   ``not_after``, not revoked) at the receipt's ``issued_at``;
6. checks each packet's chain: one ACCEPTED first, by the gateway; then
   DELIVERED, REJECTED or PROCESSED by the recipient, EXPIRED by the gateway,
   in an order the protocol allows (SPEC §3, §6), every receipt naming the
   same sender, recipient, ``envelope_sha256`` and parts, and DELIVERED and
   PROCESSED the same ``extraction_sha256``.

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

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway import checkpoint, receipts
from gateway.checkpoint import NoteKey, VerifiedCheckpoint
from gateway.client import Client, Identity
from gateway.clock import format_time, now, parse_time
from gateway.config import ID_PATTERN
from gateway.crypto import jws
from gateway.crypto.keys import PublicKey
from gateway.errors import BadRequest, DXGError, Invalid, NotFound, Unauthenticated
from gateway.log import EMPTY_ROOT, b64std, b64std_decode, leaf_hash, node_hash
from gateway.log_reader import LogReader, SignedTreeHead, verify_note

EXIT_CLEAN = 0
EXIT_FAILED = 3  # the log or its receipts failed verification: see the findings
STATE_VERSION = 1
DEFAULT_OVERDUE_S = 24 * 3600  # a day without DELIVERED deserves a look
DEFAULT_INTERVAL_S = 10.0
PROOF_CONCURRENCY = 32  # inclusion proofs in flight while locating a bad entry
MAX_FINDINGS_SHOWN = 20  # per kind; the rest is counted
RECEIPT_PAGE = 1000

RECIPIENT_LEVELS = frozenset({"DELIVERED", "REJECTED", "PROCESSED"})
GATEWAY_LEVELS = frozenset({"ACCEPTED", "EXPIRED"})
# What may come before each level in one packet's chain (SPEC §3 statuses,
# gateway.status.RECEIPT_FROM), read as receipts.
ALLOWED_AFTER: dict[str, frozenset[str]] = {
    "DELIVERED": frozenset({"ACCEPTED"}),
    "REJECTED": frozenset({"ACCEPTED", "DELIVERED"}),
    "PROCESSED": frozenset({"DELIVERED"}),
    "EXPIRED": frozenset({"ACCEPTED"}),
}


# --- Findings -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that failed verification, said so a person can act on it.

    ``kind`` is one of: ``checkpoint-signature``, ``origin``, ``rollback``,
    ``fork``, ``missing-entry``, ``altered-entry``, ``receipts-listing``,
    ``receipt-format``, ``receipt-signature``, ``receipt-key``, ``chain``.
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


@dataclass(frozen=True, slots=True)
class RegisteredKey:
    """A public signing key with its validity window (SPEC §1)."""

    key: PublicKey
    not_before: datetime | None = None
    not_after: datetime | None = None
    revoked_at: datetime | None = None

    def problem_at(self, at: datetime) -> str | None:
        """Why the key was not valid at ``at``, or None if it was."""
        if self.revoked_at is not None and at >= self.revoked_at:
            return f"revoked at {format_time(self.revoked_at)}"
        if self.not_before is not None and at < self.not_before:
            return f"not valid before {format_time(self.not_before)}"
        if self.not_after is not None and at > self.not_after:
            return f"expired at {format_time(self.not_after)}"
        return None

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RegisteredKey:
        def t(name: str) -> datetime | None:
            value = obj.get(name)
            return None if value is None else parse_time(str(value))

        return cls(
            key=PublicKey.from_jwk(obj),
            not_before=t("not_before"),
            not_after=t("not_after"),
            revoked_at=t("revoked_at"),
        )


@dataclass(slots=True)
class KeyDirectory:
    """Who may sign receipts: the gateway's keys, and each party's registered keys."""

    gateway_id: str
    gateway_keys: list[PublicKey]
    parties: dict[str, list[RegisteredKey] | None] = field(default_factory=dict)


# --- Receipts and chains ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptFacts(receipts.ReceiptClaims):
    """A receipt whose signature verified, at its log index."""

    log_index: int
    claims: dict[str, Any]


def claimed_issuer(entry: bytes) -> str | None:
    """The issuer a log entry claims, unverified (to know whose keys to fetch)."""
    try:
        return receipts.claimed_issuer(entry)[1]
    except DXGError:
        return None


def check_receipt(index: int, entry: bytes, keys: KeyDirectory) -> ReceiptFacts | Finding:
    """Verify one log entry as a receipt signed by a key valid when it was issued."""
    try:
        parsed, issuer = receipts.claimed_issuer(entry)
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
        verified = receipts.verify(parsed, record.key)
    except Unauthenticated as exc:
        return Finding("receipt-signature", f"{who}: {exc.detail}", index, packet_id)
    except Invalid as exc:
        return Finding("receipt-format", f"{who}: {exc.detail}", index, packet_id)
    return ReceiptFacts(log_index=index, claims=verified.claims)


@dataclass(slots=True)
class PacketChain:
    """What the log says happened to one packet, in log order."""

    packet_id: str
    sender: str
    recipient: str
    accepted_at: datetime | None = None
    delivered_at: datetime | None = None
    extraction_sha256: str | None = None
    levels: list[str] = field(default_factory=list)

    @property
    def pair(self) -> tuple[str, str]:
        return (self.sender, self.recipient)


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
        if previous not in ALLOWED_AFTER[r.level] or r.level in chain.levels:
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


# --- The report ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairStats:
    sender: str
    recipient: str
    packets: int
    delivered: int
    processed: int
    rejected: int
    expired: int
    pending: int
    overdue: int
    median_s: float | None
    p95_s: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "sender": self.sender,
            "recipient": self.recipient,
            "packets": self.packets,
            "delivered": self.delivered,
            "processed": self.processed,
            "rejected": self.rejected,
            "expired": self.expired,
            "pending": self.pending,
            "overdue": self.overdue,
            "accepted_to_delivered_s": {"median": self.median_s, "p95": self.p95_s},
        }


def nearest_rank(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile by nearest rank (``q`` in (0, 1])."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def pair_stats(
    chains: dict[str, PacketChain], *, at: datetime, overdue_after_s: float
) -> list[PairStats]:
    """Counts and ACCEPTED → DELIVERED times per sender → recipient pair."""
    by_pair: dict[tuple[str, str], list[PacketChain]] = defaultdict(list)
    for chain in chains.values():
        by_pair[chain.pair].append(chain)
    out = []
    for (sender, recipient), group in sorted(by_pair.items()):
        waits = [
            (c.delivered_at - c.accepted_at).total_seconds()
            for c in group
            if c.delivered_at is not None and c.accepted_at is not None
        ]
        overdue = 0
        for c in group:
            if "REJECTED" in c.levels or c.accepted_at is None:
                continue
            waited = ((c.delivered_at or at) - c.accepted_at).total_seconds()
            if waited > overdue_after_s:
                overdue += 1
        out.append(
            PairStats(
                sender=sender,
                recipient=recipient,
                packets=len(group),
                delivered=sum("DELIVERED" in c.levels for c in group),
                processed=sum("PROCESSED" in c.levels for c in group),
                rejected=sum("REJECTED" in c.levels for c in group),
                expired=sum("EXPIRED" in c.levels for c in group),
                pending=sum(c.levels == ["ACCEPTED"] for c in group),
                overdue=overdue,
                median_s=statistics.median(waits) if waits else None,
                p95_s=nearest_rank(waits, 0.95) if waits else None,
            )
        )
    return out


def render_table(stats: Sequence[PairStats]) -> str:
    """A fixed-width table of :func:`pair_stats`, one line per pair."""
    header = "pair packets deliv proc reject expired pending overdue median_s p95_s"
    rows: list[list[str]] = [header.split()]

    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    for s in stats:
        counts = (s.packets, s.delivered, s.processed, s.rejected, s.expired, s.pending)
        cells = [str(v) for v in (*counts, s.overdue)]
        rows.append([f"{s.sender} -> {s.recipient}", *cells, secs(s.median_s), secs(s.p95_s)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)


# --- The state file --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonitorState:
    """The last checkpoint this monitor verified, and the log key it pinned."""

    gateway_id: str
    log_key: NoteKey
    note: str
    verified: VerifiedCheckpoint
    verified_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "gateway_id": self.gateway_id,
            "origin": self.log_key.name,
            "log_key": self.log_key.public.to_jwk(with_meta=True),
            "checkpoint": self.note,
            "size": self.verified.size,
            "root": b64std(self.verified.root),
            "verified_at": self.verified_at,
        }

    @classmethod
    def from_json(cls, obj: Any) -> MonitorState:
        """Read a state file's JSON and verify its checkpoint again.

        Raises:
            BadRequest: not a state file, or its checkpoint does not verify.
        """
        try:
            if obj.get("v") != STATE_VERSION:
                raise BadRequest("unknown state file version")
            key = NoteKey(name=str(obj["origin"]), public=PublicKey.from_jwk(obj["log_key"]))
            note = str(obj["checkpoint"])
            verified = checkpoint.verify_checkpoint(note, log_key=key)
            if verified.size != obj["size"] or verified.root != b64std_decode(obj["root"]):
                raise BadRequest("its size or root is not its checkpoint's")
            return cls(
                gateway_id=str(obj["gateway_id"]),
                log_key=key,
                note=note,
                verified=verified,
                verified_at=str(obj["verified_at"]),
            )
        except (DXGError, KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = exc.detail if isinstance(exc, DXGError) else type(exc).__name__
            raise BadRequest(f"the monitor's state file does not verify: {detail}") from exc


def load_state(path: Path) -> MonitorState | None:
    """The state in ``path``; None if there is none yet.

    Raises:
        BadRequest: the file exists but is not a valid state.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise BadRequest(f"the monitor's state file {path.name} is not JSON") from exc
    return MonitorState.from_json(obj)


def save_state(path: Path, state: MonitorState) -> None:
    """Write the state atomically: a crash leaves the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(state.to_json(), indent=2) + "\n").encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --- One pass ----------------------------------------------------------------------------


@dataclass(slots=True)
class PassResult:
    """What one pass verified, found and counted."""

    head: SignedTreeHead | None = None
    tree_verified: bool = False
    findings: list[Finding] = field(default_factory=list)
    pairs: list[PairStats] = field(default_factory=list)
    receipts: int = 0
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
            "findings": [f.to_json() for f in self.findings],
            "pairs": [p.to_json() for p in self.pairs],
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
            checked = check_receipt(index, entry, keys)
            if isinstance(checked, Finding):
                result.findings.append(checked)
            else:
                facts.append(checked)
        result.receipts = len(facts)
        chain_findings, chains = check_chains(facts, gateway_id)
        result.findings.extend(chain_findings)
        result.pairs = pair_stats(chains, at=now(), overdue_after_s=self.overdue_after_s)
        if self.cosign and result.clean:
            await self._cosign(head)
            result.cosigned = True
        return result

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
        issuers = {claimed_issuer(e) for e in entries} - {None, gateway_id}
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


# --- The command line --------------------------------------------------------------------


def add_command(sub: Any) -> None:
    """Register ``gateway monitor`` on the CLI's subparsers."""
    p = sub.add_parser(
        "monitor",
        help="audit the receipt log: checkpoints, proofs, receipts and packet chains",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--gateway", default=os.environ.get("DXG_GATEWAY"), help="gateway base URL")
    p.add_argument("--id", default=os.environ.get("DXG_ID"), help="your monitor id")
    p.add_argument("--keys", default=os.environ.get("DXG_KEYS"), help="your key PREFIX")
    p.add_argument("--state", help="state file: the last verified checkpoint and pinned log key")
    p.add_argument(
        "--overdue-after",
        type=float,
        default=DEFAULT_OVERDUE_S,
        metavar="SECONDS",
        help=f"a packet with no DELIVERED this long after ACCEPTED is overdue"
        f" (default {DEFAULT_OVERDUE_S})",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--cosign", action="store_true", help="cosign checkpoints that verified")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument(
        "--interval", type=float, default=DEFAULT_INTERVAL_S, help="seconds between passes"
    )
    p.set_defaults(func=cmd_monitor)


def cmd_monitor(args: argparse.Namespace) -> int:
    """Run ``gateway monitor``; 0 if everything verified, 3 if anything failed."""
    if not args.gateway or not args.id or not args.keys:
        raise BadRequest("give --gateway, --id and --keys (or DXG_GATEWAY, DXG_ID, DXG_KEYS)")
    return asyncio.run(_follow(args))


async def _follow(args: argparse.Namespace) -> int:
    state_path = Path(args.state) if args.state else None
    if state_path is None:
        print(
            "gateway monitor: no --state: rollbacks and forks are caught within this run only",
            file=sys.stderr,
        )
    async with Client(args.gateway, Identity.load(args.id, args.keys)) as client:
        monitor = Monitor(
            client, state_path=state_path, overdue_after_s=args.overdue_after, cosign=args.cosign
        )
        last_size: int | None = None
        while True:
            previous = monitor.state
            result = await monitor.run_pass()
            size = None if result.head is None else result.head.size
            if args.once or not result.clean or size != last_size:
                _print(result, previous, as_json=args.json)
            if not result.clean:
                return EXIT_FAILED
            if args.once:
                return EXIT_CLEAN
            last_size = size
            await asyncio.sleep(args.interval)


def _print(result: PassResult, previous: MonitorState | None, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json(previous), indent=2), flush=True)
        return
    for finding in result.findings:
        print(f"gateway monitor: {finding}", file=sys.stderr)
    if result.head is not None:
        verdict = "verified" if result.clean else "FAILED"
        print(
            f"checkpoint {result.head.verified.origin} size {result.head.size}"
            f" root {b64std(result.head.root)}: {verdict}"
            f"{', cosigned' if result.cosigned else ''}"
            + (f"; {result.receipts} receipts verified" if result.tree_verified else "")
        )
    if result.pairs:
        print(render_table(result.pairs))
    sys.stdout.flush()
