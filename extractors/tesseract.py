"""The one place DXG runs Tesseract: in-process through the system's library, or the binary.

Two engines read the same way, because they are one engine:

- **library** (used whenever it loads): the system's ``libtesseract.so.5``,
  the very library the ``tesseract`` program links (Tesseract 5.3.0 on
  the gateway), driven through its C API with ``ctypes``. Each process
  loads one API per language set (``ukr+rus+eng`` for pages, ``eng`` for
  dates read again, ``osd`` for orientation) the first time it needs it and
  keeps it for every later page and second reading: the program paid that
  load (~0.1 s of ``ukr+rus+eng``) on every call, two or three a page.
- **binary** (the fallback when the library does not load: another
  platform, another major version, OpenMP already started with more than
  one thread): the ``tesseract`` program, one process a call, the image as
  an uncompressed TIFF file in a private temporary directory (mode 0700,
  removed right after the call; it follows ``TMPDIR``, which the gateway
  points at its own scratch space). Measured on an A4 page at 300 dpi:
  stdin costs ~0.2 s more per page (Tesseract reads it a byte at a time),
  PGM ~0.15 s and PNG the zlib round trip; uncompressed TIFF costs nothing.

Both readings are identical, word for word, box for box, confidence for
confidence (``tests/test_tesseract_engines.py`` reads the same pages both
ways): the library is given what the program's command line sets
(``--dpi`` is ``user_defined_dpi``, ``--psm`` the page segmentation mode,
the default engine mode and data path), the same 8-bit pixels (the program
decodes the TIFF to them), and before each call its adaptive classifier
and document dictionary are reset, so that no page learns from the one
before, as in a fresh process.

Every call, either engine, guarantees:

- a timeout: the program is killed past it; the library's recognition is
  given a deadline (a ``TessMonitor``) that it checks between words, where
  the time goes, and a call past it raises ``timeout``. Layout analysis
  and orientation detection in the library cannot be interrupted; they
  take a fraction of a second on a page within the pixel cap, and the
  document deadline still bounds them, since the page pool kills its
  workers when it passes (and the sandbox's deadline kills its group);
- ``OMP_THREAD_LIMIT=1``: one Tesseract thread per process, because pages
  run in parallel across processes and OpenMP threads on top of that only
  fight for the same cores (OCRmyPDF learned this the hard way). The
  library is loaded only after the variable is set in this process's
  environment, and used only if OpenMP then reports a thread limit of one;
- classified failures: missing Tesseract, missing language data, timeout
  and crash each raise :class:`~gateway.pluginspec.ExtractionFailed` with a
  message that names the failure and never the content of the page. The
  library's own diagnostics go to ``/dev/null`` (``debug_file``), as the
  program's stderr is never shown. A crash inside the library takes its
  process with it: in a page worker the pool reports the page's reader
  dead (``extractors.documents``), never a reading.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from gateway.pluginspec import ExtractionFailed

TESSERACT = "tesseract"
LIBRARY = "libtesseract.so.5"  # by soname: the library the tesseract program itself links
LIBRARY_MAJOR = b"5."  # the engine the corrections and calibration were tuned on
OPENMP = "libgomp.so.1"  # the OpenMP runtime libtesseract links, asked for its thread limit
OCR_LANGUAGES = "ukr+rus+eng"
OSD_LANGUAGE = "osd"  # what the program loads for --psm 0 when no -l is given
PSM_OSD_ONLY = 0
STDERR_KEEP = 4096  # bytes of stderr kept for classification; never shown to users verbatim
MAX_LANGUAGES = 64  # names read from the library's loaded list; a set is a few
MAX_DEADLINE_MS = 2**31 - 1  # the monitor's deadline is a C int of milliseconds
# The library looks for a UNLV zone file (``<input name>.uzn``) beside its input
# and, if one exists, reads the page as one block. A path under /dev/null never
# exists, so no file anywhere can change a reading.
LIBRARY_INPUT_NAME = b"/dev/null/dxg-page.tif"

_LANG_FAILURE = re.compile(rb"Failed loading language '([A-Za-z0-9_]+)'")
_LANGUAGE_NAME = re.compile(r"[A-Za-z0-9_]+")


class TesseractFailed(ExtractionFailed):
    """A classified Tesseract failure; ``kind`` is one of :data:`FAILURE_KINDS`."""

    def __init__(self, kind: str, message: str, *, returncode: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.returncode = returncode


FAILURE_KINDS = ("missing", "language", "timeout", "crash", "status", "no-time")


@dataclass(frozen=True, slots=True)
class TsvWord:
    """One word as Tesseract reported it, in pixels of the image it was given."""

    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float  # 0..1
    block: int
    paragraph: int
    line: int
    own_language: bool = False  # replaced by a second reading in the form's own language


@dataclass(frozen=True, slots=True)
class Orientation:
    """Tesseract's orientation estimate (``--psm 0``)."""

    rotate: int  # degrees clockwise to turn the image so its text reads upright
    confidence: float  # Tesseract's own scale; below ~2 it is a guess


Gray = npt.NDArray[np.uint8] | Image.Image  # a 2-D uint8 array or a mode "L" image


class Engine(Protocol):
    """A way to run Tesseract: :class:`LibraryEngine` or :class:`BinaryEngine`."""

    kind: str

    def words(self, gray: Gray, *, dpi: int, timeout: float, languages: str,
              psm: int) -> list[TsvWord]:
        """The words of ``gray`` (see :func:`ocr_words`)."""
        ...

    def orientation(self, gray: Gray, *, dpi: int, timeout: float) -> Orientation:
        """The orientation of ``gray`` (see :func:`detect_orientation`)."""
        ...


# -- what callers use ------------------------------------------------------------------------


def ocr_words(
    gray: Gray,
    *,
    dpi: int,
    timeout: float,
    languages: str = OCR_LANGUAGES,
    psm: int = 3,
) -> list[TsvWord]:
    """OCR a grayscale page and return its words with boxes and confidences.

    Raises:
        ExtractionFailed: Tesseract or its language data missing, timeout, crash
            (a :class:`TesseractFailed`).
    """
    return engine().words(gray, dpi=dpi, timeout=timeout, languages=languages, psm=psm)


def read_stacked(
    crops: Sequence[Image.Image],
    *,
    gap: int,
    dpi: int,
    timeout: float,
    languages: str = OCR_LANGUAGES,
    psm: int = 6,
) -> list[list[TsvWord]]:
    """Read many small crops in one Tesseract call: each crop's words, in its own pixels.

    A second reading looks again at a few words or lines of a page. One call
    per crop would pay Tesseract's set-up each time, so the crops (mode
    ``"L"``) are pasted one under another, left-aligned ``gap`` pixels in,
    with ``gap`` pixels of paper above, between and below them, and the
    canvas is read once. A word found belongs to the crop whose band holds
    its vertical middle; a word in no band (in a gap) belongs to none. Each
    word's box is given in its crop's pixels (its ``left`` and ``top``
    measured from the crop's corner), so the caller maps it back to the page
    as it cut the crop.

    Args:
        crops: the regions to read, in the order their words are returned.
        gap: paper between two crops and around them, in the crops' pixels.
        dpi: the resolution of the crops as they are (after any upscaling).
        timeout: seconds the call may take.
        languages: the Tesseract language set (one model loads fastest).
        psm: the page segmentation mode (6: one block of lines).

    Returns:
        One list of words per crop, in reading order.

    Raises:
        ExtractionFailed: as :func:`ocr_words`.
    """
    return _read_pasted(crops, gap=gap, dpi=dpi, timeout=timeout, languages=languages,
                        psm=psm, across=False)


def read_in_a_row(
    crops: Sequence[Image.Image],
    *,
    gap: int,
    dpi: int,
    timeout: float,
    languages: str = OCR_LANGUAGES,
) -> list[list[TsvWord]]:
    """:func:`read_stacked` for one-line crops, pasted side by side and read as one line
    (``--psm 7``).

    Read as a block of lines, Tesseract may find no line at all in a word or
    two alone (a short label, "Ім'я:", read as nothing); read as one line,
    it is read. The crops stand ``gap`` pixels apart, each centred on the
    line's middle; a word belongs to the crop whose column holds its
    horizontal middle. Arguments, result and errors as :func:`read_stacked`.
    """
    return _read_pasted(crops, gap=gap, dpi=dpi, timeout=timeout, languages=languages,
                        psm=7, across=True)


def _read_pasted(crops: Sequence[Image.Image], *, gap: int, dpi: int, timeout: float,
                 languages: str, psm: int, across: bool) -> list[list[TsvWord]]:
    """The crops pasted ``gap`` pixels apart, one under another (left-aligned) or,
    ``across``, side by side (centred on one line), read in one call; each word
    given to the crop whose band holds its middle, in that crop's pixels."""
    if not crops:
        return []
    if across:
        size = (sum(c.width for c in crops) + gap * (len(crops) + 1),
                max(c.height for c in crops) + 2 * gap)
    else:
        size = (max(c.width for c in crops) + 2 * gap,
                sum(c.height for c in crops) + gap * (len(crops) + 1))
    canvas = Image.new("L", size, 255)
    corners: list[tuple[int, int]] = []
    along = gap
    for crop in crops:
        corner = (along, (size[1] - crop.height) // 2) if across else (gap, along)
        canvas.paste(crop, corner)
        corners.append(corner)
        along += (crop.width if across else crop.height) + gap
    found = ocr_words(canvas, dpi=dpi, timeout=timeout, languages=languages, psm=psm)
    out: list[list[TsvWord]] = [[] for _ in crops]
    for word in found:
        middle = word.left + word.width / 2 if across else word.top + word.height / 2
        for n, ((left, top), crop) in enumerate(zip(corners, crops, strict=True)):
            start, length = (left, crop.width) if across else (top, crop.height)
            if start <= middle < start + length:
                out[n].append(replace(word, left=word.left - left, top=word.top - top))
                break
    return out


def detect_orientation(gray: Gray, *, dpi: int, timeout: float) -> Orientation:
    """Tesseract OSD (``--psm 0``). A page with too little text reads as upright, confidence 0.

    Raises:
        ExtractionFailed: as :func:`ocr_words` (but not "too few characters").
    """
    return engine().orientation(gray, dpi=dpi, timeout=timeout)


_ENGINES: dict[int, Engine] = {}  # by process id: a forked child loads its own


def engine() -> Engine:
    """This process's engine: the library when it loads, else the program."""
    pid = os.getpid()
    found = _ENGINES.get(pid)
    if found is None:
        found = LibraryEngine.load() or BinaryEngine()
        _ENGINES.clear()
        _ENGINES[pid] = found
    return found


def installed_languages(*, timeout: float = 10.0) -> frozenset[str]:
    """The language packs Tesseract can load (asked of the program).

    Raises:
        ExtractionFailed: see :func:`_run`.
    """
    out = _run(["--list-langs"], b"", timeout=timeout).decode("utf-8", errors="replace")
    return frozenset(line.strip() for line in out.splitlines()[1:] if line.strip())


def parse_tsv(tsv: str) -> list[TsvWord]:
    """Words (TSV level 5) with text; the header, layout rows and empty words are dropped."""
    words: list[TsvWord] = []
    for row in tsv.splitlines():
        cols = row.split("\t")
        if len(cols) != 12 or cols[0] != "5":
            continue
        text = cols[11].strip()
        if not text:
            continue
        try:
            conf = float(cols[10])
            block, par, line = int(cols[2]), int(cols[3]), int(cols[4])
            left, top, width, height = (int(c) for c in cols[6:10])
        except ValueError:
            continue
        if conf < 0:
            continue
        words.append(
            TsvWord(text, left, top, width, height, min(conf, 100.0) / 100.0, block, par, line)
        )
    return words


def _pixels(gray: Gray) -> npt.NDArray[np.uint8]:
    """The 8-bit pixels of ``gray``, rows contiguous.

    Raises:
        ValueError: not a grayscale image.
    """
    if isinstance(gray, Image.Image):
        if gray.mode != "L":
            raise ValueError("expected a grayscale (mode L) image")
        return np.asarray(gray)
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError("expected a 2-D uint8 array")
    return np.ascontiguousarray(gray)


def _no_time() -> TesseractFailed:
    return TesseractFailed("no-time", "no time left for OCR within the page or document time limit")


def _timed_out(timeout: float) -> TesseractFailed:
    return TesseractFailed("timeout", f"OCR timed out after {timeout:.1f} s")


def _language_missing(language: str) -> TesseractFailed:
    return TesseractFailed("language",
                           f"OCR language data missing: {language} is not installed")


# -- the library -------------------------------------------------------------------------------


class _Api:
    """The C functions used, with their argument and result types (``capi.h``)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        p, s, i, f = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_float

        def bind(name: str, restype: object, *argtypes: object) -> Any:
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = list(argtypes)
            return fn

        self.version = bind("TessVersion", s)
        self.create = bind("TessBaseAPICreate", p)
        self.delete = bind("TessBaseAPIDelete", None, p)
        self.init = bind("TessBaseAPIInit3", i, p, s, s)
        self.end = bind("TessBaseAPIEnd", None, p)
        self.set_variable = bind("TessBaseAPISetVariable", i, p, s, s)
        self.set_input_name = bind("TessBaseAPISetInputName", None, p, s)
        self.set_psm = bind("TessBaseAPISetPageSegMode", None, p, i)
        self.set_image = bind("TessBaseAPISetImage", None, p, p, i, i, i, i)
        self.recognize = bind("TessBaseAPIRecognize", i, p, p)
        self.tsv = bind("TessBaseAPIGetTsvText", p, p, i)
        self.delete_text = bind("TessDeleteText", None, p)
        self.orientation = bind("TessBaseAPIDetectOrientationScript", i, p,
                                ctypes.POINTER(i), ctypes.POINTER(f),
                                ctypes.POINTER(s), ctypes.POINTER(f))
        self.loaded = bind("TessBaseAPIGetLoadedLanguagesAsVector", ctypes.POINTER(s), p)
        self.delete_texts = bind("TessDeleteTextArray", None, ctypes.POINTER(s))
        self.clear = bind("TessBaseAPIClear", None, p)
        self.clear_adaptive = bind("TessBaseAPIClearAdaptiveClassifier", None, p)
        self.monitor_create = bind("TessMonitorCreate", p)
        self.monitor_delete = bind("TessMonitorDelete", None, p)
        self.monitor_deadline = bind("TessMonitorSetDeadlineMSecs", None, p, i)


class LibraryEngine:
    """Tesseract in this process, one loaded API per language set, kept for the process."""

    kind = "library"

    def __init__(self, api: _Api) -> None:
        self._api = api
        self._loaded: dict[str, int] = {}  # language set -> TessBaseAPI*

    @classmethod
    def load(cls) -> LibraryEngine | None:
        """The library, or None when it cannot serve (absent, another major version,
        OpenMP running more than one thread)."""
        # Before the library (and OpenMP, which reads it once, when it loads).
        os.environ["OMP_THREAD_LIMIT"] = "1"
        try:
            lib = ctypes.CDLL(LIBRARY)
            api = _Api(lib)
            version: bytes = api.version() or b""
            thread_limit = ctypes.CDLL(OPENMP).omp_get_thread_limit
        except (OSError, AttributeError):
            return None
        thread_limit.restype = ctypes.c_int
        if not version.startswith(LIBRARY_MAJOR) or thread_limit() != 1:
            return None
        return cls(api)

    def _handle(self, languages: str) -> int:
        """The API with ``languages`` loaded, loading it on first use.

        Raises:
            TesseractFailed: a language's data is missing, or the models do not load.
        """
        known = self._loaded.get(languages)
        if known is not None:
            return known
        api = self._api
        handle: int | None = api.create()
        if not handle:
            raise MemoryError
        # Set before Init so that loading's own messages go there too.
        api.set_variable(handle, b"debug_file", b"/dev/null")
        if api.init(handle, None, languages.encode("ascii")) != 0:
            api.delete(handle)
            raise self._init_failure(languages)
        # Tesseract starts with the languages it found and only warns about the
        # others (the program's wrapper catches that warning on stderr).
        missing = [lang for lang in languages.split("+") if lang not in self._languages(handle)]
        if missing:
            api.end(handle)
            api.delete(handle)
            raise _language_missing(missing[0] if _LANGUAGE_NAME.fullmatch(missing[0])
                                    else "(an invalid name)")
        api.set_input_name(handle, LIBRARY_INPUT_NAME)
        self._loaded[languages] = handle
        return handle

    def _languages(self, handle: int) -> set[str]:
        """The languages the API at ``handle`` loaded."""
        names = self._api.loaded(handle)
        found: set[str] = set()
        try:
            for n in range(MAX_LANGUAGES):  # a NULL-terminated array
                name = names[n]
                if name is None:
                    break
                found.add(name.decode("utf-8", errors="replace"))
        finally:
            self._api.delete_texts(names)
        return found

    def _init_failure(self, languages: str) -> TesseractFailed:
        """Which language of ``languages`` failed to load, each tried alone (only ever
        on a failure, so the cost of loading again does not matter)."""
        api = self._api
        for language in languages.split("+"):
            if not _LANGUAGE_NAME.fullmatch(language):
                return _language_missing("(an invalid name)")
            probe = api.create()
            api.set_variable(probe, b"debug_file", b"/dev/null")
            failed = api.init(probe, None, language.encode("ascii")) != 0
            api.delete(probe)
            if failed:
                return _language_missing(language)
        return TesseractFailed("status", "OCR failed (the Tesseract library did not load "
                                         "its language data)")

    def _prepare(self, languages: str, gray: Gray, *, dpi: int, psm: int) -> int:
        """The API for ``languages`` holding ``gray``, set up as the program would be."""
        pixels = _pixels(gray)
        api = self._api
        handle = self._handle(languages)
        # A fresh process learns nothing from an earlier page: neither may we.
        api.clear_adaptive(handle)
        api.set_psm(handle, psm)
        api.set_variable(handle, b"user_defined_dpi", str(int(dpi)).encode("ascii"))
        height, width = pixels.shape
        # The library copies the pixels into its own image here.
        api.set_image(handle, pixels.ctypes.data, width, height, 1, pixels.strides[0])
        return handle

    def words(self, gray: Gray, *, dpi: int, timeout: float, languages: str,
              psm: int) -> list[TsvWord]:
        """See :func:`ocr_words`.

        Raises:
            TesseractFailed: language data missing, timeout, a failed recognition.
        """
        if timeout <= 0:
            raise _no_time()
        start = time.monotonic()
        api = self._api
        handle = self._prepare(languages, gray, dpi=dpi, psm=psm)
        try:
            monitor = api.monitor_create()
            try:
                api.monitor_deadline(monitor, min(MAX_DEADLINE_MS, max(1, int(timeout * 1000))))
                status = api.recognize(handle, monitor)
            finally:
                api.monitor_delete(monitor)
            if status != 0:
                if time.monotonic() - start >= timeout:
                    raise _timed_out(timeout)
                raise TesseractFailed("status", "OCR failed (the Tesseract library could not "
                                                "read the image)", returncode=status)
            text = api.tsv(handle, 0)
            if not text:
                return []
            try:
                tsv = ctypes.string_at(text).decode("utf-8", errors="replace")
            finally:
                api.delete_text(text)
        finally:
            api.clear(handle)  # the page's image and results: nothing held between pages
        return parse_tsv(tsv)

    def orientation(self, gray: Gray, *, dpi: int, timeout: float) -> Orientation:
        """See :func:`detect_orientation`.

        Raises:
            TesseractFailed: the OSD data is missing; no time left.
        """
        if timeout <= 0:
            raise _no_time()
        api = self._api
        handle = self._prepare(OSD_LANGUAGE, gray, dpi=dpi, psm=PSM_OSD_ONLY)
        degrees, confidence = ctypes.c_int(0), ctypes.c_float(0.0)
        script, script_confidence = ctypes.c_char_p(), ctypes.c_float(0.0)
        try:
            found = api.orientation(handle, ctypes.byref(degrees), ctypes.byref(confidence),
                                    ctypes.byref(script), ctypes.byref(script_confidence))
        finally:
            api.clear(handle)
        if not found:
            return Orientation(0, 0.0)  # too few characters to decide: an answer, not a failure
        # As the program reports it: "Rotate" turns the page upright clockwise, and the
        # confidence is printed with two decimals (printf %.2f, which Python's format matches).
        return Orientation((360 - degrees.value) % 360, float(f"{confidence.value:.2f}"))


# -- the program -------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_THREAD_LIMIT"] = "1"
    return env


class BinaryEngine:
    """The ``tesseract`` program, one process a call."""

    kind = "binary"

    def words(self, gray: Gray, *, dpi: int, timeout: float, languages: str,
              psm: int) -> list[TsvWord]:
        """See :func:`ocr_words`.

        Raises:
            ExtractionFailed: see :func:`_run`.
        """
        out = _run_image(gray, ["--dpi", str(dpi), "--psm", str(psm), "-l", languages, "tsv"],
                         timeout=timeout)
        return parse_tsv(out.decode("utf-8", errors="replace"))

    def orientation(self, gray: Gray, *, dpi: int, timeout: float) -> Orientation:
        """See :func:`detect_orientation`.

        Raises:
            ExtractionFailed: see :func:`_run` (but not "too few characters").
        """
        try:
            out = _run_image(gray, ["--dpi", str(dpi), "--psm", str(PSM_OSD_ONLY)],
                             timeout=timeout)
        except TesseractFailed as exc:
            # Tesseract exits 1 when a page has too few characters to decide; that
            # is an answer ("no idea"), not a failure. Timeouts and crashes are.
            if exc.kind == "status" and exc.returncode == 1:
                return Orientation(0, 0.0)
            raise
        rotate, confidence = 0, 0.0
        for line in out.decode("ascii", errors="replace").splitlines():
            key, _, value = line.partition(":")
            try:
                if key.strip() == "Rotate":
                    rotate = int(value.strip()) % 360
                elif key.strip() == "Orientation confidence":
                    confidence = float(value.strip())
            except ValueError:
                continue
        if rotate not in (0, 90, 180, 270):
            rotate = 0
        return Orientation(rotate, confidence)


def _run_image(gray: Gray, args: Sequence[str], *, timeout: float) -> bytes:
    """Run tesseract on ``gray`` (written as a private TIFF file) with ``args``; return stdout.

    Raises:
        ExtractionFailed: see :func:`_run`.
    """
    pixels = _pixels(gray)
    with tempfile.TemporaryDirectory(prefix="dxg-ocr-") as scratch:
        path = os.path.join(scratch, "page.tif")
        if isinstance(gray, Image.Image):
            gray.save(path, format="TIFF")  # no copy: PIL writes its own buffer
        else:
            Image.fromarray(pixels).save(path, format="TIFF")
        return _run([path, "stdout", *args], b"", timeout=timeout)


def _run(args: Sequence[str], stdin: bytes, *, timeout: float) -> bytes:
    """Run tesseract with ``args``, feed ``stdin``, return stdout.

    Raises:
        ExtractionFailed: binary missing, language data missing, timeout, crash.
    """
    if timeout <= 0:
        raise _no_time()
    exe = shutil.which(TESSERACT)
    if exe is None:
        raise TesseractFailed("missing", "OCR unavailable: the tesseract program is not installed")
    try:
        proc = subprocess.run(
            [exe, *args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env=_env(),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise _timed_out(timeout) from exc
    except OSError as exc:
        raise TesseractFailed("missing", f"OCR could not start ({type(exc).__name__})") from exc
    err = proc.stderr[-STDERR_KEEP:]
    lang = _LANG_FAILURE.search(err)
    if lang is not None:
        raise _language_missing(lang.group(1).decode("ascii"))
    if proc.returncode < 0:
        raise TesseractFailed(
            "crash", f"OCR crashed (signal {-proc.returncode})", returncode=proc.returncode
        )
    if proc.returncode != 0:
        raise TesseractFailed(
            "status", f"OCR failed (exit status {proc.returncode})", returncode=proc.returncode
        )
    return proc.stdout
