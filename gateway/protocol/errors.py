"""The one error hierarchy of DXG.

Every failure the gateway or a party can meet is a :class:`DXGError`. Each
class carries its HTTP status and the stable problem code of SPEC §8, so that
domain code raises and exactly one place renders: the HTTP middleware turns an
error into an RFC 9457 ``application/problem+json`` body, the CLI into a
message and an exit code.

Invariant: a ``detail`` is written for the person reading it and never echoes
personal data (names, dates of birth, places, photos, contacts). Callers pass
ids, counts, hashes and field paths only.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_TYPE_PREFIX = "urn:dxg:error:"


class DXGError(Exception):
    """Base of every error DXG raises on purpose."""

    status: int = 500  # per class; an instance may carry the status a peer answered
    code: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

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


class BadRequest(DXGError):
    status = 400
    code = "bad-request"
    title = "Bad request"


class Unauthenticated(DXGError):
    """The caller, or the signer of a document, could not be authenticated."""

    status = 401
    code = "unauthenticated"
    title = "Unauthenticated"


class Forbidden(DXGError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(DXGError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(DXGError):
    status = 409
    code = "conflict"
    title = "Conflict"


class TooLarge(DXGError):
    status = 413
    code = "too-large"
    title = "Too large"


class UnsupportedMediaType(DXGError):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class DigestMismatch(DXGError):
    status = 422
    code = "digest-mismatch"
    title = "Digest mismatch"


class Invalid(DXGError):
    """Well-formed and authenticated, but breaks a rule of the protocol."""

    status = 422
    code = "invalid"
    title = "Invalid"


class RateLimited(DXGError):
    status = 429
    code = "rate-limited"
    title = "Rate limited"


class Unavailable(DXGError):
    status = 503
    code = "unavailable"
    title = "Unavailable"


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


def from_problem(status: int, problem: dict[str, Any]) -> DXGError:
    """Rebuild the error a gateway reported, for the client side."""
    code = str(problem.get("type", "")).removeprefix(PROBLEM_TYPE_PREFIX)
    detail = str(problem.get("detail", f"HTTP {status}"))
    cls = ERRORS_BY_CODE.get(code)
    if cls is None:
        err = DXGError(detail)
        err.status = status
        return err
    return cls(detail)
