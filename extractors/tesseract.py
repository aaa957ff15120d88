"""The one place DXG runs the ``tesseract`` binary.

Every call goes through :func:`_run`, which guarantees:

- a timeout on every call; a call past it is killed and reported;
- ``OMP_THREAD_LIMIT=1``: one Tesseract thread per process, because pages run
  in parallel across processes and OpenMP threads on top of that only fight
  for the same cores (OCRmyPDF learned this the hard way);
- classified failures: missing binary, missing language data, timeout and
  crash each raise :class:`~gateway.pluginspec.ExtractionFailed` with a message
  that names the failure and never the content of the page.

Images reach Tesseract as uncompressed TIFF files in a private temporary
directory (mode 0700, removed right after the call; it follows ``TMPDIR``,
which the gateway points at its own scratch space). Measured on an A4 page at
300 dpi: stdin costs ~0.2 s more per page (Tesseract reads it a byte at a
time), PGM ~0.15 s (Leptonica reads PNM pixel by pixel) and PNG the zlib
round trip; uncompressed TIFF is read in scanlines and costs nothing to write.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from gateway.pluginspec import ExtractionFailed

TESSERACT = "tesseract"
OCR_LANGUAGES = "ukr+rus+eng"
STDERR_KEEP = 4096  # bytes of stderr kept for classification; never shown to users verbatim

_LANG_FAILURE = re.compile(rb"Failed loading language '([A-Za-z0-9_]+)'")


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


@dataclass(frozen=True, slots=True)
class Orientation:
    """Tesseract's orientation estimate (``--psm 0``)."""

    rotate: int  # degrees clockwise to turn the image so its text reads upright
    confidence: float  # Tesseract's own scale; below ~2 it is a guess


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_THREAD_LIMIT"] = "1"
    return env


Gray = npt.NDArray[np.uint8] | Image.Image  # a 2-D uint8 array or a mode "L" image


def _run_image(gray: Gray, args: Sequence[str], *, timeout: float) -> bytes:
    """Run tesseract on ``gray`` (written as a private TIFF file) with ``args``; return stdout.

    Raises:
        ExtractionFailed: see :func:`_run`.
    """
    with tempfile.TemporaryDirectory(prefix="dxg-ocr-") as scratch:
        path = os.path.join(scratch, "page.tif")
        if isinstance(gray, Image.Image):
            if gray.mode != "L":
                raise ValueError("expected a grayscale (mode L) image")
            gray.save(path, format="TIFF")  # no copy: PIL writes its own buffer
        else:
            if gray.ndim != 2 or gray.dtype != np.uint8:
                raise ValueError("expected a 2-D uint8 array")
            Image.fromarray(np.ascontiguousarray(gray)).save(path, format="TIFF")
        return _run([path, "stdout", *args], b"", timeout=timeout)


def _run(args: Sequence[str], stdin: bytes, *, timeout: float) -> bytes:
    """Run tesseract with ``args``, feed ``stdin``, return stdout.

    Raises:
        ExtractionFailed: binary missing, language data missing, timeout, crash.
    """
    if timeout <= 0:
        raise TesseractFailed(
            "no-time", "no time left for OCR within the page or document time limit"
        )
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
        raise TesseractFailed("timeout", f"OCR timed out after {timeout:.1f} s") from exc
    except OSError as exc:
        raise TesseractFailed("missing", f"OCR could not start ({type(exc).__name__})") from exc
    err = proc.stderr[-STDERR_KEEP:]
    lang = _LANG_FAILURE.search(err)
    if lang is not None:
        raise TesseractFailed(
            "language",
            f"OCR language data missing: {lang.group(1).decode('ascii')} is not installed",
        )
    if proc.returncode < 0:
        raise TesseractFailed(
            "crash", f"OCR crashed (signal {-proc.returncode})", returncode=proc.returncode
        )
    if proc.returncode != 0:
        raise TesseractFailed(
            "status", f"OCR failed (exit status {proc.returncode})", returncode=proc.returncode
        )
    return proc.stdout


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
        ExtractionFailed: see :func:`_run`.
    """
    out = _run_image(gray, ["--dpi", str(dpi), "--psm", str(psm), "-l", languages, "tsv"],
                     timeout=timeout)
    return parse_tsv(out.decode("utf-8", errors="replace"))


def parse_tsv(tsv: str) -> list[TsvWord]:
    """Words (TSV level 5) with text; layout rows and empty words are dropped."""
    words: list[TsvWord] = []
    for row in tsv.splitlines()[1:]:
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


def detect_orientation(gray: Gray, *, dpi: int, timeout: float) -> Orientation:
    """Tesseract OSD (``--psm 0``). A page with too little text reads as upright, confidence 0.

    Raises:
        ExtractionFailed: see :func:`_run` (but not "too few characters").
    """
    try:
        out = _run_image(gray, ["--dpi", str(dpi), "--psm", "0"], timeout=timeout)
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


def installed_languages(*, timeout: float = 10.0) -> frozenset[str]:
    """The language packs Tesseract can load.

    Raises:
        ExtractionFailed: see :func:`_run`.
    """
    out = _run(["--list-langs"], b"", timeout=timeout).decode("utf-8", errors="replace")
    return frozenset(line.strip() for line in out.splitlines()[1:] if line.strip())
