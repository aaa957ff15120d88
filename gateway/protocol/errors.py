"""The one error taxonomy of DXG.

Every failure the gateway, a party or a monitor can meet is a
:class:`DXGError`. Each class carries what every consumer needs, so that
domain code raises and exactly one place renders:

- ``status`` and ``code``: the HTTP status and the stable problem code of
  SPEC §8 (the HTTP middleware renders RFC 9457 ``application/problem+json``);
- ``exit_code``: what the command line exits with (:data:`EXIT_CODES`);
- ``retryable``: whether the same request may succeed later unchanged. A
  temporary failure (the gateway unreachable, 429, 5xx) is never a verdict:
  a client retries it and never turns it into a REJECTED receipt, as
  python-tuf keeps ``DownloadError`` apart from ``RepositoryError``;
- ``action``: what the person reading it should do, printed by the CLI
  after the detail, as sigstore-python's errors explain themselves.

Families, and the exit code each maps to:

=====================  ====  ==============================================
family                 exit  classes
=====================  ====  ==============================================
usage                  2     (argparse), :class:`UsageError`
verification failed    3     :class:`VerificationFailed` (and a monitor's findings)
refused by the gateway 4     400, 404, 409, 413, 415, 422 (:class:`Refused`)
not authorised         5     401, 403
try again later        6     :class:`Temporary`: network, 429, 503, 507, 5xx
local set-up           7     :class:`LocalError`: files, keys, data directory
internal               1     anything else
=====================  ====  ==============================================

Invariant: a ``detail`` is written for the person reading it and never
echoes personal data (names, dates of birth, places, photos, contacts).
Callers pass ids, counts, hashes and field paths only.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_TYPE_PREFIX = "urn:dxg:error:"

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_VERIFICATION = 3
EXIT_REFUSED = 4
EXIT_AUTH = 5
EXIT_TEMPORARY = 6
EXIT_LOCAL = 7

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_INTERNAL: "internal error (a bug: report it with the command and its output)",
    EXIT_USAGE: "usage: a missing or malformed argument",
    EXIT_VERIFICATION: "verification failed: a signature, digest, proof or log check "
    "did not hold (see the findings)",
    EXIT_REFUSED: "the gateway refused the request as sent (fix it; retrying as is will not help)",
    EXIT_AUTH: "not authorised: check your id, keys, their registration and your clock",
    EXIT_TEMPORARY: "temporary: the gateway is unreachable, busy or failing; retry later",
    EXIT_LOCAL: "local set-up: a file, key or data directory is missing or unreadable",
}


class DXGError(Exception):
    """Base of every error DXG raises on purpose."""

    status: int = 500  # per class; an instance may carry the status a peer answered
    code: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"
    exit_code: ClassVar[int] = EXIT_INTERNAL
    retryable: ClassVar[bool] = False
    action: ClassVar[str] = "this is a bug; report it with the command that caused it"
    # True when a peer (the gateway) answered with this error (:func:`from_problem`),
    # False when this process concluded it: a party never turns the gateway's own
    # refusal or failure into a verdict on what it served.
    answered_by_peer: bool = False

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        return {
            "type": PROBLEM_TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }

    def diagnostics(self) -> str:
        """One or two lines for a person: what happened, then what to do."""
        return f"{self.code}: {self.detail}\n  what to do: {self.action}"


# --- Refused: the request is wrong as sent ------------------------------------------------


class Refused(DXGError):
    """The request breaks a rule; sent again unchanged it will fail again."""

    exit_code = EXIT_REFUSED
    action = "correct the request as the detail says; retrying it unchanged will not help"


class BadRequest(Refused):
    status = 400
    code = "bad-request"
    title = "Bad request"


class TimedOut(BadRequest):
    """The request's body stopped arriving (idle longer than the gateway waits)."""

    status = 408
    title = "Request timeout"
    action = "send the request again over a working connection; nothing was accepted"


class NotFound(Refused):
    status = 404
    code = "not-found"
    title = "Not found"
    action = "check the id; it may belong to another gateway or party"


class Conflict(Refused):
    status = 409
    code = "conflict"
    title = "Conflict"
    action = "read the current state (the detail names it) before acting again"


class TooLarge(Refused):
    status = 413
    code = "too-large"
    title = "Too large"
    action = "split the packet or shrink the part; the detail names the limit"


class UnsupportedMediaType(Refused):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"
    action = "send PDF, PNG, JPEG, TIFF, JSON or plain text, declared as what it really is"


class Invalid(Refused):
    """Well-formed and authenticated, but breaks a rule of the protocol."""

    status = 422
    code = "invalid"
    title = "Invalid"


class DigestMismatch(Invalid):
    status = 422
    code = "digest-mismatch"
    title = "Digest mismatch"
    action = "the bytes differ from what was signed: send the files the manifest describes"


# --- Not authorised -----------------------------------------------------------------------


class Unauthenticated(DXGError):
    """The caller, or the signer of a document, could not be authenticated."""

    status = 401
    code = "unauthenticated"
    title = "Unauthenticated"
    exit_code = EXIT_AUTH
    action = (
        "check --id and --keys, that the key is registered with the gateway and not "
        "revoked, and that this machine's clock is right"
    )


class Forbidden(DXGError):
    status = 403
    code = "forbidden"
    title = "Forbidden"
    exit_code = EXIT_AUTH
    action = "this party's role or side does not allow it; the detail says which"


# --- Verification failed (what we received does not verify) ------------------------------


class VerificationFailed(Invalid):
    """Something received does not verify: a signature, a digest, a binding.

    The only error a party answers with a REJECTED receipt. Raised by the
    party and the monitor on what the gateway served, never for a request the
    gateway refused or could not answer.
    """

    code = "invalid"
    exit_code = EXIT_VERIFICATION
    action = (
        "do not trust the content; the detail names what failed; tell the sender "
        "and the gateway's operator"
    )


# --- Temporary: try again later -----------------------------------------------------------


class Temporary(DXGError):
    """The same request may succeed later: retry with backoff, never conclude."""

    exit_code = EXIT_TEMPORARY
    retryable = True
    action = "retry later; nothing was decided. If it persists, tell the gateway's operator"


class RateLimited(Temporary):
    status = 429
    code = "rate-limited"
    title = "Rate limited"
    action = "slow down and retry after the time the gateway asks (Retry-After)"


class Unavailable(Temporary):
    status = 503
    code = "unavailable"
    title = "Unavailable"


class InsufficientStorage(Temporary):
    """The gateway cannot store anything now (disk full); nothing was accepted."""

    status = 507
    code = "unavailable"
    title = "Insufficient storage"
    action = "retry later; the gateway's operator must free disk space"


class ServerError(Temporary):
    """The gateway answered with a 5xx it did not explain."""

    status = 502
    code = "unavailable"
    title = "Gateway error"


class NetworkError(Temporary):
    """The gateway could not be reached, or the connection broke mid-answer."""

    status = 503
    code = "unavailable"
    title = "Gateway unreachable"
    action = (
        "check the gateway URL (--gateway or DXG_GATEWAY), that the gateway runs and "
        "that this machine can reach it; then retry"
    )


# --- Local set-up -------------------------------------------------------------------------


class UsageError(DXGError):
    """The command line was given something it cannot use."""

    status = 400
    code = "bad-request"
    title = "Usage"
    exit_code = EXIT_USAGE
    action = "see gateway COMMAND --help"


class LocalError(DXGError):
    """A local file, key or data directory is missing, unreadable or malformed."""

    status = 400
    code = "bad-request"
    title = "Local set-up"
    exit_code = EXIT_LOCAL
    action = "check the path and its permissions; the detail names the file"


ERRORS_BY_CODE: dict[str, type[DXGError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
        TooLarge,
        UnsupportedMediaType,
        DigestMismatch,
        Invalid,
        RateLimited,
        Unavailable,
    )
}

# What an HTTP status means when something other than DXG code answered it
# (aiohttp's own parser, routing): the class whose problem document to send.
ERRORS_BY_STATUS: dict[int, type[DXGError]] = {cls.status: cls for cls in ERRORS_BY_CODE.values()}
ERRORS_BY_STATUS[422] = Invalid
ERRORS_BY_STATUS[507] = InsufficientStorage


def from_problem(status: int, problem: dict[str, Any]) -> DXGError:
    """Rebuild the error a gateway reported, for the client side.

    A 5xx is temporary whatever its body says; so is a problem code this
    client does not know when the status is 5xx.
    """
    code = str(problem.get("type", "")).removeprefix(PROBLEM_TYPE_PREFIX)
    detail = str(problem.get("detail", f"HTTP {status}"))
    cls = ERRORS_BY_STATUS.get(status) if status >= 500 else ERRORS_BY_CODE.get(code)
    if cls is None:
        cls = ServerError if status >= 500 else ERRORS_BY_STATUS.get(status, Refused)
    err = cls(detail)
    if err.status != status:
        err.status = status
    err.answered_by_peer = True
    return err
