"""Checkpoints of the receipt log: C2SP signed notes, Ed25519, and cosignatures.

``GET /v1/log/checkpoint`` (SPEC §7) answers a C2SP tlog-checkpoint
(c2sp.org/tlog-checkpoint) wrapped in a C2SP signed note
(c2sp.org/signed-note)::

    <origin>\\n<tree size>\\n<base64 root hash>\\n
    \\n
    — <origin> <base64(key id[4] || Ed25519 signature)>\\n

Monitors add witness cosignatures (c2sp.org/tlog-cosignature, cosignature/v1)
as further signature lines.

Invariants:

* One function produces the signed bytes (:meth:`Checkpoint.body`), and
  verification checks signatures over the bytes received, then parses them:
  a checkpoint is never re-serialised to be verified.
* Key IDs are ``SHA-256(name || 0x0A || type || 32-byte key)[:4]``, with type
  0x01 for the log's Ed25519 signature and 0x04 for an Ed25519 cosignature,
  so a log key cannot be confused with a cosigner key even when they share a
  name and key.
* Per C2SP signed-note: signature lines from unknown (name, key ID) pairs are
  ignored; a known key whose signature fails rejects the whole note; a note
  where the log's own key did not sign is rejected.
* Base64 is standard, padded and canonical (RFC 4648 §4).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.protocol import clock
from gateway.protocol.crypto.keys import PublicKey, SigningKey
from gateway.protocol.errors import BadRequest, Invalid, Unauthenticated
from gateway.protocol.merkle import HASH_SIZE, MAX_TREE_SIZE, b64std, b64std_decode

SIG_TYPE_ED25519 = 0x01  # C2SP signed-note: Ed25519 over the note text
SIG_TYPE_COSIGNATURE_V1 = 0x04  # C2SP tlog-cosignature: timestamped Ed25519
SIG_LINE_PREFIX = "\u2014 "  # em dash, space: C2SP signed-note
COSIGNATURE_HEADER = b"cosignature/v1\n"  # domain separation, tlog-cosignature
KEY_ID_BYTES = 4
ED25519_SIG_BYTES = 64
TIMESTAMP_BYTES = 8  # u64, big-endian
MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature: a timestamp MUST NOT exceed it
MAX_SIGNATURES = 100  # C2SP: cap what we verify; at least 16 must be accepted
MAX_NOTE_BYTES = 64 * 1024  # a checkpoint with 100 Ed25519 lines is ~15 KiB

_SIZE_LINE = re.compile(r"0|[1-9][0-9]*")  # tlog-checkpoint: no leading zeroes


def _check_name(name: object, what: str) -> str:
    """C2SP signed-note: key names are non-empty, no Unicode spaces, no ``+``."""
    if (
        not isinstance(name, str)
        or not name
        or "+" in name
        or any(c.isspace() or c < " " for c in name)
    ):
        raise BadRequest(f"{what} must be non-empty, without spaces, '+' or control characters")
    return name


def key_id(name: str, sig_type: int, public: PublicKey) -> bytes:
    """``SHA-256(name || 0x0A || sig_type || public key)[:4]`` (C2SP signed-note)."""
    data = name.encode("utf-8") + b"\n" + bytes([sig_type]) + public.raw
    return hashlib.sha256(data).digest()[:KEY_ID_BYTES]


@dataclass(frozen=True, slots=True)
class NoteKey:
    """An Ed25519 signed-note key (signature type 0x01), such as the log's."""

    name: str
    public: PublicKey

    def __post_init__(self) -> None:
        _check_name(self.name, "a key name")
        if self.public.crv != "Ed25519":
            raise BadRequest("a note key must be Ed25519")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, SIG_TYPE_ED25519, self.public)


@dataclass(frozen=True, slots=True)
class CosignerKey:
    """A witness's cosignature/v1 key: Ed25519, signature type 0x04."""

    name: str
    public: PublicKey

    def __post_init__(self) -> None:
        _check_name(self.name, "a cosigner name")
        if self.public.crv != "Ed25519":
            raise BadRequest("a cosigner key must be Ed25519")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, SIG_TYPE_COSIGNATURE_V1, self.public)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head as C2SP tlog-checkpoint writes it. Checks its rules when built."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "the origin")
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise BadRequest("a tree size is an integer in [0, 2^63)")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise BadRequest(f"a root hash has {HASH_SIZE} bytes")
        for line in self.extensions:
            _check_line(line, "an extension line")

    def body(self) -> bytes:
        """The note text: the bytes that the log and every cosigner sign."""
        lines = [self.origin, str(self.size), b64std(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines).encode("utf-8")


def _check_line(line: object, what: str) -> None:
    if not isinstance(line, str) or not line or any(c < " " for c in line):
        raise BadRequest(f"{what} must be a non-empty line without control characters")


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified witness statement: as of ``timestamp`` this was its latest view."""

    name: str
    timestamp: int

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, UTC)


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint whose log signature verified, and whichever cosignatures did.

    ``body`` is the exact text that was verified; cosign that, not a
    re-serialisation.
    """

    checkpoint: Checkpoint
    body: bytes
    signers: tuple[str, ...]  # the log's key name first, then verified cosigners
    cosignatures: tuple[Cosignature, ...]

    @property
    def origin(self) -> str:
        return self.checkpoint.origin

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root


# --- Producing -----------------------------------------------------------------------


def _sig_line(name: str, payload: bytes) -> str:
    return f"{SIG_LINE_PREFIX}{name} {b64std(payload)}\n"


def sign_note(text: str, key: SigningKey, *, name: str) -> str:
    """A C2SP signed note of ``text`` with one Ed25519 signature.

    Args:
        text: the note text: non-empty, ending in a newline, no other control
            characters.
        key: the signer's Ed25519 key.
        name: the signer's key name.

    Raises:
        BadRequest: text or name that C2SP does not allow.
    """
    if not text.endswith("\n") or any(c < " " and c != "\n" for c in text):
        raise BadRequest("note text ends in a newline and has no other control characters")
    signer = NoteKey(name=name, public=key.public)
    body = text.encode("utf-8")
    return text + "\n" + _sig_line(signer.name, signer.key_id + key.sign(body))


def sign_checkpoint(
    origin: str, size: int, root: bytes, key: SigningKey, *, name: str | None = None
) -> str:
    """The signed note of a checkpoint, signed by the log.

    Args:
        origin: the log's origin line (SPEC §7: the gateway's origin).
        size: the tree size.
        root: the root hash of the tree of that size.
        key: the log's Ed25519 key.
        name: the key name of the signature line; SPEC §7 says the origin.

    Raises:
        BadRequest: an origin, name, size or root that C2SP does not allow.
    """
    body = Checkpoint(origin=origin, size=size, root=root).body()
    return sign_note(body.decode("utf-8"), key, name=origin if name is None else name)


def _cosigned_message(body: bytes, timestamp: int) -> bytes:
    # tlog-cosignature "Ed25519 signed message": header, time line, whole body.
    return COSIGNATURE_HEADER + f"time {timestamp}\n".encode("ascii") + body


def cosign(
    checkpoint: VerifiedCheckpoint,
    key: SigningKey,
    *,
    name: str,
    timestamp: int | None = None,
) -> str:
    """A cosignature/v1 signature line over a checkpoint the caller verified.

    Taking a :class:`VerifiedCheckpoint` keeps a witness from cosigning bytes
    whose log signature it never checked; consistency with its previous view
    is still the witness's own duty.

    Args:
        checkpoint: the verified checkpoint; its exact body is signed.
        key: the cosigner's Ed25519 key.
        name: the cosigner's key name.
        timestamp: POSIX seconds; default now.

    Returns:
        ``— <name> <base64(key id || u64 timestamp || signature)>\\n``.

    Raises:
        BadRequest: a name or timestamp C2SP does not allow.
    """
    signer = CosignerKey(name=name, public=key.public)
    when = int(clock.now().timestamp()) if timestamp is None else timestamp
    if type(when) is not int or not 0 <= when <= MAX_TIMESTAMP:
        raise BadRequest("a cosignature timestamp is an integer in [0, 2^63)")
    signature = key.sign(_cosigned_message(checkpoint.body, when))
    return _sig_line(name, signer.key_id + struct.pack(">Q", when) + signature)


def add_signature_lines(note: str, lines: Sequence[str]) -> str:
    """Append signature lines (e.g. cosignatures) to a signed note.

    Lines already present are not repeated.

    Raises:
        Invalid: the note is not a signed note.
        BadRequest: a line is not one signature line.
    """
    text, existing = _split_note(note)
    out = list(existing)
    for line in lines:
        if not line.endswith("\n") or "\n" in line[:-1]:
            raise BadRequest("a signature line is one line ending in a newline")
        try:
            _parse_sig_line(line[:-1])
        except Invalid as exc:
            raise BadRequest(exc.detail) from exc
        if line[:-1] not in out:
            out.append(line[:-1])
    return text + "\n" + "".join(sig + "\n" for sig in out)


# --- Verifying -----------------------------------------------------------------------


def _split_note(note: str | bytes) -> tuple[str, list[str]]:
    """C2SP signed-note: text, then the last blank line, then signature lines."""
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise Invalid(f"a signed note has at most {MAX_NOTE_BYTES} bytes")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Invalid("a signed note must be UTF-8") from exc
    if not isinstance(note, str):
        raise Invalid("a signed note is text")
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise Invalid(f"a signed note has at most {MAX_NOTE_BYTES} bytes")
    if any(c < " " and c != "\n" for c in note):
        raise Invalid("a signed note has no control characters but newline")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise Invalid("a signed note is text, a blank line, then signature lines")
    text, sigs = note[: cut + 1], note[cut + 2 :]
    lines = sigs[:-1].split("\n") if sigs else []
    if not lines:
        raise Invalid("a signed note has at least one signature line")
    if len(lines) > MAX_SIGNATURES:
        raise Invalid(f"a signed note has at most {MAX_SIGNATURES} signatures")
    return text, lines


def _parse_sig_line(line: str) -> tuple[str, bytes, bytes]:
    """``— <name> <base64>`` -> (name, key id, signature bytes)."""
    if not line.startswith(SIG_LINE_PREFIX):
        raise Invalid("a signature line starts with an em dash and a space")
    parts = line[len(SIG_LINE_PREFIX) :].split(" ")
    if len(parts) != 2:
        raise Invalid("a signature line is a key name and a base64 signature")
    name, encoded = parts
    try:
        _check_name(name, "a key name")
        raw = b64std_decode(encoded)
    except (BadRequest, ValueError) as exc:
        raise Invalid("a signature line has a bad key name or base64") from exc
    if len(raw) <= KEY_ID_BYTES:
        raise Invalid("a signature is a key id and signature bytes")
    return name, raw[:KEY_ID_BYTES], raw[KEY_ID_BYTES:]


def _ed25519_ok(public: PublicKey, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` verifies (a note may carry several; each is tried)."""
    try:
        public.check_signature(message, signature)
    except Unauthenticated:
        return False
    return True


def _verify_cosignature(body: bytes, signature: bytes, cosigner: CosignerKey) -> Cosignature:
    if len(signature) != TIMESTAMP_BYTES + ED25519_SIG_BYTES:
        raise Invalid(f"the cosignature of {cosigner.name} has the wrong length")
    (timestamp,) = struct.unpack(">Q", signature[:TIMESTAMP_BYTES])
    if timestamp > MAX_TIMESTAMP:
        raise Invalid(f"the cosignature of {cosigner.name} has an impossible time")
    message = _cosigned_message(body, timestamp)
    if not _ed25519_ok(cosigner.public, message, signature[TIMESTAMP_BYTES:]):
        raise Invalid(f"the cosignature of {cosigner.name} does not verify")
    return Cosignature(name=cosigner.name, timestamp=timestamp)


def verify_cosignature_line(
    checkpoint: VerifiedCheckpoint, line: str, cosigner: CosignerKey
) -> Cosignature:
    """Verify one cosignature line by a known cosigner over a verified checkpoint.

    Raises:
        Invalid: the line is malformed, from another key, or does not verify.
    """
    name, kid, signature = _parse_sig_line(line.removesuffix("\n"))
    if (name, kid) != (cosigner.name, cosigner.key_id):
        raise Invalid("the cosignature line is not by this cosigner")
    return _verify_cosignature(checkpoint.body, signature, cosigner)


def parse_checkpoint_body(body: bytes) -> Checkpoint:
    """Parse note text as a tlog-checkpoint. Call only on verified bytes.

    Raises:
        Invalid: not three or more non-empty lines of origin, size, root.
    """
    text = body.decode("utf-8")
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise Invalid("a checkpoint has an origin, a size and a root hash line")
    origin, size_line, root_line, *extensions = lines[:-1]
    if not _SIZE_LINE.fullmatch(size_line):
        raise Invalid("a checkpoint's size is a decimal without leading zeroes")
    try:
        root = b64std_decode(root_line)
    except ValueError as exc:
        raise Invalid("a checkpoint's root hash is not base64") from exc
    try:
        return Checkpoint(
            origin=origin, size=int(size_line), root=root, extensions=tuple(extensions)
        )
    except BadRequest as exc:
        raise Invalid(exc.detail) from exc


@dataclass(frozen=True, slots=True)
class VerifiedNote:
    """The text of a signed note, and which known keys verifiably signed it."""

    text: bytes
    signers: tuple[str, ...]  # names of NoteKeys whose signature verified
    cosignatures: tuple[Cosignature, ...]


def open_note(
    note: str | bytes, *, keys: Sequence[NoteKey], cosigners: Sequence[CosignerKey] = ()
) -> VerifiedNote:
    """Verify a C2SP signed note against known keys; return its text.

    Lines from unknown (name, key ID) pairs are ignored. A line from a known
    key must verify, or the whole note is rejected (C2SP: SHOULD).

    Raises:
        Invalid: malformed, a known key's signature fails, or no known key
            signed at all (C2SP: MUST reject).
    """
    text, lines = _split_note(note)
    body = text.encode("utf-8")
    known = {(k.name, k.key_id): k for k in keys}
    known_cosigners = {(c.name, c.key_id): c for c in cosigners}
    signers: dict[str, None] = {}
    cosigs: dict[str, Cosignature] = {}
    for line in lines:
        name, kid, signature = _parse_sig_line(line)
        if (name, kid) in known:
            if not _ed25519_ok(known[(name, kid)].public, body, signature):
                raise Invalid(f"the signature of {name} does not verify")
            signers[name] = None
        elif (name, kid) in known_cosigners:
            cosig = _verify_cosignature(body, signature, known_cosigners[(name, kid)])
            cosigs.setdefault(name, cosig)
        # Anything else is an unknown key: ignored, per C2SP signed-note.
    if not signers and not cosigs:
        raise Invalid("the note is not signed by any known key")
    return VerifiedNote(text=body, signers=tuple(signers), cosignatures=tuple(cosigs.values()))


def verify_checkpoint(
    note: str | bytes,
    *,
    log_key: NoteKey,
    cosigners: Sequence[CosignerKey] = (),
    origin: str | None = None,
) -> VerifiedCheckpoint:
    """Open a checkpoint note: verify signatures over the received text, then parse.

    Args:
        note: the signed note as received.
        log_key: the log's key; its signature must be present and verify.
        cosigners: known witnesses; their lines are verified when present.
        origin: the expected origin line; defaults to ``log_key.name``, since
            SPEC §7 names the log's key after its origin.

    Returns:
        The checkpoint, the exact body, and who verifiably signed it.

    Raises:
        Invalid: a malformed note or checkpoint, a known key's signature that
            fails, no signature by the log, or an unexpected origin.
    """
    opened = open_note(note, keys=[log_key], cosigners=cosigners)
    if not opened.signers:
        raise Invalid("the checkpoint is not signed by the log's key")
    checkpoint = parse_checkpoint_body(opened.text)
    if checkpoint.origin != (log_key.name if origin is None else origin):
        raise Invalid("the checkpoint is for another log")
    return VerifiedCheckpoint(
        checkpoint=checkpoint,
        body=opened.text,
        signers=(log_key.name, *(c.name for c in opened.cosignatures)),
        cosignatures=opened.cosignatures,
    )
