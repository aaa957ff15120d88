"""The biography and extraction schemas, and the checks in gateway.protocol.schemas.

All names in these tests are fictitious.
"""

from __future__ import annotations

import copy
import json
import socket
from typing import Any

import pytest

from gateway.protocol import schemas
from gateway.protocol.errors import Invalid
from gateway.protocol.manifest import PartSpec, build_manifest

SHA_A = "a" * 64
SHA_B = "0123456789abcdef" * 4
CASE_ID = "5f1c2d3e-4a5b-5c6d-8e7f-0a1b2c3d4e5f"


def make_record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "record_id": "3f2a9c1e0b7d4a65",
        "family_name": "Тестенко",
        "given_name": "Марія",
        "patronymic": "Іванівна",
        "latin": {"family_name": "Testenko", "given_name": "Mariia", "patronymic": "Ivanivna"},
        "other_names": [],
        "sex": "female",
        "birth_date": "2012-03-14",
        "displacement_date": "2022-04",
        "birth_place": "м. Вигадане",
        "displacement_place": None,
        "current_location": None,
        "guardian": None,
        "family_contacts": [
            {
                "relation": "mother",
                "name": "Тестенко Олена",
                "place": None,
                "phone": "+380 00 000 0000",
            }
        ],
        "services": {"medical": None, "psychological": None, "social": None, "education": "школа"},
        "photos": [SHA_A],
        "age": {"years": 13, "at_displacement": 10, "turned_18_since_displacement": False},
        "source": {"part": "dossier.pdf", "pages": [1], "method": "text"},
        "provenance": {
            "family_name": {
                "page": 1,
                "bbox": [50.0, 100.0, 200.0, 112.0],
                "method": "text",
                "confidence": 1.0,
            },
            "family_contacts.0": {
                "page": 1,
                "bbox": [50, 300, 400, 312],
                "method": "ocr",
                "confidence": 0.8,
            },
            "services.education": {
                "page": 1,
                "bbox": [50, 320, 400, 332],
                "method": "text",
                "confidence": 1,
            },
        },
        "confidence": 0.8,
    }
    record.update(changes)
    return record


def make_extraction(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "v": 1,
        "packet_id": "0b6f3c1e-9d0a-4b7e-8f21-5a4c3d2e1f00",
        "envelope_sha256": SHA_B,
        "extracted_at": "2026-03-01T10:00:00Z",
        "extractors": {"dxg-text": "0.1.0"},
        "records": [make_record(case_id=CASE_ID)],
        "photos": [
            {
                "sha256": SHA_A,
                "media_type": "image/jpeg",
                "width": 300,
                "height": 400,
                "part": "dossier.pdf",
                "page": 1,
            }
        ],
        "pages": [{"part": "dossier.pdf", "page": 1, "method": "text", "confidence": 1.0}],
        "warnings": [],
        "errors": [],
    }
    document.update(changes)
    return document


def violations(record: dict[str, Any]) -> set[tuple[str, str]]:
    return {(v.pointer, v.rule) for v in schemas.check_biography(record).violations}


def test_a_complete_record_is_valid() -> None:
    schemas.validate_biography(make_record())


def test_a_record_with_nothing_found_is_valid() -> None:
    record = make_record(
        family_name=None,
        given_name=None,
        patronymic=None,
        sex=None,
        birth_date=None,
        displacement_date=None,
        birth_place=None,
        family_contacts=[],
        photos=[],
        provenance={},
        latin={"family_name": None, "given_name": None, "patronymic": None},
        services={"medical": None, "psychological": None, "social": None, "education": None},
        age={"years": None, "at_displacement": None, "turned_18_since_displacement": None},
        confidence=0,
    )
    schemas.validate_biography(record)


@pytest.mark.parametrize("member", sorted(make_record()))
def test_every_fixed_member_is_required(member: str) -> None:
    record = make_record()
    del record[member]
    assert violations(record) == {("", "required")}


def test_undeclared_members_are_rejected_at_every_level() -> None:
    record = make_record(nationality="x")
    record["services"]["housing"] = "x"
    record["family_contacts"][0]["email"] = "x"
    assert violations(record) == {
        ("", "additionalProperties"),
        ("/services", "additionalProperties"),
        ("/family_contacts/0", "additionalProperties"),
    }


@pytest.mark.parametrize("value", ["2012", "2012-03", "2012-03-14", None])
def test_dates_carry_their_known_precision(value: str | None) -> None:
    assert violations(make_record(birth_date=value)) == set()


@pytest.mark.parametrize("value", ["14.03.2012", "2012-13", "2012-03-32", "2012-3-14", "12", ""])
def test_dates_not_in_iso_form_are_rejected(value: str) -> None:
    assert violations(make_record(birth_date=value)) == {("/birth_date", "pattern")}


def test_enums_and_ranges() -> None:
    record = make_record(sex="f", confidence=1.5)
    record["family_contacts"][0]["relation"] = "aunt"
    record["age"]["years"] = -1
    record["source"]["method"] = "guess"
    assert violations(record) == {
        ("/sex", "enum"),
        ("/confidence", "maximum"),
        ("/family_contacts/0/relation", "enum"),
        ("/age/years", "minimum"),
        ("/source/method", "enum"),
    }


def test_review_and_the_correction_flags_are_optional_and_closed() -> None:
    record = make_record()
    record["review"] = ["given_name", "family_contacts.0", "services.education"]
    record["provenance"]["family_name"]["corrected"] = True
    record["provenance"]["family_name"]["inferred"] = True
    schemas.validate_biography(record)
    record["review"] = ["favourite_toy", "given_name", "given_name"]
    record["provenance"]["family_name"]["corrected"] = False
    found = violations(record)
    assert ("/review/0", "pattern") in found
    assert ("/review", "uniqueItems") in found
    assert ("/provenance/family_name/corrected", "const") in found


def test_provenance_keys_name_members() -> None:
    record = make_record()
    record["provenance"]["favourite_toy"] = dict(record["provenance"]["family_name"])
    record["provenance"]["family_name"]["bbox"] = [1, 2, 3]
    assert violations(record) == {
        ("/provenance", "propertyNames"),
        ("/provenance/family_name/bbox", "minItems"),
    }


def test_photos_are_sha256_hex_and_unique() -> None:
    assert violations(make_record(photos=[SHA_A, SHA_A])) == {("/photos", "uniqueItems")}
    assert violations(make_record(photos=[SHA_A.upper()])) == {("/photos/0", "pattern")}


def test_latin_is_printable_ascii() -> None:
    record = make_record()
    record["latin"]["given_name"] = "Марія"
    assert violations(record) == {("/latin/given_name", "pattern")}


def test_the_detail_names_path_and_rule_but_never_the_value() -> None:
    secret = "Секретенко"
    record = make_record(sex=secret, birth_date=secret)
    with pytest.raises(Invalid) as caught:
        schemas.validate_biography(record)
    detail = caught.value.detail
    assert secret not in detail
    assert (
        detail == "biography record breaks biography.v1.json at /birth_date (pattern); /sex (enum)"
    )
    assert caught.value.status == 422


def test_the_detail_counts_violations_beyond_the_first_few() -> None:
    record = make_record(sex=1, birth_date=2, guardian=3, birth_place=4, patronymic=5)
    with pytest.raises(Invalid) as caught:
        schemas.validate_biography(record)
    assert caught.value.detail.endswith("; and 2 more")


def test_a_complete_extraction_document_is_valid() -> None:
    schemas.validate_extraction(make_extraction())


def test_records_inside_an_extraction_are_checked_against_the_biography_schema() -> None:
    bad = make_record(sex="unknown", case_id=CASE_ID)
    document = make_extraction(records=[make_record(case_id=CASE_ID), bad])
    result = schemas.check_extraction(document)
    assert [(v.pointer, v.rule) for v in result.violations] == [("/records/1/sex", "enum")]
    with pytest.raises(Invalid, match=r"extraction\.v1\.json at /records/1/sex \(enum\)"):
        schemas.validate_extraction(document)


def test_every_record_of_an_extraction_carries_a_case_id() -> None:
    """SPEC §10: case ids on every extracted record, as UUIDs."""
    document = make_extraction(records=[make_record()])
    assert [(v.pointer, v.rule) for v in schemas.check_extraction(document).violations] == [
        ("/records/0", "required")
    ]
    document = make_extraction(records=[make_record(case_id="not-a-uuid")])
    assert [(v.pointer, v.rule) for v in schemas.check_extraction(document).violations] == [
        ("/records/0/case_id", "pattern")
    ]


def test_extraction_top_level_rules() -> None:
    document = make_extraction(
        v=2, packet_id="not-a-uuid", extracted_at="2026-03-01 10:00:00", extra=1
    )
    del document["errors"]
    assert {(v.pointer, v.rule) for v in schemas.check_extraction(document).violations} == {
        ("", "additionalProperties"),
        ("", "required"),
        ("/v", "const"),
        ("/packet_id", "pattern"),
        ("/extracted_at", "pattern"),
    }


def test_extraction_photo_and_page_entries() -> None:
    document = make_extraction()
    document["photos"][0]["media_type"] = "application/pdf"
    document["pages"][0]["method"] = "mixed"
    assert {(v.pointer, v.rule) for v in schemas.check_extraction(document).violations} == {
        ("/photos/0/media_type", "pattern"),
        ("/pages/0/method", "enum"),
    }


def test_json_pointer_escapes_tilde_and_slash() -> None:
    document = make_extraction(extractors={"a/b~c": 7})
    pointers = [v.pointer for v in schemas.check_extraction(document).violations]
    assert "/extractors/a~1b~0c" in pointers


def test_schemas_resolve_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("schema resolution tried the network")

    for cached in (schemas._registry, schemas._schema, schemas._validator, schemas._fast_validator):
        cached.cache_clear()
    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    try:
        schemas.validate_extraction(make_extraction(records=[make_record(case_id=CASE_ID)] * 2))
    finally:
        for cached in (schemas._registry, schemas._schema, schemas._validator,
                       schemas._fast_validator):  # fmt: skip
            cached.cache_clear()


def test_the_schema_files_are_found_next_to_the_package() -> None:
    directory = schemas.schemas_dir()
    assert (directory / "biography.v1.json").is_file()
    assert (directory / "extraction.v1.json").is_file()


def test_unknown_schema_names_are_refused() -> None:
    with pytest.raises(KeyError):
        schemas.check("https://example.org/other.json", {})


def test_checking_does_not_change_the_document() -> None:
    document = make_extraction()
    before = copy.deepcopy(document)
    schemas.check_extraction(document)
    assert document == before


# -- the fast path: jsonschema-rs's "valid" is taken, so it must never be laxer


def _valid_documents() -> list[tuple[str, Any]]:
    manifest = json.loads(build_manifest(
        sender="ua", recipient="ru", in_reply_to=CASE_ID, body={"note": "x"},
        parts=[PartSpec("dossier.pdf", "application/pdf", 20480, SHA_A),
               PartSpec("photo-1.jpg", "image/jpeg", 1024, SHA_B)],
    ))  # fmt: skip
    receipt = {
        "v": 1, "receipt_id": CASE_ID, "level": "ACCEPTED", "packet_id": CASE_ID,
        "issuer": "gw-ua", "sender": "ua", "recipient": "ru",
        "issued_at": "2026-12-01T10:00:00Z", "envelope_sha256": SHA_A,
        "parts": [{"name": "dossier.pdf", "sha256": SHA_B}],
        "extraction_sha256": None, "reason": None,
    }  # fmt: skip
    event = {
        "v": 1, "event_id": CASE_ID, "case_id": CASE_ID, "event": "REPORTED", "issuer": "ua",
        "holder": "ua", "home": "ru", "issued_at": "2026-12-01T10:00:00Z",
        "packet_id": CASE_ID, "record_id": "3f2a9c1e0b7d4a65", "due": None, "reason": None,
        "aged_out": False,
    }  # fmt: skip
    return [
        (schemas.MANIFEST_V1, manifest),
        (schemas.RECEIPT_V1, receipt),
        (schemas.CASE_EVENT_V1, event),
        (schemas.BIOGRAPHY_V1, make_record()),
        (schemas.EXTRACTION_V1, make_extraction(records=[make_record(case_id=CASE_ID)])),
    ]


def _replacements(value: Any) -> list[Any]:
    out: list[Any] = [None, True, False, 0, 1, -1, 1.0, 1.5, 2**64, 2**70, -(2**70), "", "x",
                      "\n", "é", "a" * 300, [], {}, [value], {"x": value}]  # fmt: skip
    if isinstance(value, str):
        out += [value + "\n", "\n" + value, value + " ", value.upper(), value[:-1], value * 2]
    if isinstance(value, int) and not isinstance(value, bool):
        out += [value + 1, value - 1, float(value), -value, str(value)]
    if isinstance(value, list):
        out += [value * 2, value[:-1], [*value, None]]
    return out


def _mutants(node: Any) -> list[Any]:
    """``node`` broken every way we know, one change at a time, at every depth."""
    found: list[Any] = []
    if isinstance(node, dict):
        found += [{**node, "zz_undeclared": 1}, {**node, "": None}]
        for key, value in node.items():
            found.append({k: v for k, v in node.items() if k != key})
            for other in _replacements(value) + _mutants(value):
                found.append({**node, key: other})
    elif isinstance(node, list):
        for i, value in enumerate(node):
            for other in _replacements(value) + _mutants(value):
                found.append([*node[:i], other, *node[i + 1 :]])
    return found


@pytest.mark.parametrize("uri", [uri for uri, _ in _valid_documents()])
def test_the_fast_validator_never_accepts_what_jsonschema_refuses(uri: str) -> None:
    document = dict(_valid_documents())[uri]
    assert schemas.fast_says_valid(uri, document)  # the fast path is what valid documents take
    mutants = _mutants(document)
    refused = 0
    for mutant in mutants:
        python_ok = not any(True for _ in schemas._validator(uri).iter_errors(mutant))
        refused += not python_ok
        if schemas.fast_says_valid(uri, mutant):
            assert python_ok, (uri, mutant)
    assert refused > len(mutants) // 3  # the mutants do break the schema


def test_where_the_fast_validator_is_stricter_the_verdict_stays_jsonschemas() -> None:
    # Python's re lets "$" match before a final newline; Rust's regex does not.
    # jsonschema's verdict is the contract, so such a document keeps its old answer.
    receipt = dict(_valid_documents())[schemas.RECEIPT_V1]
    receipt = {**receipt, "envelope_sha256": SHA_A + "\n"}
    assert not schemas.fast_says_valid(schemas.RECEIPT_V1, receipt)
    assert schemas.check(schemas.RECEIPT_V1, receipt).ok


def test_a_document_the_fast_validator_cannot_take_is_checked_by_jsonschema() -> None:
    record = make_record()
    record["age"]["years"] = 2**70  # past 64 bits: jsonschema-rs cannot take it
    assert not schemas.fast_says_valid(schemas.BIOGRAPHY_V1, record)
    assert [str(v) for v in schemas.check_biography(record).violations] == ["/age/years (maximum)"]
