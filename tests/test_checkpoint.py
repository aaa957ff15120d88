"""Checkpoints as C2SP signed notes, and cosignature/v1 lines.

Interoperability anchors: the signed-note example of golang.org/x/mod's
``sumdb/note`` (a deterministic Ed25519 signature we must reproduce byte for
byte) and the cosignature example of c2sp.org/tlog-cosignature (its layout).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import nacl.signing
import pytest

from gateway.protocol.checkpoint import (
    MAX_SIGNATURES,
    Checkpoint,
    CosignerKey,
    NoteKey,
    VerifiedCheckpoint,
    add_signature_lines,
    cosign,
    key_id,
    open_note,
    parse_checkpoint_body,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
    verify_cosignature_line,
)
from gateway.protocol.crypto.keys import SigningKey
from gateway.protocol.errors import BadRequest, Invalid
from gateway.protocol.merkle import EMPTY_ROOT
from gateway.server.log import MerkleLog

ORIGIN = "dxg.example/log"
WITNESS = "witness.example/w1"
ROOT = hashlib.sha256(b"some root").digest()

# golang.org/x/mod/sumdb/note, package documentation and note_test.go.
GO_SKEY_B64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # 0x01 || seed
GO_VKEY_B64 = "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"  # 0x01 || public key
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
    "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

# c2sp.org/tlog-cosignature, its example cosignature line (time 1679315147).
C2SP_COSIG_B64 = (
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
    "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)


def new_log_key() -> tuple[SigningKey, NoteKey]:
    key = SigningKey.generate()
    return key, NoteKey(ORIGIN, key.public)


def new_witness(name: str = WITNESS) -> tuple[SigningKey, CosignerKey]:
    key = SigningKey.generate()
    return key, CosignerKey(name, key.public)


# --- Interoperability -----------------------------------------------------------------


def test_go_sumdb_note_known_answer() -> None:
    seed, public = base64.b64decode(GO_SKEY_B64), base64.b64decode(GO_VKEY_B64)
    key = SigningKey(nacl.signing.SigningKey(seed[1:]))
    assert key.public.raw == public[1:]
    verifier = NoteKey("PeterNeumann", key.public)
    assert verifier.key_id.hex() == "c74f20a3"
    assert sign_note(GO_TEXT, key, name="PeterNeumann") == GO_NOTE
    assert open_note(GO_NOTE, keys=[verifier]).text == GO_TEXT.encode()


def test_cosignature_layout_matches_c2sp_example() -> None:
    raw = base64.b64decode(C2SP_COSIG_B64)
    assert len(raw) == 4 + 8 + 64
    assert struct.unpack(">Q", raw[4:12])[0] == 1679315147
    key, log_key = new_log_key()
    checkpoint = verify_checkpoint(sign_checkpoint(ORIGIN, 5, ROOT, key), log_key=log_key)
    line = cosign(checkpoint, SigningKey.generate(), name=WITNESS, timestamp=1679315147)
    ours = base64.b64decode(line.split(" ")[2])
    assert len(ours) == len(raw)
    assert ours[4:12] == raw[4:12]


def test_key_ids_separate_signature_types() -> None:
    key = SigningKey.generate()
    assert NoteKey(ORIGIN, key.public).key_id == key_id(ORIGIN, 0x01, key.public)
    assert CosignerKey(ORIGIN, key.public).key_id == key_id(ORIGIN, 0x04, key.public)
    assert NoteKey(ORIGIN, key.public).key_id != CosignerKey(ORIGIN, key.public).key_id
    want = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + key.public.raw).digest()[:4]
    assert NoteKey(ORIGIN, key.public).key_id == want


# --- Checkpoints --------------------------------------------------------------------------


def test_sign_and_verify_round_trip() -> None:
    key, log_key = new_log_key()
    note = sign_checkpoint(ORIGIN, 1234, ROOT, key)
    body, sig = note.split("\n\n")
    assert body.split("\n") == [ORIGIN, "1234", base64.b64encode(ROOT).decode()]
    assert sig.startswith(f"— {ORIGIN} ") and sig.endswith("=\n")
    assert base64.b64decode(sig.split(" ")[2])[:4] == log_key.key_id
    verified = verify_checkpoint(note, log_key=log_key)
    assert (verified.origin, verified.size, verified.root) == (ORIGIN, 1234, ROOT)
    assert verified.signers == (ORIGIN,)
    assert verified.cosignatures == ()
    assert verify_checkpoint(note.encode(), log_key=log_key) == verified


def test_checkpoint_of_a_real_log(tmp_path: Path) -> None:
    key, log_key = new_log_key()
    with MerkleLog(tmp_path / "log.db") as log:
        head = log.head()
        assert (
            verify_checkpoint(
                sign_checkpoint(ORIGIN, head.size, head.root, key), log_key=log_key
            ).root
            == EMPTY_ROOT
        )
        log.append([b"r0", b"r1", b"r2"])
        log.integrate()
        head = log.head()
        verified = verify_checkpoint(
            sign_checkpoint(ORIGIN, head.size, head.root, key), log_key=log_key
        )
        assert (verified.size, verified.root) == (3, log.root(3))


def _flip(note: str, index: int) -> str:
    return note[:index] + ("A" if note[index] != "A" else "B") + note[index + 1 :]


def test_tampering_is_detected() -> None:
    key, log_key = new_log_key()
    note = sign_checkpoint(ORIGIN, 7, ROOT, key)
    sig_start = note.index("\n\n") + 2
    tampered = [
        note.replace("\n7\n", "\n8\n"),
        note.replace(ORIGIN + "\n", "dxg.example/other\n", 1),
        _flip(note, len(ORIGIN) + 4),  # inside the root hash
        _flip(note, len(note) - 10),  # inside the signature
        note.replace("\n\n", "\nextension\n\n"),
    ]
    for bad in tampered:
        with pytest.raises(Invalid):
            verify_checkpoint(bad, log_key=log_key)
    other = NoteKey(ORIGIN, SigningKey.generate().public)
    with pytest.raises(Invalid, match="not signed"):
        verify_checkpoint(note, log_key=other)  # same name, other key id: unknown
    with pytest.raises(Invalid):
        verify_checkpoint(note[:sig_start], log_key=log_key)  # no signature lines


def test_forged_signature_under_the_right_key_id_rejects() -> None:
    key, log_key = new_log_key()
    note = sign_checkpoint(ORIGIN, 7, ROOT, key)
    forged = sign_checkpoint(ORIGIN, 7, ROOT, SigningKey.generate())
    forged_sig = base64.b64decode(forged.split(" ")[-1])[4:]
    line = f"— {ORIGIN} {base64.b64encode(log_key.key_id + forged_sig).decode()}\n"
    with pytest.raises(Invalid, match="does not verify"):
        verify_checkpoint(note + line, log_key=log_key)


def test_unknown_signature_lines_are_ignored() -> None:
    key, log_key = new_log_key()
    note = sign_checkpoint(ORIGIN, 7, ROOT, key)
    stranger = sign_checkpoint(ORIGIN, 7, ROOT, SigningKey.generate(), name="other.example")
    junk = base64.b64encode(bytes([0xFF]) * 68).decode()
    junk_id = f"— {ORIGIN} {junk}\n"  # the log's name, but not its key id
    noisy = add_signature_lines(note, [stranger.split("\n\n")[1], junk_id])
    assert noisy.count("\n— ") == 3
    assert verify_checkpoint(noisy, log_key=log_key).signers == (ORIGIN,)


def test_origin_must_be_the_expected_one() -> None:
    key = SigningKey.generate()
    note = sign_checkpoint("dxg.example/other", 7, ROOT, key, name=ORIGIN)
    with pytest.raises(Invalid, match="another log"):
        verify_checkpoint(note, log_key=NoteKey(ORIGIN, key.public))
    checked = verify_checkpoint(
        note, log_key=NoteKey(ORIGIN, key.public), origin="dxg.example/other"
    )
    assert checked.origin == "dxg.example/other"


@pytest.mark.parametrize(
    "body",
    [
        b"dxg.example/log\n07\n" + base64.b64encode(ROOT) + b"\n",
        b"dxg.example/log\n-1\n" + base64.b64encode(ROOT) + b"\n",
        b"dxg.example/log\n1\n" + base64.b64encode(ROOT[:31]) + b"\n",
        b"dxg.example/log\n1\n" + base64.b64encode(ROOT).rstrip(b"=") + b"\n",
        b"dxg.example/log\n1\n",
        b"\n1\n" + base64.b64encode(ROOT) + b"\n",
        b"dxg.example/log\n1\n" + base64.b64encode(ROOT) + b"\n\n",
        b"dxg.example/log\n99999999999999999999\n" + base64.b64encode(ROOT) + b"\n",
    ],
)
def test_malformed_checkpoint_bodies_are_invalid(body: bytes) -> None:
    with pytest.raises(Invalid):
        parse_checkpoint_body(body)


def test_extension_lines_are_kept_and_signed() -> None:
    body = Checkpoint(ORIGIN, 3, ROOT, extensions=("ext one",)).body()
    assert parse_checkpoint_body(body).extensions == ("ext one",)


@pytest.mark.parametrize(
    "note",
    [
        "",
        "no blank line\n— a b\n",
        f"{ORIGIN}\n1\nroot\n\n",
        f"{ORIGIN}\n1\nroot\n\n— {ORIGIN}\n",
        f"{ORIGIN}\n1\nroot\n\n— {ORIGIN} !!!!\n",
        f"{ORIGIN}\n1\nroot\n\n— {ORIGIN} AAAA\n",
        f"{ORIGIN}\n1\nroot\n\n- {ORIGIN} AAAAAAAA\n",
        f"{ORIGIN}\n1\nroot\n\n— a+b AAAAAAAA\n",
        f"{ORIGIN}\n1\nroot\n\n— {ORIGIN} AAAAAAAA",
        f"{ORIGIN}\t\n1\nroot\n\n— {ORIGIN} AAAAAAAA\n",
    ],
)
def test_malformed_notes_are_invalid(note: str) -> None:
    _, log_key = new_log_key()
    with pytest.raises(Invalid):
        verify_checkpoint(note, log_key=log_key)


def test_non_utf8_and_oversized_notes_are_invalid() -> None:
    _, log_key = new_log_key()
    with pytest.raises(Invalid, match="UTF-8"):
        verify_checkpoint(b"\xff\xfe\n\n\xe2\x80\x94 a AAAAAAAA\n", log_key=log_key)
    key, _ = new_log_key()
    note = sign_checkpoint(ORIGIN, 1, ROOT, key)
    many = add_signature_lines(note, [f"— s{i}.example AAAAAAAA\n" for i in range(MAX_SIGNATURES)])
    with pytest.raises(Invalid, match="at most"):
        verify_checkpoint(many, log_key=log_key)


def test_signing_refuses_what_c2sp_forbids() -> None:
    key = SigningKey.generate()
    for origin in ("", "has space", "a+b", "new\nline"):
        with pytest.raises(BadRequest):
            sign_checkpoint(origin, 1, ROOT, key)
    with pytest.raises(BadRequest):
        sign_checkpoint(ORIGIN, -1, ROOT, key)
    with pytest.raises(BadRequest):
        sign_checkpoint(ORIGIN, 1, ROOT[:16], key)
    with pytest.raises(BadRequest):
        sign_note("no final newline", key, name=ORIGIN)


# --- Cosignatures ---------------------------------------------------------------------------


def _verified(size: int = 9) -> tuple[str, NoteKey, VerifiedCheckpoint]:
    key, log_key = new_log_key()
    note = sign_checkpoint(ORIGIN, size, ROOT, key)
    return note, log_key, verify_checkpoint(note, log_key=log_key)


def test_cosignature_round_trip() -> None:
    note, log_key, checkpoint = _verified()
    wkey, witness = new_witness()
    line = cosign(checkpoint, wkey, name=WITNESS, timestamp=1_700_000_000)
    assert line.startswith(f"— {WITNESS} ") and line.endswith("\n")
    raw = base64.b64decode(line.split(" ")[2])
    assert raw[:4] == witness.key_id
    assert struct.unpack(">Q", raw[4:12])[0] == 1_700_000_000

    got = verify_cosignature_line(checkpoint, line, witness)
    assert (got.name, got.timestamp) == (WITNESS, 1_700_000_000)
    assert got.time.isoformat() == "2023-11-14T22:13:20+00:00"

    cosigned = add_signature_lines(note, [line])
    assert add_signature_lines(cosigned, [line]) == cosigned, "no duplicate lines"
    both = verify_checkpoint(cosigned, log_key=log_key, cosigners=[witness])
    assert both.signers == (ORIGIN, WITNESS)
    assert both.cosignatures == (got,)
    # Without the witness configured, its line is just an unknown signature.
    assert verify_checkpoint(cosigned, log_key=log_key).signers == (ORIGIN,)


def test_cosignature_signs_the_cosignature_v1_message() -> None:
    _, _, checkpoint = _verified()
    wkey, witness = new_witness()
    line = cosign(checkpoint, wkey, name=WITNESS, timestamp=42)
    signature = base64.b64decode(line.split(" ")[2])[12:]
    message = b"cosignature/v1\ntime 42\n" + checkpoint.body
    witness.public.verify_key().verify(message, signature)  # raises if not


def test_cosignature_tampering_is_detected() -> None:
    note, log_key, checkpoint = _verified()
    wkey, witness = new_witness()
    line = cosign(checkpoint, wkey, name=WITNESS, timestamp=1_700_000_000)
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[11] ^= 1  # the timestamp is signed too
    moved = f"— {WITNESS} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(Invalid, match="does not verify"):
        verify_cosignature_line(checkpoint, moved, witness)
    with pytest.raises(Invalid, match="does not verify"):
        verify_checkpoint(add_signature_lines(note, [moved]), log_key=log_key, cosigners=[witness])
    # A cosignature over another checkpoint does not transfer.
    _, _, other = _verified(size=10)
    foreign = cosign(other, wkey, name=WITNESS, timestamp=1_700_000_000)
    with pytest.raises(Invalid):
        verify_cosignature_line(checkpoint, foreign, witness)
    # Another cosigner's line is refused by this one's verifier.
    _, stranger = new_witness("witness.example/w2")
    with pytest.raises(Invalid, match="not by this cosigner"):
        verify_cosignature_line(checkpoint, line, stranger)


def test_log_key_cannot_pass_as_cosigner() -> None:
    """Type bytes 0x01 and 0x04 give one Ed25519 key two different ids."""
    key, _ = new_log_key()
    note = sign_checkpoint(ORIGIN, 9, ROOT, key)
    as_cosigner = CosignerKey(ORIGIN, key.public)
    with pytest.raises(Invalid, match="not signed by any known key"):
        open_note(note, keys=[], cosigners=[as_cosigner])


def test_cosign_refuses_bad_input() -> None:
    _, _, checkpoint = _verified()
    wkey, _ = new_witness()
    with pytest.raises(BadRequest):
        cosign(checkpoint, wkey, name=WITNESS, timestamp=-1)
    with pytest.raises(BadRequest):
        cosign(checkpoint, wkey, name="bad name", timestamp=1)
    with pytest.raises(BadRequest):
        add_signature_lines(
            sign_checkpoint(ORIGIN, 1, ROOT, SigningKey.generate()), ["— x AAAAAAAA"]
        )
    line = cosign(checkpoint, wkey, name=WITNESS)
    assert struct.unpack(">Q", base64.b64decode(line.split(" ")[2])[4:12])[0] > 1_700_000_000
