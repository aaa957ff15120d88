"""The ingestion engine: discovery, allowlist, containment of broken plugins, output checks."""

from __future__ import annotations

import hashlib
import json
import os
import select
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import gateway.server.ingestion as ingestion
from gateway.pluginspec import Limits, PartInput
from gateway.protocol.errors import Invalid
from gateway.server.ingestion import BUILTIN_EXTRACTORS, IngestionResult, Ingestor, discover
from tests.dossiers import make_dossier
from tests.plugins.broken import SECRET

AS_OF = date(2026, 3, 1)
BROKEN = ["raises", "fails", "junk", "not_json", "bad_fields", "flood", "hangs", "crashes",
          "exits"]
BROKEN_TO_LOAD = ["bad_version", "factory_raises", "hangs_on_load"]


def refs(*names: str) -> dict[str, str]:
    return {name: f"tests.plugins.broken:{name}" for name in names}


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for a reaper (PID 1 may never reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def pdf_part(tmp: Path, seed: int = 1, children: int = 1) -> PartInput:
    dossier = make_dossier(seed, children=children)
    return PartInput(dossier.filename, dossier.media_type, dossier.write(tmp), AS_OF)


@dataclass(frozen=True)
class Run:
    result: IngestionResult
    part: PartInput
    grandchild: int
    progress: list[tuple[int, int]]


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """One engine with the built-in and every broken plugin, over one part."""
    tmp = tmp_path_factory.mktemp("ingest")
    pidfile = tmp / "grandchild.pid"  # written by the hanging plugin, beside the part
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ingestion, "SANDBOX_GRACE_S", 1.0)
        mp.setattr(ingestion, "PROBE_TIMEOUT_S", 2.0)
        # Whether the schema module is installed must not decide what this run keeps;
        # validation with it is tested on its own below.
        mp.setitem(sys.modules, "gateway.protocol.schemas", None)
        part = pdf_part(tmp)
        seen: list[tuple[int, int]] = []
        with Ingestor(["documents", *BROKEN, *BROKEN_TO_LOAD],
                      # Room for a niced sandbox to start and die on a loaded machine:
                      # at 3 s the crashing one failed once, the suite run beside a
                      # benchmark (its message not kept; time is the likeliest cause).
                      Limits(document_timeout_s=6.0), 2,
                      plugins=refs(*BROKEN, *BROKEN_TO_LOAD)) as engine:
            result = engine.extract([part], progress=lambda d, t: seen.append((d, t)))
        yield Run(result, part, int(pidfile.read_text()), seen)


def errors_of(run: Run, extractor: str) -> list[str]:
    return [e for e in run.result.errors if f"extractor {extractor}:" in e]


# -- discovery and allowlist -------------------------------------------------------------


def test_builtins_are_found_even_from_a_source_tree() -> None:
    found = discover()
    assert found["documents"] == [BUILTIN_EXTRACTORS["documents"]]


def test_only_allowlisted_extractors_run(tmp_path: Path) -> None:
    with Ingestor(["documents"], Limits(), 1, plugins=refs("raises")) as engine:
        assert engine.extractors == {"documents": "0.1.0"}
        result = engine.extract([pdf_part(tmp_path)])
    assert result.errors == []
    assert [p["method"] for p in result.pages] == ["text"]
    assert result.extractors == {"documents": "0.1.0"}


def test_an_empty_allowlist_runs_nothing(tmp_path: Path) -> None:
    with Ingestor([], Limits(), 1) as engine:
        result = engine.extract([pdf_part(tmp_path)])
    assert result.pages == [] and result.records == [] and result.errors == []
    assert [w.split(": ")[1] for w in result.warnings] == ["unsupported"]


def test_an_allowed_but_missing_or_ambiguous_extractor_is_an_error(tmp_path: Path) -> None:
    with Ingestor(["nonesuch", "documents"], Limits(), 1,
                  plugins={"documents": "tests.plugins.broken:raises"}) as engine:
        assert engine.extractors == {}
        result = engine.extract([pdf_part(tmp_path)])
    assert sorted(result.errors) == [
        "extractor documents: unavailable: more than one installed package claims this "
        "extractor name; none is run",
        "extractor nonesuch: unavailable: the extractor is allowed but not installed"]


def test_parts_no_extractor_reads_are_a_warning(tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("hello")
    with Ingestor(["documents"], Limits(), 1) as engine:
        result = engine.extract([PartInput("note.txt", "text/plain", note, AS_OF)])
    assert result.warnings == ["part note.txt: unsupported: no allowed extractor reads text/plain"]


def test_the_engine_limits_override_the_part_limits(tmp_path: Path) -> None:
    part = pdf_part(tmp_path, children=2)
    assert part.limits.max_pages >= 2
    with Ingestor(["documents"], Limits(max_pages=1), 1) as engine:
        result = engine.extract([part])
    assert result.errors == [f"part {part.name}, extractor documents: failed: the PDF has 2 "
                             "pages, over the limit of 1 pages"]


def test_results_come_in_part_order_with_photos_and_progress(tmp_path: Path) -> None:
    parts = [pdf_part(tmp_path, seed=s, children=s) for s in (2, 1, 3)]
    seen: list[tuple[int, int]] = []
    with Ingestor(["documents"], Limits(), 2) as engine:
        result = engine.extract(parts, progress=lambda d, t: seen.append((d, t)))
    assert [(p["part"], p["page"]) for p in result.pages] == [
        (part.name, n) for part in parts for n in range(1, int(part.name.split("-")[1]) + 1)]
    assert [p.part for p in result.photos] == [p["part"] for p in result.pages]
    assert [p.photo.page for p in result.photos] == [p["page"] for p in result.pages]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    doc = result.document()
    assert set(doc) == {"extractors", "records", "photos", "pages", "warnings", "errors"}
    assert all("data" not in p for p in doc["photos"])
    json.dumps(doc)


def test_a_closed_engine_refuses_work(tmp_path: Path) -> None:
    engine = Ingestor(["documents"], Limits(), 1)
    engine.close()
    engine.close()
    with pytest.raises(RuntimeError):
        engine.extract([pdf_part(tmp_path)])


# -- broken plugins are contained ---------------------------------------------------------


def test_the_builtin_still_works_beside_broken_plugins(broken_run: Run) -> None:
    assert [(p["page"], p["method"]) for p in broken_run.result.pages if True][:1] == [
        (1, "text")]
    assert broken_run.result.extractors["documents"] == "0.1.0"
    assert broken_run.progress[-1] == (len(BROKEN) + 1, len(BROKEN) + 1)


def test_a_plugin_that_raises_is_reported_by_type_only(broken_run: Run) -> None:
    assert errors_of(broken_run, "raises") == [
        f"part {broken_run.part.name}, extractor raises: crashed: the extractor raised KeyError"]


def test_extraction_failed_messages_pass_cleaned(broken_run: Run) -> None:
    assert errors_of(broken_run, "fails") == [
        f"part {broken_run.part.name}, extractor fails: failed: the scanner profile is "
        "unsupported [31m"]


@pytest.mark.parametrize("name", ["junk", "not_json", "flood"])
def test_junk_output_is_an_invalid_output_error(broken_run: Run, name: str) -> None:
    errors = errors_of(broken_run, name)
    assert [e.split(": ")[1] for e in errors] == ["invalid-output"]
    assert not [r for r in broken_run.result.records if r.get("record_id") == "4999"]


def test_a_hanging_plugin_is_stopped_with_everything_it_started(broken_run: Run) -> None:
    [error] = errors_of(broken_run, "hangs")
    assert ": timeout: the extractor did not finish within 7 s" in error
    assert not alive(broken_run.grandchild)


@pytest.mark.parametrize(("name", "status"), [("crashes", "-11"), ("exits", "3")])
def test_a_dying_plugin_is_a_crash(broken_run: Run, name: str, status: str) -> None:
    [error] = errors_of(broken_run, name)
    assert f": crashed: the extractor process died (exit status {status})" in error


def test_a_sandbox_has_one_thread_so_its_page_pool_forks(tmp_path: Path) -> None:
    """The watcher of the reader is a process: a thread would force every page pool
    onto a fork server, each worker importing everything again."""
    with Ingestor(["sandbox"], Limits(), 1, plugins=refs("sandbox")) as engine:
        result = engine.extract([pdf_part(tmp_path)])
    assert not result.errors
    [warning] = result.warnings
    assert warning.endswith(": threads 1, page pool fork")


def test_a_sandbox_dying_under_its_workers_is_a_crash_and_takes_them(tmp_path: Path) -> None:
    """A forked worker holds the reply pipe: the sandbox's group goes with the sandbox,
    so its death is a crash at once, not a timeout, and no worker is left."""
    with Ingestor(["crashes_with_a_worker"], Limits(document_timeout_s=120), 1,
                  plugins=refs("crashes_with_a_worker")) as engine:
        started = time.monotonic()
        result = engine.extract([pdf_part(tmp_path)])
    assert time.monotonic() - started < 60  # the sandbox deadline would be 135 s
    [error] = result.errors
    assert ": crashed: the extractor process died (exit status -9)" in error
    worker = int((tmp_path / "worker.pid").read_text())
    watched = os.pidfd_open(worker) if alive(worker) else None
    if watched is not None:  # killed with its group; wait for the kill to land
        assert select.select([watched], [], [], 10)[0]
        os.close(watched)


@pytest.mark.parametrize("name", BROKEN_TO_LOAD)
def test_a_plugin_that_cannot_load_is_an_error_without_a_part(broken_run: Run,
                                                              name: str) -> None:
    [error] = errors_of(broken_run, name)
    assert error.startswith(f"extractor {name}: ") and "could not be loaded" in error
    assert name not in broken_run.result.extractors


def test_bad_fields_are_checked_one_by_one(broken_run: Run) -> None:
    result = broken_run.result
    part = broken_run.part.name
    # one photo of four survives: the others lie about digest, type or size
    bad = [p.photo for p in result.photos if p.part == part and p.photo.width == 1]
    assert len(bad) == 1 and bad[0].media_type == "image/png"
    assert bad[0].sha256 == hashlib.sha256(bad[0].data).hexdigest()
    details = errors_of(broken_run, "bad_fields")
    assert any("sha256 does not match" in d for d in details)
    assert any("do not match the media type" in d for d in details)
    assert any("width or height" in d for d in details)
    # page reports: only page 1 is well formed (0, "magic", -0.5 and 7.0 are not)
    assert sum("page report" in d for d in details) == 4
    # records: "a" kept; "b" points at a photo that was dropped; "c" claims another part
    assert [r["record_id"] for r in result.records if r["record_id"] in "abc"] == ["a"]
    assert any("record 1: photos refers" in d for d in details)
    assert any("record 2: source.part" in d for d in details)
    assert any("record 3: not an object" in d for d in details)
    # warnings: strings kept, bounded; a non-string dropped
    prefix = f"part {part}, extractor bad_fields: extractor: "
    mine = [w.removeprefix(prefix) for w in result.warnings if w.startswith(prefix)]
    assert mine[0] == "a plain warning" and len(mine) == 2
    assert len(mine[1]) == ingestion.MAX_MESSAGE_CHARS


def test_no_personal_data_reaches_errors_or_warnings(broken_run: Run) -> None:
    text = json.dumps([broken_run.result.errors, broken_run.result.warnings],
                      ensure_ascii=False)
    for piece in SECRET.split():
        assert piece not in text


# -- schema validation, when gateway.protocol.schemas is there --------------------------


def test_records_are_validated_by_the_schema_module_when_present(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def validate_biography(record: dict[str, Any]) -> None:
        if record["record_id"] == "a":
            raise Invalid("/family_name: does not match the pattern")
        raise ValueError(f"{record!r} is not valid")  # quotes the value: must not leak

    schemas = types.ModuleType("gateway.protocol.schemas")
    schemas.validate_biography = validate_biography  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gateway.protocol.schemas", schemas)
    with Ingestor(["bad_fields"], Limits(), 1, plugins=refs("bad_fields")) as engine:
        result = engine.extract([pdf_part(tmp_path)])
    assert result.records == []
    assert any(e.endswith("record 0: fails the biography schema: /family_name: does not match "
                          "the pattern; dropped") for e in result.errors)
    assert any(e.endswith("record 1: photos refers to a photo the extractor did not return; "
                          "dropped") for e in result.errors)
    assert SECRET.split()[0] not in json.dumps(result.errors, ensure_ascii=False)


def test_unvalidated_records_are_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gateway.protocol.schemas", None)
    with Ingestor(["bad_fields"], Limits(), 1, plugins=refs("bad_fields")) as engine:
        result = engine.extract([pdf_part(tmp_path)])
    assert [r["record_id"] for r in result.records] == ["a"]
    assert "unvalidated: records were not checked against the biography schema: " \
           "gateway.protocol.schemas is not installed" in result.warnings
