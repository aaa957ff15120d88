"""The OpenAPI 3.1 document of the gateway, generated from its routes.

The document is built from the application's router (every path and
method the gateway really serves) and the :class:`~gateway.server.apidoc.Operation`
each handler carries (``gateway.server.apidoc``). Nothing is listed twice:

- paths and methods: the router;
- who needs a token: the authentication middleware's own rule
  (:func:`gateway.server.auth.requires_token`), cross-checked with the
  roles the description names;
- error answers: RFC 9457 problems whose ``type`` codes come from the error
  taxonomy (``gateway.protocol.errors``);
- signed documents' payloads: the project's JSON Schemas (``schemas/``),
  carried whole under ``components/schemas``, named by file, their
  references rewritten to point inside this document (OpenAPI tools do not
  all honour an embedded ``$id``).

Guarantees: :func:`build` fails (:class:`UndescribedRoute`) on a route
whose handler has no description, whose path parameters differ from the
ones described, or whose token rule contradicts its roles, so the
document cannot silently miss or misstate a route. The output is
deterministic: ``docs/openapi.json`` is this document, and a test compares
them byte for byte (regenerate with ``python -m gateway.cli.openapi``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.protocol import schemas
from gateway.protocol.errors import ERRORS_BY_CODE, ERRORS_BY_STATUS
from gateway.server import apidoc
from gateway.server.auth import requires_token

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.1"  # the SPEC version these routes implement
PROBLEM_MEDIA_TYPE = "application/problem+json"
SECURITY_SCHEME = "dxgToken"
# Every signed route can refuse the token (401) or a full replay cache (429).
SIGNED_ROUTE_ERRORS = (401, 429)
_PATH_PARAM = re.compile(r"{([^}/:]+)(?::[^}]*)?}")


class UndescribedRoute(Exception):
    """A route the document cannot describe truthfully (a bug in the code, not a request)."""


def build(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of every route of ``app``.

    Raises:
        UndescribedRoute: a handler without an Operation, or one that
            contradicts its route (path parameters, token rule).
    """
    documents = {name: _embedded(name, doc) for name, doc in schemas.documents().items()}
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    used: set[int] = set()  # problem statuses answered somewhere
    for resource in app.router.resources():
        path = resource.canonical
        for route in resource:
            if route.method in ("HEAD", "*"):  # HEAD mirrors GET; no route serves "*"
                continue
            described = apidoc.described(route.handler)
            where = f"{route.method} {path}"
            if described is None:
                raise UndescribedRoute(
                    f"{where} has no apidoc.operation(...) on its handler; describe it"
                )
            _check(where, path, described)
            name = getattr(route.handler, "__name__", "")
            if not name or name in operation_ids:
                raise UndescribedRoute(f"{where}: handler names must be unique ({name!r})")
            operation_ids.add(name)
            used |= set(described.errors)
            if described.roles is not None:
                used |= set(SIGNED_ROUTE_ERRORS)
            paths.setdefault(path, {})[route.method.lower()] = _operation(
                name, described, documents
            )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "DXG gateway",
            "version": API_VERSION,
            "description": (
                "The wire protocol of docs/SPEC.md, generated from the gateway's routes. "
                "Every /v1 call but GET /v1/gateway carries a request token (SPEC §2); "
                "every error is an RFC 9457 problem (SPEC §8). Packets, receipts and "
                "extraction documents are JWS whose payloads follow the schemas under "
                "components/schemas (the project's schemas/ directory)."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWS",
                    "description": (
                        'A self-issued JWS, header {"alg":"Ed25519","kid":<caller sig kid>,'
                        '"typ":"dxg-auth+jwt"}, claims iss, aud, iat, exp (exp - iat <= 300), '
                        "jti (>= 16 random bytes, once only), htm (the method) and htu (the "
                        "request path with query, exactly as sent): SPEC §2."
                    ),
                }
            },
            "schemas": {"problem": _PROBLEM, **documents},
            "responses": {_problem_name(s): _problem_response(s) for s in sorted(used)},
        },
    }


def render(document: Mapping[str, Any]) -> str:
    """The document as the text ``docs/openapi.json`` holds."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@apidoc.operation(
    "This OpenAPI document",
    spec="docs/protocol.md",
    answers=(apidoc.Answer(200, "The OpenAPI 3.1 document of this gateway", {"type": "object"}),),
)
async def serve_document(request: web.Request) -> web.Response:
    """``GET /v1/openapi.json``: the document, signed like every /v1 call."""
    return web.Response(text=render(build(request.app)), content_type="application/json")


# -- pieces ------------------------------------------------------------------------

_PROBLEM: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details (SPEC §8); the detail never echoes personal data",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "pattern": "^urn:dxg:error:[a-z-]+$"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
    },
}


def _problem_name(status: int) -> str:
    return f"problem-{status}"


def _problem_response(status: int) -> dict[str, Any]:
    codes = sorted(
        {code for code, cls in ERRORS_BY_CODE.items() if cls.status == status}
        | {ERRORS_BY_STATUS[status].code}
    )
    what = ", ".join(codes)
    return {
        "description": f"Problem ({what})",
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/problem"},
                        {
                            "properties": {
                                "status": {"const": status},
                                "type": {"enum": [f"urn:dxg:error:{c}" for c in codes]},
                            }
                        },
                    ]
                }
            }
        },
    }


def _embedded(name: str, schema: Any) -> Any:
    """A project schema as a component: ``$id`` dropped, references made document-local."""
    top = {k: v for k, v in schema.items() if k not in ("$id", "$schema")}
    top["$comment"] = f"schemas/{name} ({schema.get('$id', '')})"
    return _local_refs(name, top)


def _local_refs(name: str, node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _local_refs(name, v) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str):
            target, _, pointer = ref.partition("#")
            out["$ref"] = f"#/components/schemas/{target or name}{pointer}"
        return out
    if isinstance(node, list):
        return [_local_refs(name, item) for item in node]
    return node


def _check(where: str, path: str, described: apidoc.Operation) -> None:
    in_path = set(_PATH_PARAM.findall(path))
    declared = {p.name for p in described.params if p.where == "path"}
    if in_path != declared:
        raise UndescribedRoute(
            f"{where}: path parameters {sorted(in_path)} but described {sorted(declared)}"
        )
    signed = requires_token(path)
    if signed != (described.roles is not None):
        raise UndescribedRoute(
            f"{where}: the gateway {'requires' if signed else 'takes no'} token here, "
            f"but the description says roles={described.roles!r}"
        )
    unknown = [s for s in described.errors if s not in ERRORS_BY_STATUS]
    if unknown:
        raise UndescribedRoute(f"{where}: no problem type answers status {unknown}")


def _operation(
    name: str, described: apidoc.Operation, documents: Mapping[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": name, "summary": described.summary}
    description = f"Defined in {described.spec}."
    if described.roles is not None:
        description += " Callers with role " + " or ".join(sorted(described.roles)) + "."
        out["x-dxg-roles"] = sorted(described.roles)
    out["description"] = description
    if described.params:
        out["parameters"] = [_parameter(p, documents) for p in described.params]
    if described.body is not None:
        body = described.body
        media: dict[str, Any] = {"schema": _schema(body.schema, documents)}
        if body.encoding:
            media["encoding"] = {k: dict(v) for k, v in body.encoding.items()}
        out["requestBody"] = {
            "required": True,
            "description": body.description,
            "content": {body.media_type: media},
        }
    responses: dict[str, Any] = {}
    for answer in described.answers:
        responses[str(answer.status)] = {
            "description": answer.description,
            "content": {answer.media_type: {"schema": _schema(answer.schema, documents)}},
        }
    errors = set(described.errors)
    if described.roles is not None:
        errors |= set(SIGNED_ROUTE_ERRORS)
        out["security"] = [{SECURITY_SCHEME: []}]
    else:
        out["security"] = []
    for status in sorted(errors):
        responses[str(status)] = {"$ref": f"#/components/responses/{_problem_name(status)}"}
    out["responses"] = responses
    return out


def _parameter(param: apidoc.Param, documents: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": param.name,
        "in": param.where,
        "required": param.required or param.where == "path",
        "description": param.description,
        "schema": _schema(param.schema, documents),
    }


def _schema(node: Any, documents: Mapping[str, Any]) -> Any:
    """A copy of ``node`` with project schema names turned into references.

    Raises:
        UndescribedRoute: a payload names a schema file the project lacks.
    """
    if isinstance(node, Mapping):
        out = {}
        for key, value in node.items():
            if key == "x-dxg-payload-schema":
                if value not in documents:
                    raise UndescribedRoute(f"no schema file {value!r} in schemas/")
                out[key] = {"$ref": f"#/components/schemas/{value}"}
            else:
                out[key] = _schema(value, documents)
        return out
    if isinstance(node, (list, tuple)):
        return [_schema(item, documents) for item in node]
    return node
