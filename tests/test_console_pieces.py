"""The console's pure pieces (issue 13): record fields and their marks, overdue
flags per case, the charts, the monitor view's history, and templates that
keep the CSP (no inline script, style or handler anywhere)."""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from gateway.monitor.view import history
from gateway.party.console import charts, i18n
from gateway.party.console.casework import _flags, _history, actions_for
from gateway.party.console.inbox import LOW_CONFIDENCE, Inbox, record_fields
from gateway.party.console.render import ZOOM, page_size, render_page
from gateway.protocol.case import STATES, CaseEvent
from gateway.protocol.errors import NotFound
from gateway.protocol.stats import CaseStats, Policy
from tests.harness import tiny_pdf

TEMPLATES = Path(__file__).resolve().parent.parent / "gateway/party/console/templates"
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


# -- record fields -------------------------------------------------------------------


def _record(**provenance: dict[str, Any]) -> dict[str, Any]:
    return {
        "record_id": "r1", "family_name": "Коваль", "given_name": "Олена", "patronymic": None,
        "birth_date": "2012-03-14", "services": {"medical": "так"},
        "provenance": provenance,
    }


def test_a_field_under_the_threshold_is_marked_and_keeps_its_box() -> None:
    fields = {f.member: f for f in record_fields(_record(
        family_name={"page": 1, "bbox": [10, 20, 50, 30], "method": "ocr",
                     "confidence": LOW_CONFIDENCE - 0.01},
        given_name={"page": 1, "bbox": [10, 40, 50, 50], "method": "ocr", "confidence": 0.97},
    ))}
    assert fields["family_name"].low and fields["family_name"].bbox == (10, 20, 50, 30)
    assert not fields["given_name"].low
    assert fields["services.medical"].value == "так"


def test_the_records_own_review_list_decides_what_is_marked_for_checking() -> None:
    # Regression: the console marked fields by a confidence of its own (0.8)
    # and ignored the extractor's calibrated review list, so a value the
    # extractor said to check at 0.9 (its threshold is 0.936), an unread
    # member, or every value of a hand-filled record showed as fine.
    record = _record(
        family_name={"page": 1, "bbox": [10, 20, 50, 30], "method": "ocr", "confidence": 0.9},
        given_name={"page": 1, "bbox": [10, 40, 50, 50], "method": "ocr", "confidence": 0.99},
        birth_date={"page": 1, "bbox": [10, 60, 50, 70], "method": "ocr", "confidence": 0.2},
    )
    record["review"] = ["family_name", "patronymic"]
    fields = {f.member: f for f in record_fields(record)}
    assert fields["family_name"].low  # listed, though over the console's own 0.8
    assert fields["patronymic"].low and fields["patronymic"].value is None  # unread
    assert not fields["given_name"].low
    assert not fields["birth_date"].low  # the extractor's list is the word on it


def test_notes_of_the_extraction_are_shown_by_dossier_and_by_part(tmp_path: Path) -> None:
    packet_id = str(uuid.uuid4())
    folder = tmp_path / packet_id
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(
        {"sender": "ua", "kind": "dossier", "created": "2026-03-01T00:00:00Z", "parts": []}))
    (folder / "records.json").write_text("[]")
    notes = ["part a.pdf, extractor documents: extractor: page 1: a block without name or"
             " birth date is not a record",
             "part b.pdf, extractor documents: extractor: page 2: most values of record x"
             " could not be read with certainty"]  # fmt: skip
    (folder / "extraction.json").write_text(json.dumps(
        {"warnings": notes[:1], "errors": notes[1:]}))
    inbox = Inbox(tmp_path)
    [dossier] = inbox.dossiers()
    assert dossier.notes == tuple(notes) and dossier.children == ()
    assert inbox.notes(packet_id, "b.pdf") == (notes[1],)
    assert inbox.notes(packet_id, "a") == ()  # a part whose name prefixes another's


def test_inferred_corrected_and_read_again_flags_are_shown_and_their_absence_is_no_flag() -> None:
    fields = {f.member: f for f in record_fields(_record(
        family_name={"page": 1, "bbox": [1, 2, 3, 4], "confidence": 1.0, "corrected": True},
        birth_date={"page": 1, "bbox": [1, 2, 3, 4], "confidence": 1.0, "inferred": True},
        birth_place={"page": 1, "bbox": [1, 2, 3, 4], "confidence": 0.9, "read_again": True},
        given_name={"page": 1, "bbox": [1, 2, 3, 4], "confidence": 1.0},
    ))}
    assert fields["family_name"].corrected and not fields["family_name"].inferred
    assert fields["birth_date"].inferred
    assert fields["birth_place"].read_again and not fields["birth_place"].corrected
    assert not any((fields["given_name"].inferred, fields["given_name"].corrected,
                    fields["given_name"].read_again))


def test_a_record_without_provenance_has_no_boxes_and_no_marks() -> None:
    for field in record_fields({"record_id": "r", "family_name": "Коваль"}):
        assert field.bbox is None and field.confidence is None and not field.low


# -- overdue, per case, by the §10 figures ------------------------------------------------------


def _event(name: str, at: datetime, *, aged_out: bool = False, **members: Any) -> CaseEvent:
    cited = name in ("REPORTED", "VERIFIED", "DISPUTED", "INFO_REQUESTED")
    return CaseEvent(
        event_id=str(uuid.uuid4()), case_id=CASE, event=name,
        issuer="ua" if name in ("REPORTED", "RETURN_SCHEDULED") else "ru",
        holder="ua", home="ru", issued_at=at, aged_out=aged_out,
        packet_id=str(uuid.uuid4()) if cited else None, record_id="r1" if cited else None,
        **members,
    )


CASE = str(uuid.uuid4())


def test_a_report_unanswered_past_the_response_period_is_response_overdue() -> None:
    policy = Policy()
    late = [(0, _event("REPORTED", NOW - timedelta(days=policy.response_days, seconds=1)))]
    on_time = [(0, _event("REPORTED", NOW - timedelta(days=policy.response_days)))]
    assert _flags(late, policy, NOW)["response_overdue"]
    assert not _flags(on_time, policy, NOW)["response_overdue"]  # "longer than": not equal


def test_an_aged_out_child_verified_long_ago_is_return_overdue_and_without_contact() -> None:
    policy = Policy()
    start = NOW - timedelta(days=40)
    events = [
        (0, _event("REPORTED", start, aged_out=True)),
        (1, _event("VERIFIED", start + timedelta(days=1), aged_out=True)),
        (2, _event("FAMILY_FOUND", start + timedelta(days=2), aged_out=True)),
    ]
    flags = _flags(events, policy, NOW)
    assert flags == {"response_overdue": False, "return_overdue": True, "contact_overdue": True}
    contact = (3, _event("CONTACT", NOW - timedelta(days=1), aged_out=True))
    assert not _flags([*events, contact], policy, NOW)["contact_overdue"]


def test_each_side_is_offered_only_the_events_the_table_lets_it_issue() -> None:
    assert actions_for("home", "VERIFIED") == ("FAMILY_FOUND",)
    assert actions_for("holder", "VERIFIED") == ("RETURN_SCHEDULED",)
    assert set(actions_for("holder", "FAMILY_FOUND")) == {"RETURN_SCHEDULED", "CONTACT"}
    assert actions_for("home", "REPORTED") == ()  # verification goes through four eyes
    assert actions_for("home", "REUNITED") == ()


def test_the_history_counts_reunions_on_their_day_and_states_at_each_days_end() -> None:
    day = NOW - timedelta(days=2)
    events = [
        (0, _event("REPORTED", day - timedelta(days=3))),
        (1, _event("VERIFIED", day - timedelta(days=2))),
        (2, _event("FAMILY_FOUND", day - timedelta(days=1))),
        (3, _event("REUNITED", day)),
    ]
    days, reunited, per_state = _history(events, Policy(), NOW)
    assert reunited[days.index(day.date())] == 1 and sum(reunited) == 1
    assert per_state[days.index(day.date()) - 1]["FAMILY_FOUND"] == 1
    assert per_state[-1]["REUNITED"] == 1
    # The monitor view asks the same fold the same question and agrees.
    stats = CaseStats(Policy())
    for index, event in events:
        stats.feed(event, index)
    m_days, m_reunited, m_states = history(stats, 4, NOW)
    assert (tuple(m_days), tuple(m_reunited)) == (days, reunited)
    assert tuple(m_states) == per_state


# -- charts and templates keep the CSP ----------------------------------------------------------


def test_charts_are_svg_with_titles_escaped_labels_and_no_inline_style() -> None:
    days = [date(2026, 3, d) for d in range(1, 4)]
    svg = str(charts.stacked("Cases <per> state", days, [dict.fromkeys(STATES, 1)] * 3, STATES,
                             {s: f"<{s}>" for s in STATES}))
    assert svg.startswith("<svg") and "<title>Cases &lt;per&gt; state</title>" in svg
    assert "<REPORTED>" not in svg and "&lt;REPORTED&gt;" in svg
    assert "style=" not in svg and "<script" not in svg
    bars = str(charts.bars("Reunions", days, [0, 2, 1]))
    assert bars.count('class="bar"') == 3 and "2026-03-02: 2" in bars


def test_no_template_has_inline_script_style_or_event_handler() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert "<style" not in text and " style=" not in text, template.name
        assert not re.search(r"\son[a-z]+=", text), template.name
        assert "javascript:" not in text, template.name


def test_every_input_in_a_template_has_a_label() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        labelled = set(re.findall(r'<label for="([^"]+)"', text))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", text):
            if 'type="hidden"' in tag:
                continue
            match = re.search(r'id="([^"]+)"', tag)
            assert match is not None and match.group(1) in labelled, (template.name, tag)


def test_family_contacts_are_rows_labelled_by_relation_with_their_boxes() -> None:
    record = _record(**{"family_contacts.0": {"page": 1, "bbox": [5, 6, 7, 8], "confidence": 0.5}})
    record["family_contacts"] = [
        {"relation": "mother", "name": "Коваль Ганна", "place": "Суми", "phone": None},
        {"relation": "cousin", "name": "Коваль Іван", "place": None, "phone": None},
    ]
    contacts = [f for f in record_fields(record) if f.member.startswith("family_contacts.")]
    assert [(f.label_key, f.value) for f in contacts] == [
        ("relation.mother", "Коваль Ганна, Суми"), ("relation.other", "Коваль Іван")]
    assert contacts[0].bbox == (5, 6, 7, 8) and contacts[0].low and contacts[1].bbox is None
    for f in contacts:
        assert f.label_key in i18n.catalogue("uk").messages


# -- page images -----------------------------------------------------------------------


def test_a_page_renders_at_the_zoom_of_its_size_in_points_and_is_cached(tmp_path: Path) -> None:
    part = tmp_path / "dossier.pdf"
    part.write_bytes(tiny_pdf("page one"))
    size = page_size(part, 1)
    png = render_page(part, 1, tmp_path / "cache")
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (round(size.width * ZOOM), round(size.height * ZOOM))
    assert list((tmp_path / "cache").glob("*.png"))  # the second view reads the cache
    assert render_page(part, 1, tmp_path / "cache") == png


def test_a_scan_pages_points_are_its_pixels_at_its_own_dpi(tmp_path: Path) -> None:
    part = tmp_path / "scan.png"
    Image.new("RGB", (1653, 2339), "white").save(part, dpi=(200, 200))
    size = page_size(part, 1)  # what the extractor's boxes are measured in (72 / dpi)
    assert (round(size.width, 1), round(size.height, 1)) == (595.1, 842.0)


def test_a_page_beyond_the_part_is_not_found(tmp_path: Path) -> None:
    part = tmp_path / "dossier.pdf"
    part.write_bytes(tiny_pdf())
    for page in (0, 2):
        with pytest.raises(NotFound):
            render_page(part, page, tmp_path / "cache")
