"""schemathesis against a live gateway: no input makes it fail, every error is a problem.

The generated OpenAPI document (``docs/openapi.json``) drives schemathesis;
the requests go to a real gateway process on a loopback port, each signed
with a fresh request token of a registered caller (SPEC §2), so what is
fuzzed is the handlers behind authentication, not only the 401 path. Each
operation gets valid (positive) and schema-breaking (negative) inputs, a
bounded number of each.

What every answer must satisfy:
- no 5xx (``not_a_server_error``);
- its status and media type are ones the document lists for that operation,
  and a JSON answer matches the document's schema;
- an error is ``application/problem+json`` with SPEC §8's members and a
  ``urn:dxg:error:`` type that matches its status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.protocol.clock import format_time, now
from gateway.protocol.crypto import jws
from gateway.protocol.errors import ERRORS_BY_CODE, ERRORS_BY_STATUS, PROBLEM_TYPE_PREFIX
from tests.conftest import Exchange, running_exchange
from tests.harness import Party, bearer, send_ready_packet

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
# Bounds: ~17 operations x (POSITIVE + NEGATIVE) examples, about a minute in
# all on a loaded 2-core machine.
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 30, schemathesis.GenerationMode.NEGATIVE: 20}
REQUEST_TIMEOUT_S = 30
PROBLEM = "application/problem+json"
Case = schemathesis.Case[Any]  # one generated request of an operation

# A receipt travels as its JWS compact text: serialise it as text/plain does.
schemathesis.serializer.alias("application/jose", "text/plain")


def operations() -> list[tuple[str, str, schemathesis.GenerationMode]]:
    """Each operation in each mode; negative only where an input can break its schema."""
    return [
        (method.upper(), path, mode)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        for mode in EXAMPLES
        if mode is schemathesis.GenerationMode.POSITIVE
        or operation.get("parameters")
        or operation.get("requestBody")
    ]


@dataclass
class Live:
    ex: Exchange
    packet_id: str  # READY, from ua to ru: the one a fuzzed receipt names


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A gateway with one READY packet ua → ru, so that lists and the log hold items."""
    with running_exchange(tmp_path_factory.mktemp("fuzz")) as ex:
        yield Live(ex, send_ready_packet(ex.gw, ex.ua, ex.ru).packet_id)


def with_signed_payloads(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the fuzzer reads it: a JWS in a request is its payload.

    A random string is never a validly signed JWS, so fuzzing the JWS itself
    only reaches the signature check. In this copy each JWS a request
    carries (the packet's envelope, a receipt) is described by its payload's
    schema, marked with its ``typ``; :func:`sign_payloads` signs what
    schemathesis generates before it is sent, so manifests and receipts that
    break their schema arrive validly signed, past the signature check.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "x-dxg-typ" in node and "x-dxg-payload-schema" in node:
                return {**node["x-dxg-payload-schema"], "x-dxg-typ": node["x-dxg-typ"]}
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    copied: dict[str, Any] = json.loads(json.dumps(document))
    for item in copied["paths"].values():
        for operation in item.values():
            if "requestBody" in operation:
                operation["requestBody"] = walk(operation["requestBody"])
    return copied


@pytest.fixture(scope="module")
def api() -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict(with_signed_payloads(DOCUMENT))


def bound(live: Live, typ: str, value: Any) -> Any:
    """A generated payload with the members that bind it to this exchange set right.

    Random party ids and packet ids stop every request at 403/404; set to
    the caller (ru), its peer and the READY packet, the rest of the payload
    (generated, valid or not) reaches the checks behind those.
    """
    if not isinstance(value, dict):
        return value
    if typ == jws.TYP_PACKET:
        return value | {"sender": "ru", "recipient": "ua", "created": format_time(now())}
    if typ == jws.TYP_RECEIPT:
        return value | {"issuer": "ru", "sender": "ua", "recipient": "ru",
                        "packet_id": live.packet_id, "issued_at": format_time(now())}
    return value


def sign_payloads(live: Live, case: Case, caller: Party | None) -> None:
    """Sign, as ``caller``, every payload :func:`with_signed_payloads` marked."""
    body = case.operation.definition.raw.get("requestBody")
    if caller is None or body is None or case.media_type is None:
        return
    schema = body["content"][case.media_type]["schema"]

    def signed(value: Any, typ: str) -> str:
        payload = json.dumps(bound(live, typ, value), separators=(",", ":")).encode()
        return jws.sign(payload, caller.identity.signing, typ=typ)

    if "x-dxg-typ" in schema:
        case.body = signed(case.body, schema["x-dxg-typ"])
    elif isinstance(case.body, dict):
        for name, field in schema.get("properties", {}).items():
            if "x-dxg-typ" in field and name in case.body:
                case.body[name] = signed(case.body[name], field["x-dxg-typ"])


def problem_json(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                 case: Case) -> None:
    """SPEC §8: every 4xx/5xx is RFC 9457 problem+json with our four members."""
    if response.status_code < 400 or case.operation.path == "/readyz":
        return  # /readyz's 503 is a probe's status, documented as such
    media = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    assert media == PROBLEM, f"{response.status_code} answered as {media!r}"
    problem = json.loads(response.content)
    assert set(problem) >= {"type", "title", "status", "detail"}, problem
    assert problem["status"] == response.status_code, problem
    code = problem["type"].removeprefix(PROBLEM_TYPE_PREFIX)
    assert problem["type"].startswith(PROBLEM_TYPE_PREFIX) and code in ERRORS_BY_CODE, problem
    expected = {c for c, cls in ERRORS_BY_CODE.items() if cls.status == response.status_code}
    fallback = ERRORS_BY_STATUS.get(response.status_code)
    if fallback is not None:
        expected.add(fallback.code)
    assert code in expected, (code, response.status_code)
    assert isinstance(problem["title"], str) and isinstance(problem["detail"], str)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_json,
]


def signer(ex: Exchange, operation: dict[str, Any]) -> Party | None:
    """Who signs: none for unsigned routes, a monitor where only monitors may call,
    else ru (the recipient of the READY packet, so deliveries and receipts are its own)."""
    roles = operation.get("x-dxg-roles")
    if roles is None:
        return None
    return ex.ru if "party" in roles else ex.mon


def send(live: Live, case: Case, caller: Party | None,
         session: requests.Session) -> requests.Response:
    """Send ``case`` with a token bound to the exact path and query it goes out with."""
    sign_payloads(live, case, caller)
    kwargs = case.as_transport_kwargs(base_url=live.ex.gw.url)
    kwargs.pop("timeout", None)
    prepared = session.prepare_request(requests.Request(**kwargs))
    if caller is not None:
        assert prepared.method is not None
        prepared.headers["Authorization"] = bearer(caller, prepared.method, prepared.path_url)
    return session.send(prepared, timeout=REQUEST_TIMEOUT_S, allow_redirects=False)


@pytest.mark.parametrize(("method", "path", "mode"), operations(), ids=str)
def test_no_input_fails_the_gateway_and_every_error_is_a_problem(
    live: Live, api: schemathesis.BaseSchema, method: str, path: str,
    mode: schemathesis.GenerationMode,
) -> None:
    operation = api[path][method]
    caller = signer(live.ex, DOCUMENT["paths"][path][method.lower()])
    session = requests.Session()
    statuses: set[int] = set()

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case) -> None:
        response = send(live, case, caller, session)
        statuses.add(response.status_code)
        case.validate_response(response, checks=CHECKS)

    run()
    print(method, path, mode, sorted(statuses))  # with -s: which answers the fuzzing reached
    if caller is not None:
        # Every request carried a valid token and every payload a valid
        # signature: the handlers, not only the signature checks, answered.
        assert statuses - {401}, "no request got past authentication"
