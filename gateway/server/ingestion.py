"""The ingestion engine: allowed extractor plugins over a packet's parts, contained.

This is what the gateway (SPEC §4) and ``gateway extract`` call. It guarantees:

- Only allowlisted extractors run. Extractors are found through the entry
  point group ``dxg.extractors`` (:data:`gateway.pluginspec.ENTRY_POINT_GROUP`);
  the built-in ones are declared there too and load the same way. When the
  entry points are not installed (running from a source tree), the built-ins
  come from :data:`BUILTIN_EXTRACTORS`, the same ``module:factory``
  references the package declares. A name two distributions both claim is
  refused rather than guessed.
- No plugin code runs in the calling process. Loading a plugin, asking what it
  accepts and running it all happen in a sandbox process of its own, in a new
  process group, with a hard deadline (the document time limit plus
  :data:`SANDBOX_GRACE_S`); past it, the whole group (the plugin, its page
  workers, their Tesseract processes) is killed.
- Plugin output is untrusted input. It crosses back as a JSON header of
  bounded size followed by one bounded binary message per photo (never
  pickle, never base64 in one huge string), and every member is checked: types, sizes, counts,
  ranges; photo digests are recomputed over the bytes and photo headers are
  read to confirm type and size; records are validated with
  ``gateway.protocol.schemas.validate_biography`` when that module is present.
- A plugin that raises, crashes, hangs or returns junk becomes a note in
  ``errors`` naming the part and the plugin, never an exception here. Error
  and warning texts never carry personal data: for anything but
  :class:`~gateway.pluginspec.ExtractionFailed` (whose message the contract
  keeps free of personal data), only the exception's type is reported.

Sandboxes are forked from a multiprocessing fork server (a clean process, so
no lock or thread of the caller leaks into a plugin). As with any
multiprocessing program, the caller's main module must guard its entry point
with ``if __name__ == "__main__":``.

``workers`` is the number of cores the engine may use at once: parts run in
parallel up to that many, and each part is given its share as
``PartInput.workers`` for its own page pool.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import importlib
import importlib.metadata
import io
import json
import math
import multiprocessing
import os
import select
import signal
import threading
import time
import unicodedata
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from PIL import Image

from gateway.pluginspec import (
    ENTRY_POINT_GROUP,
    ExtractionFailed,
    Limits,
    PartInput,
    Photo,
    set_progress_sink,
)
from gateway.protocol.errors import DXGError

# The built-ins, as pyproject.toml declares them under [project.entry-points."dxg.extractors"].
BUILTIN_EXTRACTORS: Mapping[str, str] = {"documents": "extractors.documents:factory"}

# Every media type a packet part may have (SPEC §3); plugins are asked about each.
MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/tiff",
               "application/json", "text/plain")
PHOTO_MAGIC: Mapping[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jp2": (b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51"),
}
PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/jp2": "JPEG2000"}

PROGRESS_PREFIX = b"\x00progress "  # a progress frame; a reply header is JSON ("{...")
PageProgress = Callable[[int, int], None]
SANDBOX_NICENESS = 10  # added to the caller's nice value in every sandbox
SANDBOX_GRACE_S = 15.0  # beyond the document limit: process start-up, parsing, the reply
PROBE_TIMEOUT_S = 60.0  # loading a plugin and asking what it accepts
MAX_HEADER_BYTES = 64 * 1024 * 1024  # records, pages, warnings and photo descriptions as JSON
MAX_WIRE_BYTES = 256 * 1024 * 1024  # the whole reply; a part is <= 64 MiB, so more is a flood
MAX_RECORDS_PER_PART = 1000  # a part is one dossier; a thousand children is a bug or an attack
MAX_RECORD_BYTES = 256 * 1024  # one biography as JSON; real ones are a few KiB
MAX_PHOTOS_PER_PART = 1000  # one or two per child
MAX_PHOTO_BYTES = 20 * 1024 * 1024  # a 300-dpi passport photo is well under 1 MiB
MAX_WARNINGS_PER_PART = 100  # past this, warnings are noise
MAX_MESSAGE_CHARS = 300  # a warning or error detail is a sentence, not a document
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True, slots=True)
class IngestedPhoto:
    """A validated photo and the part it came from."""

    part: str
    photo: Photo  # its sha256 recomputed over ``photo.data``, its header read

    def document(self) -> dict[str, Any]:
        """The entry of the extraction document's ``photos`` (SPEC §4)."""
        p = self.photo
        return {"sha256": p.sha256, "media_type": p.media_type, "width": p.width,
                "height": p.height, "part": self.part, "page": p.page}


@dataclass(frozen=True, slots=True)
class IngestionResult:
    """Everything extracted from a set of parts, validated.

    ``pages`` entries are ``{"part","page","method","confidence"}``. Warnings
    and errors are one-line notes (the extraction schema's ``note``) that name
    the part and the extractor and classify the problem::

        part scan.pdf, extractor documents: failed: the PDF is encrypted ...
        extractor acme: unavailable: the extractor is allowed but not installed
    """

    records: list[dict[str, Any]]
    photos: list[IngestedPhoto]
    pages: list[dict[str, Any]]
    warnings: list[str]
    errors: list[str]
    extractors: dict[str, str]

    def document(self) -> dict[str, Any]:
        """The SPEC §4 members of an extraction document this result fills."""
        return {
            "extractors": dict(self.extractors),
            "records": self.records,
            "photos": [p.document() for p in self.photos],
            "pages": self.pages,
            "warnings": self.warnings,
            "errors": self.errors,
        }


@dataclass(frozen=True, slots=True)
class _Plugin:
    name: str
    ref: str
    version: str
    accepts: frozenset[str]


@dataclass(slots=True)
class _PartOutcome:
    records: list[dict[str, Any]] = field(default_factory=list)
    photos: list[IngestedPhoto] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class _SandboxFailure(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def discover(extra: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Extractor name -> the ``module:factory`` references that claim it.

    Installed entry points first; built-ins fill in when not installed; ``extra``
    (for tests and embedders) last. More than one distinct reference for a
    name makes it ambiguous.
    """
    found: dict[str, list[str]] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        refs = found.setdefault(ep.name, [])
        if ep.value not in refs:
            refs.append(ep.value)
    for name, ref in BUILTIN_EXTRACTORS.items():
        found.setdefault(name, [ref])
    for name, ref in (extra or {}).items():
        refs = found.setdefault(name, [])
        if ref not in refs:
            refs.append(ref)
    return found


class Ingestor:
    """Runs the allowed extractors over parts, each in a killable sandbox."""

    def __init__(self, allow: Sequence[str], limits: Limits, workers: int, *,
                 plugins: Mapping[str, str] | None = None) -> None:
        """Load (in sandboxes) the allowlisted extractors.

        Args:
            allow: names of the extractors that may run; an empty list runs none.
            limits: caps applied to every part, whatever the caller's PartInput says.
            workers: cores the engine may use at once (>= 1).
            plugins: extra ``name -> "module:factory"`` references (tests, embedding);
                still subject to ``allow``.
        """
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._limits = limits
        self._workers = workers
        self._ctx = multiprocessing.get_context("forkserver")
        # Warm modules for every sandbox; only effective before the server starts.
        self._ctx.set_forkserver_preload(["gateway.pluginspec", "extractors.documents"])
        self._live: set[int] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._aborting = threading.Event()
        self._plugins: list[_Plugin] = []
        self._load_errors: list[str] = []
        found = discover(plugins)
        for name in sorted(set(allow)):
            refs = found.get(name, [])
            if not refs:
                self._load_errors.append(_entry(None, name, "unavailable",
                                                "the extractor is allowed but not installed"))
            elif len(refs) > 1:
                self._load_errors.append(_entry(None, name, "unavailable",
                                                "more than one installed package claims this "
                                                "extractor name; none is run"))
            else:
                self._probe(name, refs[0])

    # -- public --------------------------------------------------------------------

    @property
    def extractors(self) -> dict[str, str]:
        """Name -> version of every extractor that loaded."""
        return {p.name: p.version for p in self._plugins}

    def extract(self, parts: Sequence[PartInput], *,
                progress: Callable[[int, int], None] | None = None,
                pages: Callable[[str, int, int], None] | None = None) -> IngestionResult:
        """Run every loaded extractor that accepts each part.

        ``progress(done, total)`` is called in this thread after each
        (part, extractor) run; ``pages(part, done, total)`` from worker threads
        as an extractor reports pages of a long part
        (:func:`gateway.pluginspec.report_progress`). Results are in part
        order, then extractor name order, however the runs interleave.
        """
        if self._closed:
            raise RuntimeError("the Ingestor is closed")
        self._aborting.clear()
        jobs = [(i, plugin) for i, part in enumerate(parts) for plugin in self._plugins
                if part.media_type in plugin.accepts]
        outcomes: dict[tuple[int, str], _PartOutcome] = {}
        skipped = _PartOutcome()
        for i, part in enumerate(parts):
            if not any(j[0] == i for j in jobs):
                skipped.warnings.append(_entry(part.name, None, "unsupported",
                                               f"no allowed extractor reads {part.media_type}"))
        total, done = len(jobs), 0
        if jobs:
            at_once = min(self._workers, len(jobs))
            share = max(1, self._workers // at_once)
            with cf.ThreadPoolExecutor(max_workers=at_once,
                                       thread_name_prefix="dxg-ingest") as pool:
                futures = {
                    pool.submit(self._run_part, dataclasses.replace(
                        parts[i], limits=self._limits, workers=share), plugin, pages):
                        (i, plugin.name)
                    for i, plugin in jobs
                }
                for fut in cf.as_completed(futures):
                    outcomes[futures[fut]] = fut.result()
                    done += 1
                    if progress is not None:
                        progress(done, total)
        return self._merge(outcomes, skipped)

    def abort(self) -> None:
        """Stop the extraction under way: kill every sandbox's process group now.

        Called from another thread than :meth:`extract`'s, when the packet's
        deadline passes or the gateway stops. Sandboxes not yet started are
        not started; :meth:`extract` returns soon after, each part it had not
        finished reported as ``cancelled``. The next :meth:`extract` runs normally.
        """
        self._aborting.set()
        with self._lock:
            live = list(self._live)
        for pid in live:
            _kill_group(pid)

    def close(self) -> None:
        """Stop: kill any sandbox still running. Safe to call twice."""
        self._closed = True
        with self._lock:
            live = list(self._live)
        for pid in live:
            _kill_group(pid)

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- loading -------------------------------------------------------------------

    def _probe(self, name: str, ref: str) -> None:
        try:
            reply, _ = self._sandbox({"kind": "probe", "name": name, "ref": ref},
                                     PROBE_TIMEOUT_S)
            version = reply.get("version")
            accepts = reply.get("accepts")
            if not (isinstance(version, str) and 0 < len(version) <= 64
                    and set(version) <= NAME_CHARS | {"+"}):
                raise _SandboxFailure("invalid-output", "the extractor's version is not a "
                                                        "short version string")
            if not (isinstance(accepts, list) and all(a in MEDIA_TYPES for a in accepts)):
                raise _SandboxFailure("invalid-output", "the extractor's media types are invalid")
        except _SandboxFailure as exc:
            self._load_errors.append(_entry(None, name, exc.code,
                                            f"the extractor could not be loaded: {exc.detail}"))
            return
        self._plugins.append(_Plugin(name, ref, version, frozenset(accepts)))

    # -- running -------------------------------------------------------------------

    def _run_part(self, part: PartInput, plugin: _Plugin,
                  pages: Callable[[str, int, int], None] | None = None) -> _PartOutcome:
        def on_progress(done: int, total: int) -> None:
            if pages is not None:
                pages(part.name, done, total)

        try:
            reply, blobs = self._sandbox(
                {"kind": "extract", "name": plugin.name, "ref": plugin.ref, "part": part},
                part.limits.document_timeout_s + SANDBOX_GRACE_S, on_progress)
            return _validate(part, plugin.name, reply, blobs)
        except _SandboxFailure as exc:
            return _PartOutcome(errors=[_entry(part.name, plugin.name, exc.code, exc.detail)])
        except Exception as exc:  # validation bugs must not take the gateway down either
            return _PartOutcome(errors=[_entry(part.name, plugin.name, "invalid-output",
                                               f"the output could not be checked "
                                               f"({type(exc).__name__})")])

    def _sandbox(self, task: dict[str, Any], timeout: float,
                 on_progress: PageProgress | None = None) -> tuple[dict[str, Any], list[bytes]]:
        """Run ``task`` in a fresh process group; return its JSON reply and photo bytes.

        Raises:
            _SandboxFailure: timeout, crash, oversized or malformed reply, or the
                plugin's own failure.
        """
        if self._aborting.is_set():
            raise _SandboxFailure("cancelled", "the extraction was stopped before this part")
        receiver, sender = self._ctx.Pipe(duplex=False)
        task = {**task, "reader_pid": os.getpid()}  # the sandbox stops when this process dies
        proc = self._ctx.Process(target=_sandbox_main, args=(sender, task),
                                 name=f"dxg-extractor-{task['name']}")
        started = time.monotonic()
        proc.start()
        sender.close()
        pid = proc.pid
        assert pid is not None
        with self._lock:
            self._live.add(pid)
        if self._aborting.is_set():  # abort() ran while this one was starting
            _kill_group(pid)
        deadline = started + timeout
        try:
            message = self._receive(receiver, proc, deadline, timeout, MAX_HEADER_BYTES)
            while message.startswith(PROGRESS_PREFIX):
                if on_progress is not None:
                    _forward_progress(message, on_progress)
                message = self._receive(receiver, proc, deadline, timeout, MAX_HEADER_BYTES)
            reply = _parse_header(message)
            blobs: list[bytes] = []
            photos = reply.get("photos")
            count = len(photos) if isinstance(photos, list) else 0
            if count > MAX_PHOTOS_PER_PART:
                raise _SandboxFailure("invalid-output", f"the output has {count} photos, over "
                                                        f"the limit of {MAX_PHOTOS_PER_PART}")
            total = 0
            for _ in range(count):
                blobs.append(self._receive(receiver, proc, deadline, timeout, MAX_PHOTO_BYTES))
                total += len(blobs[-1])
                if total > MAX_WIRE_BYTES:
                    raise _SandboxFailure("invalid-output", f"the extractor's photos are over "
                                                            f"{MAX_WIRE_BYTES} bytes")
        finally:
            receiver.close()
            proc.join(max(0.0, min(5.0, timeout - (time.monotonic() - started))))
            _kill_group(pid)
            if proc.is_alive():  # still starting, before it had a group of its own
                proc.kill()
            proc.join(5)
            with self._lock:
                self._live.discard(pid)
        return reply, blobs

    @staticmethod
    def _receive(receiver: Connection, proc: Any, deadline: float, timeout: float,
                 limit: int) -> bytes:
        """One message from the sandbox, within the deadline and ``limit`` bytes.

        Raises:
            _SandboxFailure: timeout, death of the sandbox, or an oversized message.
        """
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not receiver.poll(remaining):
            raise _SandboxFailure("timeout", f"the extractor did not finish within "
                                             f"{timeout:.0f} s and was stopped")
        try:
            return receiver.recv_bytes(limit)
        except EOFError:
            proc.join(5)
            raise _SandboxFailure("crashed", f"the extractor process died (exit status "
                                             f"{proc.exitcode})") from None
        except OSError:
            raise _SandboxFailure("invalid-output", f"a message from the extractor is over "
                                                    f"{limit} bytes") from None

    def _merge(self, outcomes: Mapping[tuple[int, str], _PartOutcome],
               skipped: _PartOutcome) -> IngestionResult:
        result = IngestionResult([], [], [], list(skipped.warnings),
                                 list(self._load_errors), self.extractors)
        seen_pages: set[tuple[str, int]] = set()
        for key in sorted(outcomes):
            out = outcomes[key]
            result.records.extend(out.records)
            result.photos.extend(out.photos)
            for page in out.pages:
                if (page["part"], page["page"]) not in seen_pages:
                    seen_pages.add((page["part"], page["page"]))
                    result.pages.append(page)
            result.warnings.extend(out.warnings)
            result.errors.extend(out.errors)
        if result.records and _schema_validator() is None:
            result.warnings.append(_entry(None, None, "unvalidated",
                                          "records were not checked against the biography "
                                          "schema: gateway.protocol.schemas is not installed"))
        return result


# -- the sandbox (runs in the child process) ----------------------------------------------


def _sandbox_main(conn: Connection, task: dict[str, Any]) -> None:
    """Entry point of a sandbox process: load, run, reply with JSON bytes, exit."""
    os.setsid()  # a group of our own, so the parent can kill everything we start
    _die_with_the_reader(int(task["reader_pid"]), conn)
    # Extraction is background work: requests (intake, delivery) come first on the
    # cores; page workers and Tesseract inherit the lower priority.
    os.nice(SANDBOX_NICENESS)
    os.environ["OMP_THREAD_LIMIT"] = "1"

    sending = threading.Lock()  # a plugin may report from several threads

    def progress(done: int, total: int) -> None:
        with sending:
            conn.send_bytes(PROGRESS_PREFIX + f"{int(done)} {int(total)}".encode("ascii"))

    set_progress_sink(progress)
    blobs: list[bytes] = []
    try:
        reply, blobs = _sandbox_run(task)
    except ExtractionFailed as exc:
        reply = {"error": {"code": "failed", "detail": str(exc)[:MAX_MESSAGE_CHARS]}}
    except BaseException as exc:  # every failure, even SystemExit, becomes a reply
        reply = {"error": {"code": "crashed",
                           "detail": f"the extractor raised {type(exc).__name__}"}}
    try:
        data = json.dumps(reply, allow_nan=False, default=_not_json).encode()
    except (TypeError, ValueError):
        blobs = []
        data = json.dumps({"error": {"code": "invalid-output",
                                     "detail": "the extractor returned data that is not "
                                               "JSON-serialisable"}}).encode()
    conn.send_bytes(data)
    for blob in blobs:  # one message per photo: neither side holds them all twice
        conn.send_bytes(blob)
    conn.close()


def _die_with_the_reader(reader_pid: int, conn: Connection) -> None:
    """Stop this sandbox's whole group once the process waiting for its reply is gone,
    or once the sandbox itself is.

    A gateway killed with SIGKILL cannot stop its sandboxes, and a sandbox
    left running holds a decrypted part and its cores until its plugin ends.
    Its parent is the forkserver, which cannot notice the gateway's death
    while any sandbox lives (each holds the forkserver's liveness pipe), so
    the sandbox watches the gateway's process itself, through a pidfd.

    The watcher is a process of the sandbox's group, not a thread: a sandbox
    with one thread may fork its page workers (cheap, modules and models
    shared), where a second thread forces a fork server and a fresh import in
    every worker. It also watches the sandbox: a sandbox that dies leaves no
    page worker behind holding the reply pipe open, so a crash is reported as
    one at once instead of as a timeout.
    """
    try:
        watched = os.pidfd_open(reader_pid)
    except ProcessLookupError:
        os.killpg(0, signal.SIGKILL)  # gone before we started: nobody will read us
        return
    sandbox = os.pidfd_open(os.getpid())
    if os.fork() == 0:
        try:
            conn.close()  # the reply pipe is the sandbox's: EOF must follow its end
            select.select([watched, sandbox], [], [])  # readable once either has exited
            os.killpg(0, signal.SIGKILL)
        finally:
            os._exit(0)
    os.close(watched)
    os.close(sandbox)


def _forward_progress(message: bytes, on_progress: PageProgress) -> None:
    """Pass a sandbox's progress frame on, if it is well-formed (it is untrusted)."""
    fields = message[len(PROGRESS_PREFIX):].split()
    if len(fields) == 2 and all(f.isdigit() and len(f) <= 9 for f in fields):
        done, total = int(fields[0]), int(fields[1])
        if done <= total:
            on_progress(done, total)


def _not_json(value: object) -> object:
    raise TypeError(type(value).__name__)


def _sandbox_run(task: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    factory = importlib.metadata.EntryPoint(name=task["name"], value=task["ref"],
                                            group=ENTRY_POINT_GROUP).load()
    extractor = factory()
    if task["kind"] == "probe":
        return {"version": getattr(extractor, "version", None),
                "accepts": [m for m in MEDIA_TYPES if extractor.accepts(m) is True]}, []
    out = extractor.extract(task["part"])
    try:
        photos = [{"sha256": p.sha256, "media_type": p.media_type, "width": p.width,
                   "height": p.height, "page": p.page} for p in out.photos]
        blobs = [p.data if isinstance(p.data, bytes) else b"" for p in out.photos]
        pages = [{"page": p.page, "method": p.method, "confidence": p.confidence}
                 for p in out.pages]
        return {"records": out.records, "photos": photos, "pages": pages,
                "warnings": out.warnings}, blobs
    except Exception:
        return {"error": {"code": "invalid-output",
                          "detail": "the extractor's output does not have the ExtractorOutput "
                                    "shape"}}, []


def _parse_header(raw: bytes) -> dict[str, Any]:
    """The sandbox's JSON reply; its error report becomes a :class:`_SandboxFailure`.

    Raises:
        _SandboxFailure: not a JSON object, or the plugin's own failure.
    """
    try:
        reply = json.loads(raw)
    except ValueError:
        raise _SandboxFailure("invalid-output", "the extractor's output is not JSON") from None
    if not isinstance(reply, dict):
        raise _SandboxFailure("invalid-output", "the extractor's output is not an object")
    error = reply.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        detail = error.get("detail") if isinstance(error, dict) else None
        if code not in ("failed", "crashed", "invalid-output") or not isinstance(detail, str):
            raise _SandboxFailure("invalid-output", "the extractor's error report is malformed")
        raise _SandboxFailure(code, _clean(detail))
    return reply


# -- validation (runs here, on the JSON reply) ------------------------------------------------


def _entry(part: str | None, extractor: str | None, code: str, detail: str) -> str:
    """``part P, extractor E: code: detail`` (either name left out when there is none)."""
    who = ", ".join(x for x in (part and f"part {part}", extractor and f"extractor {extractor}")
                    if x)
    return f"{who}: {code}: {detail}" if who else f"{code}: {detail}"


def _clean(text: str) -> str:
    """Printable, one line, bounded: a plugin's message as we pass it on."""
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(kept.split())[:MAX_MESSAGE_CHARS]


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _validate(part: PartInput, plugin: str, reply: Mapping[str, Any],
              blobs: Sequence[bytes]) -> _PartOutcome:
    out = _PartOutcome()

    def problem(code: str, detail: str) -> None:
        out.errors.append(_entry(part.name, plugin, code, detail))

    limits = part.limits
    pages, photos_in, records, warns = (reply.get(k) for k in
                                        ("pages", "photos", "records", "warnings"))
    if not (isinstance(pages, list) and isinstance(photos_in, list)
            and isinstance(records, list) and isinstance(warns, list)):
        problem("invalid-output", "the output lacks its records, photos, pages or warnings lists")
        return out

    if len(pages) > limits.max_pages:
        problem("invalid-output", f"the output reports {len(pages)} pages, over the limit")
        pages = []
    for i, page in enumerate(pages):
        ok = (isinstance(page, dict) and _is_int(page.get("page"), 1, limits.max_pages)
              and page.get("method") in ("text", "ocr")
              and isinstance(page.get("confidence"), int | float)
              and not isinstance(page.get("confidence"), bool)
              and math.isfinite(page["confidence"]) and 0 <= page["confidence"] <= 1)
        if not ok:
            problem("invalid-output", f"page report {i} is malformed; dropped")
            continue
        out.pages.append({"part": part.name, "page": page["page"], "method": page["method"],
                          "confidence": float(page["confidence"])})

    seen: set[str] = set()
    for i, (raw, data) in enumerate(zip(photos_in, blobs, strict=True)):
        try:
            photo = _photo(part, raw, data)
        except ValueError as exc:
            problem("invalid-output", f"photo {i}: {exc}; dropped")
            continue
        if photo.photo.sha256 not in seen:
            seen.add(photo.photo.sha256)
            out.photos.append(photo)

    if len(warns) > MAX_WARNINGS_PER_PART:
        warns = [*warns[:MAX_WARNINGS_PER_PART], "further warnings dropped"]
    for w in warns:
        if isinstance(w, str) and w.strip():
            out.warnings.append(_entry(part.name, plugin, "extractor", _clean(w)))

    if len(records) > MAX_RECORDS_PER_PART:
        problem("invalid-output", f"the output has {len(records)} records, over the limit of "
                                  f"{MAX_RECORDS_PER_PART}; records dropped")
        records = []
    validate = _schema_validator()
    for i, record in enumerate(records):
        reason = _record_problem(part, record, seen, validate)
        if reason is not None:
            problem("invalid-record", f"record {i}: {reason}; dropped")
            continue
        out.records.append(record)
    return out


def _photo(part: PartInput, raw: object, data: bytes) -> IngestedPhoto:
    """Check one photo; the digest is recomputed, never taken on trust.

    Raises:
        ValueError: with a reason free of personal data.
    """
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    media = raw.get("media_type")
    if not isinstance(media, str) or media not in PHOTO_MAGIC:
        raise ValueError("unsupported media type")
    if not data:
        raise ValueError("no bytes")
    if not data.startswith(PHOTO_MAGIC[media]):
        raise ValueError("bytes do not match the media type")
    digest = hashlib.sha256(data).hexdigest()
    if raw.get("sha256") != digest:
        raise ValueError("sha256 does not match the bytes")
    if not _is_int(raw.get("page"), 1, part.limits.max_pages):
        raise ValueError("page out of range")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[PIL_FORMATS[media]]) as img:
                width, height = img.size
    except Exception:
        raise ValueError("not a readable image") from None
    if width * height > part.limits.max_pixels_per_page:
        raise ValueError("over the pixel limit")
    if raw.get("width") != width or raw.get("height") != height:
        raise ValueError("width or height does not match the image")
    return IngestedPhoto(part.name, Photo(sha256=digest, media_type=media, width=width,
                                          height=height, page=raw["page"], data=data))


def _schema_validator() -> Callable[[dict[str, Any]], object] | None:
    # Imported late: the schema module is its own piece and may not be there.
    try:
        module = importlib.import_module("gateway.protocol.schemas")
    except ImportError:
        return None
    validate = getattr(module, "validate_biography", None)
    return validate if callable(validate) else None


def _record_problem(part: PartInput, record: object, photos: set[str],
                    validate: Callable[[dict[str, Any]], object] | None) -> str | None:
    """Why a record is refused, or None. Reasons name fields, never values."""
    if not isinstance(record, dict):
        return "not an object"
    if len(json.dumps(record, ensure_ascii=False)) > MAX_RECORD_BYTES:
        return f"over {MAX_RECORD_BYTES} bytes"
    source = record.get("source")
    if isinstance(source, dict) and source.get("part") != part.name:
        return "source.part names another part"
    refs = record.get("photos")
    if isinstance(refs, list) and not all(isinstance(r, str) and r in photos for r in refs):
        return "photos refers to a photo the extractor did not return"
    if validate is None:
        return None
    try:
        verdict = validate(record)
    except DXGError as exc:
        return f"fails the biography schema: {_clean(exc.detail)}"
    except Exception as exc:
        # A schema library's message may quote the value: report only its type.
        return f"fails the biography schema ({type(exc).__name__})"
    if verdict is False or (isinstance(verdict, list | tuple) and verdict):
        return "fails the biography schema"
    return None


def _kill_group(pid: int) -> None:
    """Kill the sandbox's process group (the sandbox made itself its leader)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
