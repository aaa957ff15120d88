"""The project's JSON Schemas (``schemas/``), loaded once, resolved locally.

Schemas refer to each other by relative ``$ref`` only; a registry built from
the files in ``schemas/`` resolves them, so validation never touches the
network. A validation error names the JSON path and the rule that failed,
never the offending value: values may be personal data.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from gateway.errors import Invalid

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


@cache
def _registry() -> Registry[Any]:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((path.name, Resource.from_contents(contents)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> jsonschema.protocols.Validator:
    """The validator for ``schemas/<name>``, e.g. ``manifest.v1.json``."""
    schema = _registry().contents(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=_registry(), format_checker=cls.FORMAT_CHECKER)


def validate(name: str, instance: Any, *, what: str) -> None:
    """Validate ``instance`` against ``schemas/<name>``.

    Raises:
        Invalid: the first error, described by its path and rule, not its value.
    """
    error = jsonschema.exceptions.best_match(validator(name).iter_errors(instance))
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise Invalid(f"{what} breaks its schema at {path}: rule {error.validator!r} failed")
