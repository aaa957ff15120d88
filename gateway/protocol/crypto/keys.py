"""Keys as JWKs (RFC 8037): Ed25519 for signing, X25519 for sealing.

Public keys are small immutable values that know their RFC 7638 thumbprint
(``kid``). Private keys are separate types that never print their secret
(``repr`` shows the kid only) and are written to disk mode 0600 from the
moment the file exists, never widened afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import nacl.exceptions
import nacl.public
import nacl.signing

from gateway.protocol.errors import BadRequest, Unauthenticated

Curve = Literal["Ed25519", "X25519"]
Use = Literal["sig", "enc"]

KEY_BYTES = 32  # Ed25519 and X25519 keys alike: RFC 8032 §5.1.5, RFC 7748 §5
PRIVATE_FILE_MODE = 0o600
USE_BY_CURVE: dict[str, Use] = {"Ed25519": "sig", "X25519": "enc"}


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 4648 §5), as JOSE writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of :func:`b64url`.

    Raises:
        ValueError: the text is not canonical unpadded base64url.
    """
    if "=" in text or not text.isascii():
        raise ValueError("base64url must be unpadded ASCII")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(raw) != text:  # refuses non-canonical trailing bits
        raise ValueError("non-canonical base64url")
    return raw


def thumbprint(crv: str, x: str) -> str:
    """RFC 7638 thumbprint of an OKP key: the ``kid`` of SPEC §1."""
    canonical = json.dumps(
        {"crv": crv, "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True
    )
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 or X25519 public key."""

    crv: Curve
    raw: bytes
    # Derived once: every signature check compares it (SPEC §1: the thumbprint).
    kid: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.crv not in USE_BY_CURVE:
            raise BadRequest(f"unsupported curve {self.crv!r}: use Ed25519 or X25519")
        if len(self.raw) != KEY_BYTES:
            raise BadRequest(f"a {self.crv} public key has {KEY_BYTES} bytes")
        object.__setattr__(self, "kid", thumbprint(self.crv, self.x))

    @property
    def x(self) -> str:
        return b64url(self.raw)

    @property
    def use(self) -> Use:
        return USE_BY_CURVE[self.crv]

    def to_jwk(self, *, with_meta: bool = False) -> dict[str, str]:
        jwk = {"kty": "OKP", "crv": self.crv, "x": self.x}
        if with_meta:
            jwk |= {"kid": self.kid, "use": self.use}
        return jwk

    @classmethod
    def from_jwk(cls, jwk: Any) -> PublicKey:
        """Read a public JWK; members other than kty, crv, x and d are ignored.

        Raises:
            BadRequest: not an OKP key on a supported curve.
        """
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP":
            raise BadRequest("a key must be a JWK object with kty OKP")
        crv, x = jwk.get("crv"), jwk.get("x")
        if crv not in USE_BY_CURVE or not isinstance(x, str):
            raise BadRequest("a key must have crv Ed25519 or X25519 and a string x")
        try:
            raw = b64url_decode(x)
        except ValueError as exc:
            raise BadRequest("a key's x is not base64url") from exc
        key = cls(crv=crv, raw=raw)
        if "kid" in jwk and jwk["kid"] != key.kid:
            raise BadRequest("a key's kid is not its RFC 7638 thumbprint")
        return key

    def verify_key(self) -> nacl.signing.VerifyKey:
        if self.crv != "Ed25519":
            raise BadRequest("not a signing key")
        return nacl.signing.VerifyKey(self.raw)

    def check_signature(self, message: bytes, signature: bytes) -> None:
        """Verify a detached Ed25519 signature: the one such check in DXG.

        Raises:
            Unauthenticated: not a signing key, or the signature does not verify.
        """
        if self.crv != "Ed25519":
            raise Unauthenticated("not a signing key")
        try:
            nacl.signing.VerifyKey(self.raw).verify(message, signature)
        except (nacl.exceptions.BadSignatureError, ValueError, TypeError) as exc:
            raise Unauthenticated("bad signature") from exc

    def box_key(self) -> nacl.public.PublicKey:
        if self.crv != "X25519":
            raise BadRequest("not an encryption key")
        return nacl.public.PublicKey(self.raw)


class SigningKey:
    """A private Ed25519 key. Its secret never reaches a repr or a log."""

    __slots__ = ("_key", "public")

    def __init__(self, key: nacl.signing.SigningKey) -> None:
        self._key = key
        self.public = PublicKey("Ed25519", bytes(key.verify_key))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(nacl.signing.SigningKey.generate())

    @property
    def kid(self) -> str:
        return self.public.kid

    def sign(self, message: bytes) -> bytes:
        """The detached 64-byte Ed25519 signature of ``message``."""
        return bytes(self._key.sign(message).signature)

    def private_jwk(self) -> dict[str, str]:
        return self.public.to_jwk() | {"d": b64url(bytes(self._key))}

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


class EncryptionKey:
    """A private X25519 key, for opening sealed boxes."""

    __slots__ = ("_key", "public")

    def __init__(self, key: nacl.public.PrivateKey) -> None:
        self._key = key
        self.public = PublicKey("X25519", bytes(key.public_key))

    @classmethod
    def generate(cls) -> EncryptionKey:
        return cls(nacl.public.PrivateKey.generate())

    @property
    def kid(self) -> str:
        return self.public.kid

    def box_key(self) -> nacl.public.PrivateKey:
        return self._key

    def private_jwk(self) -> dict[str, str]:
        return self.public.to_jwk() | {"d": b64url(bytes(self._key))}

    def __repr__(self) -> str:
        return f"EncryptionKey(kid={self.kid!r})"


PrivateKey = SigningKey | EncryptionKey


def private_key_from_jwk(jwk: Any) -> PrivateKey:
    """Read a private JWK and check that its ``d`` matches its ``x``.

    Raises:
        BadRequest: malformed, or the private and public halves disagree.
    """
    public = PublicKey.from_jwk(jwk)
    d = jwk.get("d")
    if not isinstance(d, str):
        raise BadRequest("a private key file needs its d member")
    try:
        seed = b64url_decode(d)
    except ValueError as exc:
        raise BadRequest("a private key's d is not base64url") from exc
    if len(seed) != KEY_BYTES:
        raise BadRequest(f"a private key's d has {KEY_BYTES} bytes")
    key: PrivateKey
    if public.crv == "Ed25519":
        key = SigningKey(nacl.signing.SigningKey(seed))
    else:
        key = EncryptionKey(nacl.public.PrivateKey(seed))
    if key.public != public:
        raise BadRequest("a private key's d does not match its x")
    return key


def write_private_file(path: Path, data: bytes) -> None:
    """Write a secret to a new file that is 0600 from its first byte, durably."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def save_private_key(path: Path, key: PrivateKey) -> None:
    write_private_file(path, json.dumps(key.private_jwk(), indent=2).encode() + b"\n")


def _load_private(path: Path) -> PrivateKey:
    try:
        jwk = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadRequest(f"cannot read key file {path.name}: {type(exc).__name__}") from exc
    return private_key_from_jwk(jwk)


def load_signing_key(path: Path) -> SigningKey:
    """Load an Ed25519 private JWK file.

    Raises:
        BadRequest: unreadable, malformed, or not an Ed25519 key.
    """
    key = _load_private(path)
    if not isinstance(key, SigningKey):
        raise BadRequest(f"{path.name} holds an X25519 key, not an Ed25519 signing key")
    return key


def load_encryption_key(path: Path) -> EncryptionKey:
    """Load an X25519 private JWK file.

    Raises:
        BadRequest: unreadable, malformed, or not an X25519 key.
    """
    key = _load_private(path)
    if not isinstance(key, EncryptionKey):
        raise BadRequest(f"{path.name} holds an Ed25519 key, not an X25519 encryption key")
    return key
