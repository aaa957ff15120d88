"""The versioned JSON Schemas of the protocol, and checks against them.

The schemas are data in the project's top-level ``schemas/`` directory
(``biography.v1.json``, ``extraction.v1.json``, ``manifest.v1.json``,
``receipt.v1.json``, ``case-event.v1.json``; JSON Schema 2020-12), shipped as package data of
``gateway.protocol`` (``schema_files`` links to that directory, and a wheel
carries its files). This module is the one place that loads them and checks
documents with them.

Guarantees:
- Nothing is fetched from the network: every ``$id`` is a name, and the
  cross-file ``$ref``s (extraction → biography, receipt and case event → manifest) resolve through a
  ``referencing.Registry`` built from the local files only. An unknown
  reference fails instead of being retrieved.
- The schemas themselves are checked against the 2020-12 meta-schema when
  first loaded, so a broken schema file fails loudly, not open.
- A violation is reported as a JSON Pointer (RFC 6901) into the document and
  the name of the schema keyword that failed (``enum``, ``pattern``…), never
  the offending value or the validator's message, which quote it: the
  documents are children's personal data.
- The verdict is the ``jsonschema`` package's. A document goes first to
  ``jsonschema-rs`` (the same schema, compiled in Rust, ~30x cheaper: a
  manifest is checked on every packet's path); its "valid" is taken, anything
  else (invalid, or a document it cannot take) is decided and reported by
  ``jsonschema``. That is sound only while ``jsonschema-rs`` accepts nothing
  ``jsonschema`` refuses, which ``tests/test_schemas.py`` checks on every
  schema with documents broken every way we know; where the two differ it
  is the Rust one that is stricter (``$`` in a pattern: Python's ``re`` lets
  a trailing newline through), and the stricter answer only costs the slow
  check.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.protocol.errors import Invalid

BIOGRAPHY_V1 = "https://dxg.local/schemas/biography.v1.json"
EXTRACTION_V1 = "https://dxg.local/schemas/extraction.v1.json"
MANIFEST_V1 = "https://dxg.local/schemas/manifest.v1.json"
RECEIPT_V1 = "https://dxg.local/schemas/receipt.v1.json"
CASE_EVENT_V1 = "https://dxg.local/schemas/case-event.v1.json"
_FILES = {
    BIOGRAPHY_V1: "biography.v1.json",
    EXTRACTION_V1: "extraction.v1.json",
    MANIFEST_V1: "manifest.v1.json",
    RECEIPT_V1: "receipt.v1.json",
    CASE_EVENT_V1: "case-event.v1.json",
}

# Package data: a link to the top-level schemas/ in the source tree, the files
# themselves in an installed wheel.
_SCHEMA_DIR = Path(__file__).resolve().parent / "schema_files"

# How many violations a detail names before it only counts the rest; enough
# to fix a document, short enough for a problem+json detail.
MAX_REPORTED_VIOLATIONS = 3


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken schema rule: where in the document, and which keyword."""

    pointer: str  # RFC 6901 JSON Pointer into the checked document; "" is the root
    rule: str  # the JSON Schema keyword that failed, e.g. "enum", "required"

    def __str__(self) -> str:
        return f"{self.pointer or '/'} ({self.rule})"


@dataclass(frozen=True, slots=True)
class SchemaCheck:
    """The result of checking one document against one schema."""

    schema: str  # the schema's file name, e.g. "biography.v1.json"
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations

    def detail(self, what: str) -> str:
        """A problem detail naming paths and rules only, never values."""
        shown = "; ".join(str(v) for v in self.violations[:MAX_REPORTED_VIOLATIONS])
        more = len(self.violations) - MAX_REPORTED_VIOLATIONS
        tail = f"; and {more} more" if more > 0 else ""
        return f"{what} breaks {self.schema} at {shown}{tail}"


def schemas_dir() -> Path:
    """The directory holding the schema files.

    Raises:
        FileNotFoundError: no candidate directory holds the schemas (a broken
            installation, not a bad request).
    """
    if all((_SCHEMA_DIR / name).is_file() for name in _FILES.values()):
        return _SCHEMA_DIR
    raise FileNotFoundError("DXG schema files not found; is the package installed with its data?")


def documents() -> dict[str, Any]:
    """Every schema file as parsed JSON, by file name (``manifest.v1.json``).

    For documents that carry the schemas whole (the OpenAPI description);
    validation goes through :func:`check`.

    Raises:
        FileNotFoundError: the schema files are not installed.
    """
    directory = schemas_dir()
    return {
        name: json.loads((directory / name).read_text(encoding="utf-8"))
        for name in sorted(_FILES.values())
    }


@cache
def _registry() -> Registry[Any]:
    directory = schemas_dir()
    resources: list[tuple[str, Resource[Any]]] = []
    for uri, name in _FILES.items():
        contents = json.loads((directory / name).read_text(encoding="utf-8"))
        if contents.get("$id") != uri:
            raise ValueError(f"schema file {name} does not declare $id {uri}")
        Draft202012Validator.check_schema(contents)
        resources.append((uri, DRAFT202012.create_resource(contents)))
    # No ``retrieve`` callable: an unknown $ref raises instead of going out.
    return Registry().with_resources(resources)


@cache
def _schema(uri: str) -> Any:
    registry = _registry()
    return _inline_refs(registry.contents(uri), registry.resolver(uri), depth=0)


@cache
def _validator(uri: str) -> Any:
    return Draft202012Validator(_schema(uri), registry=_registry())


@cache
def _fast_validator(uri: str) -> jsonschema_rs.Draft202012Validator:
    # The inlined schema has no $ref left: nothing for it to resolve, nothing fetched.
    # Formats are annotations in 2020-12 for both validators (none is asserted).
    return jsonschema_rs.Draft202012Validator(_schema(uri), validate_formats=False, offline=True)


def fast_says_valid(uri: str, document: Any) -> bool:
    """Whether ``jsonschema-rs`` finds ``document`` valid (False when it cannot tell).

    Only a True is ever acted on (:func:`check` takes it as final); a False
    sends the document to ``jsonschema``.
    """
    try:
        return bool(_fast_validator(uri).is_valid(document))
    except (ValueError, TypeError, OverflowError):  # e.g. an integer past 64 bits
        return False


MAX_REF_DEPTH = 16  # our schemas nest refs three deep; a cycle would be a bug


def _inline_refs(node: Any, resolver: Any, *, depth: int) -> Any:
    """The schema with every ``$ref`` replaced by what it points to.

    Resolving references at load time, not on every validation, makes
    validating a manifest about 40% cheaper (it is on every packet's path).
    Only documents of this registry are looked up; error paths in documents,
    which is all a :class:`Violation` reports, do not change.
    """
    if depth > MAX_REF_DEPTH:
        raise ValueError("schema references nest too deep (a cycle?)")
    if isinstance(node, list):
        return [_inline_refs(item, resolver, depth=depth) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        resolved = resolver.lookup(node["$ref"])
        target = _inline_refs(resolved.contents, resolved.resolver, depth=depth + 1)
        rest = {k: _inline_refs(v, resolver, depth=depth) for k, v in node.items() if k != "$ref"}
        return {"allOf": [target, rest]} if rest else target
    return {k: _inline_refs(v, resolver, depth=depth) for k, v in node.items() if k != "$defs"}


def _pointer(path: Iterable[Any]) -> str:
    # RFC 6901: "~" → "~0", "/" → "~1"; array indices as decimal.
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _rule(error: Any) -> str:
    # A bad member name surfaces as the name's own failure (say "pattern")
    # at the parent's path; report it as the rule that was actually broken.
    if "propertyNames" in error.absolute_schema_path:
        return "propertyNames"
    return str(error.validator)


def check(uri: str, document: Any) -> SchemaCheck:
    """Check ``document`` against the schema named ``uri``.

    Returns every violation, sorted by position in the document, each as a
    path and a keyword.

    Raises:
        KeyError: ``uri`` is not one of this module's schemas.
    """
    if uri not in _FILES:
        raise KeyError("unknown schema")
    if fast_says_valid(uri, document):
        return SchemaCheck(schema=_FILES[uri], violations=())
    validator = _validator(uri)
    found = {
        Violation(_pointer(error.absolute_path), _rule(error))
        for error in validator.iter_errors(document)
    }
    ordered = tuple(sorted(found, key=lambda v: (v.pointer, v.rule)))
    return SchemaCheck(schema=_FILES[uri], violations=ordered)


def check_biography(record: Mapping[str, Any]) -> SchemaCheck:
    """Check one biography record against ``biography.v1.json``."""
    return check(BIOGRAPHY_V1, record)


def check_extraction(document: Mapping[str, Any]) -> SchemaCheck:
    """Check an extraction document against ``extraction.v1.json``."""
    return check(EXTRACTION_V1, document)


def validate_biography(record: Mapping[str, Any]) -> None:
    """Raise unless ``record`` is a valid SPEC §4.1 biography record.

    Raises:
        Invalid: the record breaks the schema; the detail names JSON Pointers
            and schema keywords only.
    """
    result = check_biography(record)
    if not result.ok:
        raise Invalid(result.detail("biography record"))


def validate_extraction(document: Mapping[str, Any]) -> None:
    """Raise unless ``document`` is a valid SPEC §4 extraction document.

    Its records are checked against the biography schema through a local
    ``$ref``.

    Raises:
        Invalid: the document breaks the schema; the detail names JSON
            Pointers and schema keywords only.
    """
    result = check_extraction(document)
    if not result.ok:
        raise Invalid(result.detail("extraction document"))


def validate(uri: str, document: Any, *, what: str) -> None:
    """Raise unless ``document`` is valid against the schema named ``uri``.

    Raises:
        Invalid: the document breaks the schema; the detail names JSON
            Pointers and schema keywords only.
    """
    result = check(uri, document)
    if not result.ok:
        raise Invalid(result.detail(what))
