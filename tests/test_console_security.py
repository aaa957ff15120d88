"""The console's security pieces, each on its own (issue 13).

Passwords (argon2id), sessions, CSRF tokens, login throttling with a fake
clock, safe redirects, the language catalogues, and the four-eyes rule.
The application-level checks run the real aiohttp app on a loopback port.
"""

from __future__ import annotations

import asyncio
import re
import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer

from gateway.party.console import i18n
from gateway.party.console.app import CSP, ConsoleConfig, build_app, loopback_host, safe_next
from gateway.party.console.decisions import (
    AWAITING,
    FAILED,
    FIELD_VERDICTS,
    REASONS,
    REJECTED,
    RESULTS,
    SENDING,
    SENT,
    Decisions,
)
from gateway.party.console.inbox import FIELDS, RELATIONS
from gateway.party.console.security import (
    LOCKOUT_S,
    MAX_FAILURES,
    LoginThrottle,
    Sessions,
    csrf_ok,
)
from gateway.party.console.users import ROLES, Official, Users
from gateway.protocol import case
from gateway.protocol.errors import BadRequest, Forbidden, Invalid

TEMPLATES = Path(__file__).resolve().parent.parent / "gateway/party/console/templates"


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# -- passwords ---------------------------------------------------------------------


def test_passwords_are_argon2id_hashes_in_a_private_file(tmp_path: Path) -> None:
    users = Users(tmp_path)
    users.add("Olena", "a long enough password", role="reviewer")
    text = users.path.read_text()
    assert "$argon2id$" in text and "a long enough password" not in text
    assert stat.S_IMODE(users.path.stat().st_mode) == 0o600
    official = users.authenticate("olena", "a long enough password")
    assert official is not None and (official.name, official.role) == ("olena", "reviewer")
    assert users.authenticate("olena", "a long enough passworD") is None
    assert users.authenticate("nobody", "a long enough password") is None


def test_a_short_password_or_an_unknown_role_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="at least"):
        Users(tmp_path).add("olena", "short", role="reviewer")
    with pytest.raises(BadRequest, match="role"):
        Users(tmp_path).add("olena", "a long enough password", role="admin")


def test_user_add_creates_the_directory_and_reads_the_password_from_stdin(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "not" / "yet"
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "console", "user", "add", str(directory), "taras",
         "--role", "supervisor"],
        input="supervisor password 1\n", capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "supervisor password 1" not in proc.stdout + proc.stderr
    official = Users(directory).authenticate("taras", "supervisor password 1")
    assert official is not None and official.supervisor


# -- sessions and tokens ---------------------------------------------------------------


def test_signing_in_replaces_the_session_id_and_its_csrf_token() -> None:
    sessions = Sessions()
    anonymous = sessions.create()
    signed = sessions.sign_in(anonymous, Official("olena", "reviewer"))
    assert signed.sid != anonymous.sid and signed.csrf != anonymous.csrf
    assert sessions.get(anonymous.sid) is None
    assert sessions.get(signed.sid) is signed


def test_an_idle_session_expires() -> None:
    clock = FakeClock()
    sessions = Sessions(clock=clock, idle_s=60)
    session = sessions.create()
    clock.t += 61
    assert sessions.get(session.sid) is None


def test_csrf_tokens_must_match_exactly() -> None:
    session = Sessions().create()
    assert csrf_ok(session, session.csrf)
    assert not csrf_ok(session, session.csrf[:-1])
    assert not csrf_ok(session, "")
    assert not csrf_ok(session, None)
    assert not csrf_ok(None, session.csrf)


def test_redirects_after_a_form_stay_on_the_console() -> None:
    assert safe_next("/record/x/y") == "/record/x/y"
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil", "", None):
        assert safe_next(hostile) == "/"


# -- throttling ----------------------------------------------------------------------


def test_a_name_is_locked_after_repeated_failures_and_lifted_within_a_minute() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(MAX_FAILURES - 1):
        assert throttle.failed("olena") == 0
    wait = throttle.failed("olena")
    assert 0 < wait <= 60 and wait == pytest.approx(LOCKOUT_S, abs=1)
    assert throttle.retry_after("olena") == wait
    assert throttle.retry_after("taras") == 0  # other names are not affected
    clock.t += LOCKOUT_S
    assert throttle.retry_after("olena") == 0  # a correct password may sign in now
    assert throttle.failed("olena") > 0  # but one more wrong one locks again at once
    clock.t += LOCKOUT_S
    throttle.succeeded("olena")
    assert throttle.failed("olena") == 0  # a success forgets the failures


# -- the application, on a loopback port ----------------------------------------------------


def _with_app(
    tmp_path: Path, body: Callable[[ClientSession, str, FakeClock], Awaitable[None]]
) -> None:
    Users(tmp_path).add("olena", "a long enough password", role="reviewer")
    clock = FakeClock()
    app = build_app(ConsoleConfig(tmp_path, gateway="", party_id="ru", keys=""),
                    throttle=LoginThrottle(clock=clock))

    async def run() -> None:
        jar = CookieJar(unsafe=True)  # the console is on 127.0.0.1: keep its cookie
        async with TestServer(app, host="127.0.0.1") as server, ClientSession(
            cookie_jar=jar
        ) as http:
            await body(http, str(server.make_url("")), clock)

    asyncio.run(run())


async def _csrf(http: ClientSession, base: str) -> str:
    async with http.get(base + "/login") as answer:
        html = await answer.text()
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_login_without_its_csrf_token_is_403(tmp_path: Path) -> None:
    async def body(http: ClientSession, base: str, clock: FakeClock) -> None:
        await _csrf(http, base)
        form = {"name": "olena", "password": "a long enough password"}
        async with http.post(base + "/login", data=form, allow_redirects=False) as answer:
            assert answer.status == 403
            assert answer.headers["Content-Security-Policy"] == CSP
        async with http.post(base + "/login", data=form | {"csrf": "forged"},
                             allow_redirects=False) as answer:
            assert answer.status == 403

    _with_app(tmp_path, body)


def test_throttled_login_is_429_with_retry_after_and_lifted_for_the_right_password(
    tmp_path: Path,
) -> None:
    async def body(http: ClientSession, base: str, clock: FakeClock) -> None:
        token = await _csrf(http, base)
        wrong = {"name": "olena", "password": "wrong password!", "csrf": token}
        statuses = []
        for _ in range(MAX_FAILURES + 1):
            async with http.post(base + "/login", data=wrong, allow_redirects=False) as answer:
                statuses.append(answer.status)
                retry_after = answer.headers.get("Retry-After")
        assert statuses == [401] * (MAX_FAILURES - 1) + [429, 429]
        assert retry_after is not None and 0 < int(retry_after) <= 60
        right = wrong | {"password": "a long enough password"}
        async with http.post(base + "/login", data=right, allow_redirects=False) as answer:
            assert answer.status == 429
        clock.t += int(retry_after)
        async with http.post(base + "/login", data=right, allow_redirects=False) as answer:
            assert answer.status == 303 and answer.headers["Location"] == "/"

    _with_app(tmp_path, body)


def test_every_page_but_the_login_needs_an_official(tmp_path: Path) -> None:
    async def body(http: ClientSession, base: str, clock: FakeClock) -> None:
        for path in ("/", "/decisions", "/cases", "/record/x/y", "/page/x/1.png"):
            async with http.get(base + path, allow_redirects=False) as answer:
                assert answer.status == 303, path
                assert answer.headers["Location"].startswith("/login?next=")

    _with_app(tmp_path, body)


# -- languages -------------------------------------------------------------------------


def test_every_language_has_every_message_the_templates_use() -> None:
    keys = {lang: set(i18n.catalogue(lang).messages) for lang in i18n.LANGUAGES}
    assert keys["uk"] == keys["ru"] == keys["en"]
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_.]+)["']""", template.read_text()))
    static = {k for k in used if not k.endswith(".")}
    assert static <= keys["en"], static - keys["en"]


def test_the_browsers_language_is_chosen_by_its_weights() -> None:
    assert i18n.negotiate("ru-RU,ru;q=0.9,en;q=0.8") == "ru"
    assert i18n.negotiate("de-DE,en;q=0.5,uk;q=0.7") == "uk"
    assert i18n.negotiate("fr") == i18n.DEFAULT_LANGUAGE
    assert i18n.negotiate(None) == i18n.DEFAULT_LANGUAGE


# -- four eyes --------------------------------------------------------------------------


def _propose(decisions: Decisions, **over: Any) -> Any:
    args: dict[str, Any] = {
        "official": "olena", "packet_id": "p", "record_id": "r", "case_id": "c",
        "result": "verified", "reason": None, "fields": {"family_name": "confirmed"},
        "note": "",
    }
    return decisions.propose(**(args | over))


def test_a_decision_is_confirmed_only_by_a_second_official_who_is_a_supervisor(
    tmp_path: Path,
) -> None:
    decisions = Decisions(tmp_path)
    decision = _propose(decisions, official="taras")
    assert decision.state == AWAITING
    with pytest.raises(Forbidden, match="second official"):
        decisions.confirm(decision.decision_id, official="taras", supervisor=True)
    with pytest.raises(Forbidden, match="supervisor"):
        decisions.confirm(decision.decision_id, official="olena", supervisor=False)
    confirmed = decisions.confirm(decision.decision_id, official="iryna", supervisor=True)
    assert (confirmed.state, confirmed.confirmed_by) == (SENDING, "iryna")
    assert decisions.get(decision.decision_id).state == SENDING


def test_a_dispute_needs_a_reason_and_a_verdict_is_one_of_three(tmp_path: Path) -> None:
    decisions = Decisions(tmp_path)
    with pytest.raises(Invalid, match="reason"):
        _propose(decisions, result="disputed")
    with pytest.raises(Invalid, match="each field"):
        _propose(decisions, fields={"family_name": "maybe"})
    assert _propose(decisions, result="disputed", reason="photo_mismatch").state == AWAITING


def test_a_loopback_console_refuses_other_host_names_against_dns_rebinding(
    tmp_path: Path,
) -> None:
    async def body(http: ClientSession, base: str, clock: FakeClock) -> None:
        port = base.rsplit(":", 1)[1].rstrip("/")
        async with http.get(base + "/login", headers={"Host": f"evil.example:{port}"}) as answer:
            assert answer.status == 421
            assert answer.headers["Content-Security-Policy"] == CSP
        for name in ("127.0.0.1", "localhost"):
            async with http.get(base + "/login", headers={"Host": f"{name}:{port}"}) as answer:
                assert answer.status == 200

    _with_app(tmp_path, body)


def test_loopback_host_names() -> None:
    assert loopback_host("127.0.0.1:8600") and loopback_host("localhost") and loopback_host("[::1]")
    assert loopback_host("[::1]:8600") and loopback_host("LOCALHOST:80")
    assert not loopback_host("[::2]:8600") and not loopback_host("evil.example")
    assert not loopback_host("127.0.0.1.evil.example:8600")
    assert not loopback_host(None) and not loopback_host("")


async def _sign_in(http: ClientSession, base: str, name: str, password: str) -> str:
    """Sign in; the new session's CSRF token (read from a page after sign-in)."""
    token = await _csrf(http, base)
    form = {"name": name, "password": password, "csrf": token}
    async with http.post(base + "/login", data=form, allow_redirects=False) as answer:
        assert answer.status == 303
    async with http.get(base + "/decisions") as answer:
        match = re.search(r'name="csrf" value="([^"]+)"', await answer.text())
    assert match is not None and match.group(1) != token  # a new session, a new token
    return match.group(1)


def test_a_reviewer_posting_a_confirmation_directly_is_refused_and_nothing_is_sent(
    tmp_path: Path,
) -> None:
    decision = _propose(Decisions(tmp_path), official="taras")

    async def body(http: ClientSession, base: str, clock: FakeClock) -> None:
        token = await _sign_in(http, base, "olena", "a long enough password")
        async with http.post(base + f"/decisions/{decision.decision_id}/confirm",
                             data={"csrf": token}, allow_redirects=False) as answer:
            assert answer.status == 403
        assert Decisions(tmp_path).get(decision.decision_id).state == AWAITING

    _with_app(tmp_path, body)


def test_after_logout_the_session_no_longer_opens_a_page(tmp_path: Path) -> None:
    async def body(http: ClientSession, base: str, clock: FakeClock) -> None:
        token = await _sign_in(http, base, "olena", "a long enough password")
        async with http.get(base + "/", allow_redirects=False) as answer:
            assert answer.status == 200
        async with http.post(base + "/logout", data={"csrf": token},
                             allow_redirects=False) as answer:
            assert answer.status == 303
        async with http.get(base + "/", allow_redirects=False) as answer:
            assert answer.status == 303 and answer.headers["Location"].startswith("/login")

    _with_app(tmp_path, body)


def test_every_message_built_from_a_value_exists_in_every_language() -> None:
    families = {
        "kind": ("dossier", "verification", "status", "message"),
        "result": RESULTS, "reason": case.REASONS, "verdict": FIELD_VERDICTS,
        "state": (AWAITING, SENDING, SENT, FAILED, REJECTED),
        "casestate": case.STATES, "caseevent": case.EVENTS, "field": FIELDS,
        "relation": RELATIONS, "agree": ("agree", "close", "differ", "missing"),
        "role": ROLES,
    }
    for lang in i18n.LANGUAGES:
        messages = i18n.catalogue(lang).messages
        missing = [f"{family}.{value}" for family, values in families.items()
                   for value in values if f"{family}.{value}" not in messages]
        assert not missing, (lang, missing)
    assert set(REASONS) == set(case.REASONS)  # the console offers exactly the §10 codes


def test_a_decision_left_sending_by_a_stopped_console_is_failed_at_start_not_lost(
    tmp_path: Path,
) -> None:
    decisions = Decisions(tmp_path)
    decision = _propose(decisions, official="taras")
    decisions.confirm(decision.decision_id, official="iryna", supervisor=True)  # then: crash
    build_app(ConsoleConfig(tmp_path, gateway="", party_id="ru", keys=""))
    recovered = decisions.get(decision.decision_id)
    assert recovered.state == FAILED and recovered.error is not None
    assert "check the case" in recovered.error
    # A supervisor may confirm it again; the proposer still may not.
    with pytest.raises(Forbidden):
        decisions.confirm(decision.decision_id, official="taras", supervisor=True)
    assert decisions.confirm(decision.decision_id, official="iryna",
                             supervisor=True).state == SENDING
