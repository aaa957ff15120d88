"""Extractor plugins that misbehave in every way the ingestion engine must contain.

Each factory is referenced as ``tests.plugins.broken:<name>`` and handed to
:class:`gateway.server.ingestion.Ingestor` through its ``plugins`` argument. Every one
carries a fictitious child's name in its failure, so tests can check that no
personal data leaks into an error.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from extractors import documents
from gateway.pluginspec import ExtractionFailed, ExtractorOutput, PageReport, PartInput, Photo

SECRET = "Шевченко Олена 14.03.2012"  # fictitious personal data that must never leak
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


class _Base:
    name = "broken"
    version = "1.0"

    def accepts(self, media_type: str) -> bool:
        return media_type == "application/pdf"

    def extract(self, part: PartInput) -> Any:
        raise NotImplementedError


class Raises(_Base):
    def extract(self, part: PartInput) -> Any:
        raise KeyError(SECRET)


class Fails(_Base):
    def extract(self, part: PartInput) -> Any:
        raise ExtractionFailed("the scanner profile is unsupported\n\x1b[31m")


class Junk(_Base):
    def extract(self, part: PartInput) -> Any:
        return {"records": SECRET}


class NotJson(_Base):
    def extract(self, part: PartInput) -> Any:
        return ExtractorOutput(records=[{"when": object()}], photos=[], pages=[])


class BadFields(_Base):
    """Well-shaped output whose every member is wrong somewhere."""

    def extract(self, part: PartInput) -> Any:
        good = Photo(hashlib.sha256(PNG_1X1).hexdigest(), "image/png", 1, 1, 1, PNG_1X1)
        lying = Photo("0" * 64, "image/png", 1, 1, 1, PNG_1X1 + b"x")
        wrong_type = Photo(hashlib.sha256(PNG_1X1).hexdigest(), "image/jpeg", 1, 1, 1, PNG_1X1)
        wrong_size = Photo(hashlib.sha256(PNG_1X1).hexdigest(), "image/png", 640, 480, 1,
                           PNG_1X1)
        records: list[Any] = [
            {"record_id": "a", "family_name": SECRET, "photos": [good.sha256],
             "source": {"part": part.name, "pages": [1], "method": "text"}},
            {"record_id": "b", "family_name": SECRET, "photos": ["0" * 64]},
            {"record_id": "c", "source": {"part": "someone-else.pdf"}},
            "not a record",
        ]
        return ExtractorOutput(
            records=records,
            photos=[good, lying, wrong_type, wrong_size],
            pages=[PageReport(1, "text", 1.0), PageReport(0, "text", 1.0),
                   PageReport(2, "magic", 0.5),  # type: ignore[arg-type]
                   PageReport(3, "ocr", -0.5),
                   PageReport(4, "ocr", 7.0)],
            warnings=["a plain warning", 42, "x" * 10_000],  # type: ignore[list-item]
        )


class Flood(_Base):
    def extract(self, part: PartInput) -> Any:
        return ExtractorOutput(records=[{"record_id": str(i)} for i in range(5000)], photos=[],
                               pages=[])


class Hangs(_Base):
    """Hangs after starting a grandchild process, which must die with it."""

    def extract(self, part: PartInput) -> Any:
        child = subprocess.Popen(["sleep", "600"])
        (Path(part.path).parent / "grandchild.pid").write_text(str(child.pid))
        time.sleep(3600)


class Crashes(_Base):
    def extract(self, part: PartInput) -> Any:
        os.kill(os.getpid(), signal.SIGSEGV)


class CrashesWithAWorker(_Base):
    """Dies while a child it forked (as a page pool does) holds the reply pipe open."""

    def extract(self, part: PartInput) -> Any:
        worker = os.fork()
        if worker == 0:
            time.sleep(3600)
            os._exit(0)
        (Path(part.path).parent / "worker.pid").write_text(str(worker))
        os.kill(os.getpid(), signal.SIGKILL)


class Sandbox(_Base):
    """Not broken: reports the sandbox it runs in (threads; how page pools start)."""

    def extract(self, part: PartInput) -> Any:
        method = documents._pool_context().get_start_method()
        return ExtractorOutput(records=[], photos=[], pages=[], warnings=[
            f"threads {threading.active_count()}, page pool {method}"])


class Exits(_Base):
    def extract(self, part: PartInput) -> Any:
        os._exit(3)


class BadVersion(_Base):
    version = "1.0; rm -rf /"


def raises() -> Raises:
    return Raises()


def fails() -> Fails:
    return Fails()


def junk() -> Junk:
    return Junk()


def not_json() -> NotJson:
    return NotJson()


def bad_fields() -> BadFields:
    return BadFields()


def flood() -> Flood:
    return Flood()


def hangs() -> Hangs:
    return Hangs()


def crashes() -> Crashes:
    return Crashes()


def crashes_with_a_worker() -> CrashesWithAWorker:
    return CrashesWithAWorker()


def sandbox() -> Sandbox:
    return Sandbox()


def exits() -> Exits:
    return Exits()


def bad_version() -> BadVersion:
    return BadVersion()


def factory_raises() -> _Base:
    raise RuntimeError(SECRET)


def hangs_on_load() -> _Base:
    time.sleep(3600)
    raise AssertionError("unreachable")
