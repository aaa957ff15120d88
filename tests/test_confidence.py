"""Per-field confidence (``extractors/confidence.py``) and its calibration bench.

The shipped model is checked for what the module guarantees (it loads, its
weights keep their monotone signs, a text-layer reading is certain); the
parser is checked to put a repaired, doubtful name up for review; the
bench's figures (share of wrong members flagged, the threshold chosen, the
reliability table, the fit itself) are checked to be computed from the
samples given, on samples whose answers are known. Every child here is
fictitious.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
import pytest

from bench import extraction_calibration as bench
from bench.extraction_accuracy import SCALARS, SERVICES
from extractors import biography, confidence
from extractors.layout import ImageRegion, Line, PageText, Word
from gateway.protocol import schemas
from tests.positioned import cell

AS_OF = date(2026, 3, 1)
KINDS: tuple[confidence.Kind, ...] = tuple(confidence.KIND_GROUPS)
GRID = [i / 20 for i in range(21)]


def _evidence(kind: confidence.Kind = "given_name", **changes: Any) -> confidence.Evidence:
    base = confidence.Evidence(kind=kind, method="ocr", min_word=0.8, mean_word=0.85, label=0.9,
                               chars=6, words=1, page=confidence.PageCondition(0.85, 0.05))
    return replace(base, **changes)


def test_the_shipped_model_loads_with_its_threshold_and_how_it_was_fitted() -> None:
    model = confidence.model()
    assert 0.0 < model.threshold < 1.0
    assert model.fitted["split"].startswith("dev")
    assert model.fitted["wrong"] > 0  # fitted on errors, not on a clean sample
    assert confidence.Model.from_json(model.as_json()) == model


@pytest.mark.parametrize("kind", KINDS)
def test_the_shipped_model_never_lowers_confidence_for_a_surer_reading(
        kind: confidence.Kind) -> None:
    model = confidence.model()
    for field in ("min_word", "mean_word", "label"):
        scores = [model.score(_evidence(kind, **{field: x})) for x in GRID]
        assert scores == sorted(scores), field
    pages = [model.score(_evidence(kind, page=confidence.PageCondition(x, 0.05))) for x in GRID]
    assert pages == sorted(pages)
    noise = [model.score(_evidence(kind, page=confidence.PageCondition(0.85, x))) for x in GRID]
    assert noise == sorted(noise, reverse=True)


@pytest.mark.parametrize("kind", KINDS)
def test_the_shipped_model_never_raises_confidence_for_a_repair_or_a_doubt(
        kind: confidence.Kind) -> None:
    model = confidence.model()
    clean = model.score(_evidence(kind))
    doubts: list[dict[str, Any]] = [
        {"label_edits": 1}, {"label_edits": 2}, {"noisy": True}, {"unknown_name": True},
        {"inferred": True}, {"implausible": True}, {"incomplete": True},
        {"beside_image": True}, {"read_again": True}, {"own_language": 0.8},
        {"own_language": 0.99},
        {"page": confidence.PageCondition(0.85, 0.05, rotated=True)},
    ]
    for fixes in itertools.chain.from_iterable(
            itertools.combinations(confidence.FIXES, n) for n in (1, 2)):
        doubts.append({"fixes": frozenset(fixes)})
    for doubt in doubts:
        assert model.score(_evidence(kind, **doubt)) <= clean, doubt


@pytest.mark.parametrize("kind", KINDS)
def test_a_value_is_held_under_its_ceiling_however_sure_the_words(
        kind: confidence.Kind) -> None:
    # The one cap the model applies; the parser sets it (see the tests through the
    # parser below: a second reading, a word read again in the form's language, a
    # snapped month).
    model = confidence.model()
    sure = _evidence(kind, min_word=0.99, mean_word=0.99, label=0.99, chars=12)
    for doubt in ({}, {"read_again": True}, {"own_language": 0.99}):
        for cap in GRID:
            assert model.score(replace(sure, ceiling=cap, **doubt)) <= cap, (doubt, cap)
    assert model.score(replace(sure, ceiling=0.5)) == 0.5  # a cap, not a discount


def test_the_shipped_model_weighs_both_second_readings_as_doubts() -> None:
    weights = dict(zip(confidence.FEATURES, confidence.model().weights, strict=True))
    assert weights["read_again"] <= 0.0 and weights["own_language"] <= 0.0
    assert confidence.SIGNS["read_again"] == confidence.SIGNS["own_language"] == -1


def test_a_model_file_with_a_weight_of_the_wrong_sign_is_refused() -> None:
    data = confidence.model().as_json()
    data["weights"]["min_word"] = -1.0
    with pytest.raises(confidence.ModelError, match="min_word"):
        confidence.Model.from_json(data)


def test_a_model_file_for_other_features_or_another_format_is_refused() -> None:
    data = confidence.model().as_json()
    renamed = json.loads(json.dumps(data))
    renamed["weights"]["tesseract_mood"] = renamed["weights"].pop("rotated")
    with pytest.raises(confidence.ModelError, match="features"):
        confidence.Model.from_json(renamed)
    with pytest.raises(confidence.ModelError, match="format"):
        confidence.Model.from_json({**data, "format": 99})
    with pytest.raises(confidence.ModelError, match="threshold"):
        confidence.Model.from_json({**data, "threshold": 1.0})


def test_a_text_layer_value_read_as_printed_is_certain_and_a_repaired_one_is_not() -> None:
    model = confidence.model()
    printed = confidence.Evidence(kind="given_name", method="text", min_word=1.0,
                                  mean_word=1.0, chars=5, words=1)
    assert model.score(printed) == 1.0
    assert model.score(replace(printed, fixes=frozenset({"name"}))) < 1.0


def test_dates_that_cannot_be_right_are_told_apart() -> None:
    assert confidence.implausible_dates("2012-03-14", "2022-04-02", AS_OF) == {
        "birth_date": False, "displacement_date": False}
    assert confidence.implausible_dates("2027-03-14", None, AS_OF)["birth_date"] is True
    assert confidence.implausible_dates("1971-03-14", None, AS_OF)["birth_date"] is True
    assert confidence.implausible_dates(None, "2026-04", AS_OF)["displacement_date"] is True
    # Displaced before born: either date may be the misread one.
    assert confidence.implausible_dates("2015", "2012-05-01", AS_OF) == {
        "birth_date": True, "displacement_date": True}


# -- through the parser -----------------------------------------------------------------


def _row(y: float, label: str, value: str, confidence: float) -> Line:
    """A label read at 0.95 and its value read at ``confidence``."""
    return Line((*cell(50.0, y, label, 0.95), *cell(220.0, y, value, confidence)))


def _record(rows: list[tuple[str, str, float]]) -> tuple[dict[str, Any], dict[str, Any]]:
    lines = tuple(_row(100 + 18 * i, *r) for i, r in enumerate(rows))
    result = biography.parse("form.pdf", [PageText(1, 595, 842, "ocr", lines)], as_of=AS_OF)
    [record] = result.records
    schemas.validate_biography(record)
    return record, result.evidence[record["record_id"]]


def test_a_corrected_low_confidence_name_is_listed_for_review() -> None:
    # A Latin "I" and "a" read inside a Cyrillic name, by a Tesseract that barely read it.
    record, evidence = _record([("Прізвище:", "Коваленко", 0.96), ("Ім'я:", "Iвaн", 0.45),
                                ("По батькові:", "Петрович", 0.96),
                                ("Дата народження:", "14.03.2012", 0.96)])
    assert record["given_name"] == "Іван"
    assert record["provenance"]["given_name"]["corrected"] is True
    assert evidence["given_name"].fixes  # the model was told of the repair
    assert record["provenance"]["given_name"]["confidence"] < confidence.model().threshold
    assert "given_name" in record["review"]
    assert record["confidence"] == record["provenance"]["given_name"]["confidence"]


def _flagged(rows: list[tuple[str, str, float]], member: int, *, reread: bool = False,
             own_language: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Like :func:`_record`, the value of row ``member`` as a second reading left it."""
    lines = [_row(100 + 18 * i, *r) for i, r in enumerate(rows)]
    lines[member] = Line(tuple(
        replace(w, reread=reread, own_language=own_language) if w.bbox[0] >= 220 else w
        for w in lines[member].words))  # the value's words, not its label's
    result = biography.parse("form.pdf", [PageText(1, 595, 842, "ocr", tuple(lines))],
                             as_of=AS_OF)
    [record] = result.records
    schemas.validate_biography(record)
    return record, result.evidence[record["record_id"]]


_SURE_ROWS = [("Фамилия:", "Соколова", 0.96), ("Имя:", "Мария", 0.96),
              ("Отчество:", "Сергеевна", 0.96), ("Дата рождения:", "14.03.2012", 0.96),
              ("Место рождения:", "Луганск", 0.96)]


def test_a_value_a_second_reading_of_unread_ink_found_is_for_review() -> None:
    # The page's reading dropped the birth place beside a photo frame; a second
    # reading of the region found it, surely. The same reading of the first pass
    # would need no look.
    plain, _ = _flagged(_SURE_ROWS, 4)
    record, evidence = _flagged(_SURE_ROWS, 4, reread=True)
    assert evidence["birth_place"].read_again and not evidence["given_name"].read_again
    entry = record["provenance"]["birth_place"]
    assert entry["read_again"] is True
    assert entry["confidence"] <= confidence.READ_AGAIN_MAX_CONFIDENCE
    assert entry["confidence"] <= plain["provenance"]["birth_place"]["confidence"]
    assert "birth_place" in record["review"] and "birth_place" not in plain["review"]
    assert "given_name" not in record["review"]


def test_a_name_read_again_in_the_form_language_is_for_review() -> None:
    # A patronymic written by hand came out in Latin look-alikes ("Cepreesia") and
    # was read again with the Russian model alone: the lower reading is its confidence.
    rows = [*_SURE_ROWS[:2], ("Отчество:", "Сергеевна", 0.62), *_SURE_ROWS[3:]]
    plain, _ = _flagged(rows, 2)
    record, evidence = _flagged(rows, 2, own_language=True)
    assert evidence["patronymic"].own_language == pytest.approx(0.62)
    assert evidence["given_name"].own_language is None
    entry = record["provenance"]["patronymic"]
    assert entry["corrected"] is True
    assert entry["confidence"] <= 0.62
    assert entry["confidence"] <= plain["provenance"]["patronymic"]["confidence"]
    assert "patronymic" in record["review"]
    # Sex, not printed, told by that patronymic is scored as it, never surer.
    assert record["provenance"]["sex"]["inferred"] is True
    assert record["provenance"]["sex"]["confidence"] <= entry["confidence"]
    assert "family_name" not in record["review"]


_SURE = [(label, value, 0.99) for label, value, _ in _SURE_ROWS]


def test_a_value_a_second_reading_found_has_its_ceiling_set_by_the_parser() -> None:
    _, plain = _flagged(_SURE, 4)
    assert {e.ceiling for e in plain.values()} == {1.0}  # nothing to cap
    record, evidence = _flagged(_SURE, 4, reread=True)
    assert evidence["birth_place"].ceiling == confidence.READ_AGAIN_MAX_CONFIDENCE
    assert evidence["given_name"].ceiling == 1.0
    assert record["provenance"]["birth_place"]["confidence"] <= (
        confidence.READ_AGAIN_MAX_CONFIDENCE)
    assert "birth_place" in record["review"]


def test_a_value_read_again_in_the_form_language_has_that_word_as_its_ceiling() -> None:
    rows = [*_SURE[:2], ("Отчество:", "Сергеевна", 0.7), *_SURE[3:]]
    record, evidence = _flagged(rows, 2, own_language=True)
    assert evidence["patronymic"].ceiling == pytest.approx(0.7)
    assert record["provenance"]["patronymic"]["confidence"] <= 0.7
    # Sex told by that patronymic carries its evidence, ceiling and all.
    assert evidence["sex"].ceiling == pytest.approx(0.7)
    assert {"patronymic", "sex"} <= set(record["review"])


def test_a_snapped_month_has_its_weakest_word_as_its_ceiling() -> None:
    # "Осіобег": a word that is no month, one edit from October in look-alikes.
    record, evidence = _record([("Surname:", "Walker", 0.99), ("Given name:", "Grace", 0.99),
                                ("Date of birth:", "14 Осіобег 2012", 0.9)])
    assert record["birth_date"] == "2012-10-14"
    assert evidence["birth_date"].ceiling == pytest.approx(0.9)
    assert evidence["given_name"].ceiling == 1.0
    assert record["provenance"]["birth_date"]["confidence"] <= 0.9
    assert "birth_date" in record["review"]


def test_an_implausible_birth_date_is_told_to_the_model() -> None:
    rows = [("Прізвище:", "Коваленко", 0.93), ("Ім'я:", "Олена", 0.93)]
    plausible, told = _record([*rows, ("Дата народження:", "14.03.2012", 0.93)])
    future, evidence = _record([*rows, ("Дата народження:", "14.03.2072", 0.93)])
    assert evidence["birth_date"].implausible and not told["birth_date"].implausible
    # The dev split may hold no implausible date to weigh; it never raises confidence.
    assert (future["provenance"]["birth_date"]["confidence"]
            <= plausible["provenance"]["birth_date"]["confidence"])


def test_a_labelled_blank_on_a_scan_is_for_review_and_a_dash_is_not() -> None:
    blank = Line((Word("Опікун:", (50, 154, 92, 166), 0.95),))
    dash = Line((Word("Освіта:", (50, 172, 92, 184), 0.95), Word("—", (220, 172, 226, 184), 0.9)))
    lines = (_row(100, "Прізвище:", "Коваленко", 0.96), _row(118, "Ім'я:", "Олена", 0.96),
             _row(136, "Дата народження:", "14.03.2012", 0.96), blank, dash)
    [record] = biography.parse("form.pdf", [PageText(1, 595, 842, "ocr", lines)],
                               as_of=AS_OF).records
    assert record["guardian"] is None and record["services"]["education"] is None
    assert "guardian" in record["review"]
    assert "services.education" not in record["review"]


def test_a_guardian_of_one_word_is_incomplete_evidence() -> None:
    rows = [("Прізвище:", "Коваленко", 0.96), ("Ім'я:", "Олена", 0.96)]
    _, one = _record([*rows, ("Опікун:", "Шевчук", 0.96)])
    _, two = _record([*rows, ("Опікун:", "Шевчук Ганна", 0.96)])
    assert one["guardian"].incomplete and not two["guardian"].incomplete


# -- the bench's figures ----------------------------------------------------------------


def _sample(correct: bool, score: float | None, listed: bool = False,
            condition: Any = "300 dpi") -> bench.Sample:
    evidence = _evidence() if score is not None else None
    return bench.Sample("dev", condition, "given_name", correct, evidence, score, listed)


def test_the_share_flagged_counts_low_confidence_and_listed_members() -> None:
    rows = [_sample(False, 0.4), _sample(False, 0.95), _sample(False, None, listed=True),
            _sample(False, None), _sample(True, 0.5), _sample(True, 0.99), _sample(True, 0.97),
            _sample(True, 0.99)]
    wrong, everything, right = bench.caught(rows, 0.9)
    assert wrong == pytest.approx(2 / 4)  # 0.4 by confidence, one listed as unread
    assert everything == pytest.approx(3 / 8)
    assert right == pytest.approx(1 / 4)
    assert bench.caught(rows, 0.96)[0] == pytest.approx(3 / 4)


def test_the_threshold_is_the_lowest_that_catches_the_target_share() -> None:
    rows = [_sample(False, c) for c in (0.3, 0.6, 0.8, 0.92, 0.97)]
    rows += [_sample(True, c) for c in (0.5, 0.85, 0.95, 0.99, 0.99)]
    threshold = bench.choose_threshold(rows, target=0.8)
    assert bench.caught(rows, threshold)[0] >= 0.8
    assert 0.92 < threshold <= 0.93  # just above the fourth wrong member's confidence
    # Unreachable (two wrong members nobody can flag): the threshold catching the most.
    rows += [_sample(False, None), _sample(False, None)]
    assert bench.choose_threshold(rows, target=0.8) == pytest.approx(0.9701)


def test_the_reliability_table_counts_each_bin() -> None:
    rows = [_sample(True, 0.99), _sample(False, 0.995), _sample(True, 1.0),
            _sample(True, 0.6), _sample(False, 0.65), _sample(True, None)]
    table = {name: (n, mean, right) for name, n, mean, right in bench.reliability(rows)}
    n, mean, right = table["[0.99, 1.00]"]
    assert (n, mean, right) == pytest.approx((3, (0.99 + 0.995 + 1.0) / 3, 2 / 3))
    n, mean, right = table["[0.50, 0.70)"]
    assert (n, mean, right) == pytest.approx((2, 0.625, 0.5))
    assert sum(n for n, _, _ in table.values()) == 5


def test_the_fit_recovers_the_signs_of_synthetic_evidence_and_holds_them() -> None:
    rng = random.Random(11)
    rows, right = [], []
    for _ in range(1500):
        word = rng.random()
        e = _evidence(min_word=word, mean_word=word, fixes=frozenset(
            {"name"} if rng.random() < 0.3 else ()), chars=rng.randrange(3, 20))
        rows.append(e)
        # Right more often for surer words, less often when repaired; and, against
        # the model's sign rule, *more* often with a noisy page (it must stay at 0).
        z = -2.0 + 6.0 * word - 1.5 * ("name" in e.fixes)
        right.append(float(rng.random() < 1 / (1 + np.exp(-z))))
    x = bench.design(rows)
    x[:, confidence.FEATURES.index("page_noise")] = [0.3 * r + 0.2 * rng.random() for r in right]
    signs = [confidence.SIGNS[f] for f in confidence.FEATURES] + [0] * len(confidence.GROUPS)
    w = bench.fit_logistic(x, np.array(right), signs)
    assert w[confidence.FEATURES.index("min_word")] + w[confidence.FEATURES.index(
        "mean_word")] > 3.0
    assert w[confidence.FEATURES.index("fix_name")] < -0.5
    assert w[confidence.FEATURES.index("page_noise")] == 0.0


def test_a_child_not_found_counts_every_member_wrong_and_unflagged() -> None:
    mother = {"relation": "mother", "name": "n", "place": "p", "phone": "1"}
    truth: dict[str, Any] = {**dict.fromkeys(SCALARS, "x"),
                             "services": dict.fromkeys(SERVICES, "y"), "family_contacts": [mother]}
    compared = list(bench.compare(None, truth))
    assert len(compared) == len(SCALARS) + len(SERVICES) + 1
    assert not any(right or listed for _, right, listed in compared)
    # A relative read where none was printed is wrong too, and one read right is right.
    record = {"family_contacts": [mother,
                                  {"relation": "father", "name": "m", "place": None,
                                   "phone": None}],
              "review": ["birth_date"], "provenance": {}}
    by_key = {key: (right, listed) for key, right, listed in bench.compare(record, truth)}
    assert by_key["family_contacts.0"] == (True, False)
    assert by_key["family_contacts.1"] == (False, False)
    assert by_key["birth_date"] == (False, True)  # named in review, with no provenance


def test_a_page_condition_counts_doubtful_words_and_sees_a_picture_beside_a_value() -> None:
    words = (Word("Прізвище:", (50, 100, 104, 112), 0.9), Word("Шевчук", (220, 100, 256, 112), 0.3))
    page = PageText(1, 595, 842, "ocr", (Line(words),),
                    (ImageRegion((270, 90, 370, 220), "a" * 64),), rotation=90)
    condition = confidence.PageCondition.of(page)
    assert condition.noise == 0.5 and condition.rotated
    assert condition.confidence == pytest.approx((9 * 0.9 + 6 * 0.3) / 15, abs=1e-4)
    assert condition.beside_image((220, 100, 256, 112))  # 14 pt short of the frame
    assert not condition.beside_image((50, 100, 104, 112))  # the label, far left of it
    assert not condition.beside_image((220, 300, 256, 312))  # a row below the picture


def test_the_baseline_is_the_hand_set_confidence_it_replaced() -> None:
    # 0.9-confidence words under a label needing one edit, script repaired:
    # min(0.9, 0.5 * 0.95 + 0.5) * 0.9 * 0.9, as biography.py computed it before.
    e = _evidence(min_word=0.9, label=0.95, label_edits=1, fixes=frozenset({"script"}))
    assert bench.baseline_score(e) == pytest.approx(0.9 * 0.9 * 0.9, abs=1e-4)
    assert bench.baseline_score(replace(e, noisy=True)) == pytest.approx(0.729 * 0.75, abs=1e-4)
    assert bench.baseline_score(confidence.Evidence("sex", "text", 1.0, 1.0)) == 1.0


def test_printed_and_hand_filled_forms_must_each_reach_the_share_held() -> None:
    # Hand-filled values read at very low confidence would let a low threshold hold
    # most of all errors while printed forms' errors go unflagged.
    hand = [replace(_sample(False, c), hand=True) for c in (0.05, 0.1, 0.2, 0.3)]
    printed = [_sample(False, c) for c in (0.4, 0.8, 0.9)] + [_sample(True, 0.99)]
    rows = hand + printed
    assert bench.caught(rows, 0.35)[0] >= 4 / 7  # all of the hand, none printed
    assert bench.caught_apart(rows, 0.35) == 0.0
    assert bench.caught_apart(rows, 0.85) == pytest.approx(2 / 3)
    assert bench.caught_apart(rows, 0.95) == 1.0
    assert bench.caught_apart(printed[-1:], 0.5) == 1.0  # no wrong member: nothing to hold


def test_an_earlier_model_file_weighs_a_feature_added_since_nothing(tmp_path: Any) -> None:
    data = confidence.model().as_json()
    for name in ("read_again", "own_language"):
        del data["weights"][name]
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    earlier = bench.earlier_model(path)
    weights = dict(zip(confidence.FEATURES, earlier.weights, strict=True))
    assert weights["read_again"] == weights["own_language"] == 0.0
    assert weights["min_word"] == data["weights"]["min_word"]


def test_known_names_are_binned_by_their_weakest_word() -> None:
    known = [_sample(True, 0.99), _sample(False, 0.97)]  # min_word 0.8 (see _evidence)
    unknown = replace(_sample(False, 0.3), evidence=_evidence(unknown_name=True))
    weak = replace(_sample(False, 0.9), evidence=_evidence(min_word=0.3))
    table = {name: (n, mean, right) for name, n, mean, right in
             bench.known_names([*known, unknown, weak])}
    assert table == {"[0.80, 0.90)": pytest.approx((2, 0.98, 0.5)),
                     "[0.00, 0.50)": pytest.approx((1, 0.9, 0.0))}


def test_the_threshold_found_by_bisection_is_the_first_a_linear_scan_finds() -> None:
    rng = random.Random(5)
    rows = [_sample(rng.random() < 0.8, round(rng.random(), 4) if rng.random() < 0.9 else None,
                    listed=rng.random() < 0.05) for _ in range(400)]
    thresholds = bench.candidates(rows)
    for target in (0.1, 0.5, 0.8, 0.95):
        first = next((t for t in thresholds if bench.caught(rows, t)[0] >= target),
                     thresholds[-1])
        assert bench.choose_threshold(rows, target) == first


def test_a_records_share_under_the_threshold_counts_its_values_not_its_photo() -> None:
    record = {"provenance": {
        "family_name": {"confidence": 0.99}, "given_name": {"confidence": 0.6},
        "birth_date": {"confidence": 0.97}, "sex": {"confidence": 0.6},
        "photos": {"confidence": 0.5}}}
    assert bench.under_threshold(record, 0.974) == pytest.approx(3 / 4)
    assert bench.under_threshold(record, 0.9) == pytest.approx(2 / 4)
    assert bench.under_threshold({"provenance": {}}, 0.9) == 0.0


def test_record_shares_parse_each_scanned_record_printed_and_hand_filled_apart() -> None:
    lines = tuple(_row(100 + 18 * i, *r) for i, r in enumerate(
        [("Прізвище:", "Коваленко", 0.99), ("Ім'я:", "Олена", 0.4),
         ("Дата народження:", "14.03.2012", 0.99)]))
    page = [PageText(1, 595, 842, "ocr", lines)]
    truth: tuple[dict[str, Any], ...] = ()
    readings: list[tuple[Any, bench.Reading]] = [
        ("300 dpi", bench.Reading("1-uk-300-dpi.pdf", truth, page)),
        ("degraded", bench.Reading("2-uk-hand-degraded.pdf", truth, page)),
        ("born digital", bench.Reading("3-uk-born-digital.pdf", truth, page))]
    [record] = biography.parse("f.pdf", page, as_of=AS_OF).records
    scores = {k: p["confidence"] for k, p in record["provenance"].items()}
    weak = scores["given_name"]  # and the sex told by it
    between = (weak + min(c for c in scores.values() if c > weak)) / 2
    printed, hand = bench.record_shares(readings, between)
    assert len(printed) == len(hand) == 1  # born digital has no OCR to weigh
    assert printed == hand == [pytest.approx(
        sum(c <= weak for c in scores.values()) / len(scores))]
    assert 0.0 < printed[0] < 1.0
