"""The OpenAPI document: generated from the routes, never stale, served signed.

``docs/openapi.json`` is compared with the application's router both ways
and with what the code generates, so a route added without a description,
or a description changed without regenerating the file, fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp import web

from gateway.cli.openapi import DEFAULT_OUTPUT, generate
from gateway.protocol import schemas
from gateway.protocol.errors import ERRORS_BY_STATUS
from gateway.server import apidoc
from gateway.server.app import create_app
from gateway.server.openapi import UndescribedRoute, build
from tests.conftest import Exchange
from tests.harness import assert_problem, get, http

ROOT = Path(__file__).resolve().parent.parent
DOC_PATH = ROOT / DEFAULT_OUTPUT
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def committed() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DOC_PATH.read_text(encoding="utf-8"))
    return doc


def app_routes(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method, resource.canonical)
        for resource in app.router.resources()
        for route in resource
        if route.method != "HEAD"
    }


def doc_routes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def test_docs_openapi_json_is_what_the_code_generates() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == generate(), (
        "docs/openapi.json is stale: run python -m gateway.cli.openapi"
    )


def test_the_document_is_valid_openapi_3_1() -> None:
    # The OpenAPI Initiative's 3.1 schema, as schemathesis ships it (no network).
    from schemathesis.specs.openapi.definitions import OPENAPI_31  # noqa: PLC0415

    validator = jsonschema.validators.validator_for(OPENAPI_31)(OPENAPI_31)
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in
              validator.iter_errors(committed())]
    assert errors == []


def test_every_route_of_the_app_is_in_the_document_and_nothing_else() -> None:
    served = app_routes(create_app(Path("/nonexistent")))
    documented = doc_routes(committed())
    assert served - documented == set(), "routes the document lacks"
    assert documented - served == set(), "documented routes the gateway does not serve"
    assert ("GET", "/v1/openapi.json") in served


async def _handler(request: web.Request) -> web.Response:
    return web.json_response({})


def test_a_route_without_a_description_stops_the_build() -> None:
    app = create_app(Path("/nonexistent"))
    # A path no gateway serves, so that the test holds whatever routes land later.
    app.router.add_get("/v1/test-only/{thing_id}", _handler)
    with pytest.raises(UndescribedRoute, match=r"GET /v1/test-only/\{thing_id\} has no apidoc"):
        build(app)


def test_path_parameters_must_match_the_route() -> None:
    async def undeclared(request: web.Request) -> web.Response:
        return web.json_response({})

    apidoc.operation("x", spec="test", answers=(apidoc.Answer(200, "ok", {}),))(undeclared)
    app = create_app(Path("/nonexistent"))
    app.router.add_get("/v1/test-only/{thing_id}", undeclared)
    with pytest.raises(UndescribedRoute, match="path parameters"):
        build(app)


def test_a_description_cannot_contradict_the_token_rule() -> None:
    async def unsigned(request: web.Request) -> web.Response:
        return web.json_response({})

    apidoc.operation("x", spec="test", roles=None, answers=(apidoc.Answer(200, "ok", {}),))(
        unsigned
    )
    app = create_app(Path("/nonexistent"))
    app.router.add_get("/v1/test-only", unsigned)  # every /v1 route but /v1/gateway is signed
    with pytest.raises(UndescribedRoute, match="requires token"):
        build(app)


def test_signed_routes_name_the_bearer_scheme_and_answer_401_as_a_problem() -> None:
    doc = committed()
    scheme = doc["components"]["securitySchemes"]["dxgToken"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            signed = path.startswith("/v1/") and path != "/v1/gateway"
            assert op["security"] == ([{"dxgToken": []}] if signed else []), (method, path)
            if signed:
                assert op["responses"]["401"] == {
                    "$ref": "#/components/responses/problem-401"
                }


def test_every_error_answer_is_a_problem_with_the_taxonomy_codes() -> None:
    doc = committed()
    for path, item in doc["paths"].items():
        for op in item.values():
            for status, answer in op["responses"].items():
                if int(status) >= 400 and path != "/readyz":  # a probe's 503 is its status
                    assert answer["$ref"] == f"#/components/responses/problem-{status}"
    for name, response in doc["components"]["responses"].items():
        status = int(name.removeprefix("problem-"))
        schema = response["content"]["application/problem+json"]["schema"]
        codes = schema["allOf"][1]["properties"]["type"]["enum"]
        assert f"urn:dxg:error:{ERRORS_BY_STATUS[status].code}" in codes


def test_signed_payloads_reference_the_project_schemas() -> None:
    doc = committed()
    components = doc["components"]["schemas"]
    files = schemas.documents()
    for name in files:
        assert components[name]["title"] == files[name]["title"]
    text = json.dumps(doc["paths"])
    for name in ("manifest.v1.json", "receipt.v1.json"):
        assert f'"x-dxg-payload-schema": {{"$ref": "#/components/schemas/{name}"}}' in text
    # References inside the embedded schemas point inside the document.
    for ref in _refs(components):
        assert ref.startswith("#/components/schemas/"), ref
        _resolve(doc, ref)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for segment in ref.removeprefix("#/").split("/"):
        node = node[segment.replace("~1", "/").replace("~0", "~")]
    return node


def test_the_gateway_serves_the_document_to_signed_callers_only(exchange: Exchange) -> None:
    gw = exchange.gw
    assert_problem(http("GET", gw.url + "/v1/openapi.json"), 401, "unauthenticated")
    for caller in (exchange.ua, exchange.mon):
        answer = get(gw, caller, "/v1/openapi.json")
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("application/json")
        assert answer.json() == committed()
