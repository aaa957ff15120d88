"""OCR throughput of the documents extractor, side by side with Tesseract itself.

Run from the repository root::

    python -m bench.ocr_throughput                 # scanned + born-digital throughput
    python -m bench.ocr_throughput --pages 12      # more scanned pages, steadier figures
    python -m bench.ocr_throughput --memory 300    # also: peak memory on a 300-page scan

In one run, on the same page images (synthetic 300-dpi scans, lossless):

- raw: the ``tesseract`` command, one page at a time, ``OMP_THREAD_LIMIT=1``,
  ``-l ukr+rus+eng``: the single-thread rate of Tesseract itself;
- naive: a loop of ``pytesseract.image_to_string`` with default settings but
  the same languages (default ``eng`` alone would compare different work);
- reader: ``DocumentsExtractor.read`` on an image-only PDF of those pages,
  ``workers`` = cores (render, orientation check, deskew, OCR, photo crops);
- engine: ``Ingestor.extract`` on that PDF (sandbox, page pool, the biography
  parser when installed, output validation).

With ``--cli-pages N`` (issue 12): the whole ``gateway extract`` command on an
N-page scanned PDF (JPEG pages, as scanners write them), start-up, sandbox,
OCR, corrections and JSON output included, timed from outside, side by side
with raw ``tesseract`` one thread per core (``cores`` processes at once) on
the same pages as PNG files; runs alternate and the medians are compared.
``--tree DIR`` runs the command from another checkout; ``--base DIR`` runs
the command from that one too (e.g. the branch's base commit, unpacked with
``git archive``), in the same rounds as this one and raw, for a before/after
figure of one sitting. Target
(issue 12): command >= 0.9 x raw at 40 pages.

Targets: reader >= 0.9 x cores x raw, and >= 2 x naive; born-digital pages
>= 100 pages/s and never OCR'd. With ``--memory N``: the peak memory of the
whole process tree (sandbox, page workers, Tesseract) while the engine
extracts an N-page scanned PDF, sampled from /proc every 50 ms; PSS (shared
pages counted once) is the honest total, RSS summed is an upper bound.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytesseract
from PIL import Image

from extractors import tesseract
from extractors.documents import DocumentsExtractor
from gateway.pluginspec import Limits, PartInput
from gateway.server.ingestion import Ingestor
from tests.dossiers import Language, ScanStyle, make_dossier, pymupdf, scan_page

AS_OF = date(2026, 3, 1)
LANGS = "ukr+rus+eng"


def scanned_pages(count: int, seed: int, dpi: int = 300) -> list[Image.Image]:
    """``count`` distinct form pages as a 300-dpi scanner saw them (mild noise)."""
    dossier = make_dossier(seed, lang="uk", children=count)
    doc = pymupdf.open("pdf", dossier.data)
    rng = random.Random(seed)
    langs: tuple[Language, ...] = ("uk", "ru", "en")
    pages = []
    for i, own in enumerate(doc):
        # vary the language: two pages in three are re-drawn from another form
        page = pymupdf.open("pdf", make_dossier(seed + i, lang=langs[i % 3]).data)[0] \
            if i % 3 else own
        pages.append(scan_page(page, ScanStyle(dpi=dpi, noise=4, skew=0.5), rng).convert("L"))
    return pages


def image_pdf(images: list[Image.Image], dpi: int, *, lossless: bool) -> bytes:
    doc = pymupdf.open()
    for img in images:
        buf = io.BytesIO()
        img.save(buf, format="PNG" if lossless else "JPEG", quality=80)
        page = doc.new_page(width=img.width * 72 / dpi, height=img.height * 72 / dpi)
        page.insert_image(page.rect, stream=buf.getvalue())
    data: bytes = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def raw_tesseract(files: list[Path]) -> None:
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    for f in files:
        subprocess.run(["tesseract", str(f), "stdout", "-l", LANGS], env=env, check=True,
                       capture_output=True)


def raw_parallel(files: list[Path], cores: int) -> None:
    """The ceiling on this machine: ``cores`` raw tesseract processes at once."""
    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(lambda f: raw_tesseract([f]), files))


def naive_pytesseract(files: list[Path]) -> None:
    env = os.environ.pop("OMP_THREAD_LIMIT", None)  # default settings: Tesseract's own threads
    try:
        for f in files:
            pytesseract.image_to_string(Image.open(f), lang=LANGS)
    finally:
        if env is not None:
            os.environ["OMP_THREAD_LIMIT"] = env


# -- memory ---------------------------------------------------------------------------------


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == pid]
        out += kids
        frontier += kids
    return out


def _memory_kib(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class TreeMemory:
    """Peak summed PSS and RSS of process ``root`` and all its descendants."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_pss = self.peak_rss = self.peak_one = 0
        self.at_peak: list[tuple[str, int]] = []  # (command, PSS KiB) when PSS peaked
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = [self.root, *_descendants(self.root)]
            sizes = [(_command(p), *_memory_kib(p)) for p in pids]
            pss = sum(s[2] for s in sizes)
            if pss > self.peak_pss:
                self.peak_pss = pss
                self.at_peak = sorted(((c, q) for c, _, q in sizes), key=lambda x: -x[1])
            self.peak_rss = max(self.peak_rss, sum(s[1] for s in sizes))
            self.peak_one = max(self.peak_one, *(s[1] for s in sizes))
            self._stop.wait(0.05)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def memory_run(pages: int, workers: int, tmp: Path) -> None:
    print(f"\nmemory: building a {pages}-page scanned PDF (200-dpi JPEG pages) ...", flush=True)
    rng = random.Random(99)
    doc = pymupdf.open()
    template = pymupdf.open("pdf", make_dossier(99, lang="uk").data)
    for _ in range(pages):
        # One form, a fresh scan of it per page: distinct images, realistic size.
        img = scan_page(template[0], ScanStyle(dpi=200, noise=4, skew=rng.uniform(-1, 1)), rng)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=75)
        page = doc.new_page(width=595, height=842)
        page.insert_image(page.rect, stream=buf.getvalue())
    path = tmp / f"scan-{pages}.pdf"
    doc.save(path, garbage=3, deflate=True)
    doc.close()
    print(f"memory: {path.stat().st_size / 1e6:.1f} MB file; extracting with {workers} workers "
          "in a fresh process (the caller, its sandbox, page workers, Tesseract all counted)",
          flush=True)
    child = subprocess.Popen([sys.executable, "-m", "bench._extract_one", str(path),
                              str(workers)])
    with TreeMemory(child.pid) as mem:
        start = time.perf_counter()
        child.wait()
        elapsed = time.perf_counter() - start
    assert child.returncode == 0
    top = ", ".join(f"{c} {q / 1024:.0f}" for c, q in mem.at_peak[:6])
    print(f"memory: {pages} pages in {elapsed:.0f} s ({pages / elapsed:.2f} pages/s); peak of the "
          f"process tree: PSS {mem.peak_pss / 1024:.0f} MiB, RSS summed {mem.peak_rss / 1024:.0f}"
          f" MiB, largest process RSS {mem.peak_one / 1024:.0f} MiB (target <= 500 MB)\n"
          f"memory: at the peak (PSS MiB): {top}")


def scanned_throughput(pages: int, cores: int, tmp: Path, *, naive: bool) -> None:
    """Raw, ceiling, naive, reader and engine rates on the same scanned pages."""
    print(f"cores {cores}; building {pages} scanned pages ...", flush=True)
    images = scanned_pages(pages, 7)
    files = []
    for i, img in enumerate(images):
        files.append(tmp / f"page-{i:03d}.png")
        img.save(files[-1], dpi=(300, 300))
    pdf = tmp / "scanned.pdf"
    pdf.write_bytes(image_pdf(images, 300, lossless=True))
    n = len(images)

    t_raw, _ = timed(lambda: raw_tesseract(files))
    raw = n / t_raw
    print(f"raw tesseract, 1 thread:       {raw:6.3f} pages/s  ({t_raw:.1f} s)", flush=True)
    t_par, _ = timed(lambda: raw_parallel(files, cores))
    ceiling = n / t_par
    print(f"raw tesseract, {cores} at a time:    {ceiling:6.3f} pages/s  ({t_par:.1f} s)  "
          f"= {ceiling / raw:.2f} x raw: what the cores really give", flush=True)
    naive_rate = float("nan")
    if naive:
        t_naive, _ = timed(lambda: naive_pytesseract(files))
        naive_rate = n / t_naive
        print(f"naive pytesseract loop:        {naive_rate:6.3f} pages/s  ({t_naive:.1f} s)",
              flush=True)
    part = PartInput(pdf.name, "application/pdf", pdf, AS_OF, workers=cores)
    t_read, read = timed(lambda: DocumentsExtractor().read(part))
    assert all(r.method == "ocr" for r in read.reports)
    reader = n / t_read
    print(f"reader (DocumentsExtractor):   {reader:6.3f} pages/s  ({t_read:.1f} s)",
          flush=True)
    with Ingestor(["documents"], Limits(), cores) as engine:
        t_engine, result = timed(lambda: engine.extract([part]))
    assert not result.errors, result.errors
    engine_rate = n / t_engine
    print(f"engine (Ingestor, incl. parse): {engine_rate:5.3f} pages/s  ({t_engine:.1f} s)",
          flush=True)
    print(f"  reader / (cores x raw) = {reader / (cores * raw):.2f}   (target >= 0.90)")
    print(f"  reader / ceiling       = {reader / ceiling:.2f}")
    print(f"  engine / (cores x raw) = {engine_rate / (cores * raw):.2f}")
    if naive:
        print(f"  reader / naive         = {reader / naive_rate:.2f}   (target >= 2.00)")


# -- the whole command (issue 12) -------------------------------------------------------------


def cli_throughput(pages: int, cores: int, tmp: Path, *, tree: Path, repeat: int,
                   base: Path | None = None) -> None:
    """``gateway extract`` on a scanned PDF vs raw tesseract, ``cores`` at a time; with
    ``base``, the command from that checkout too, in the same rounds (before/after)."""
    print(f"\ncommand: building {pages} scanned pages (300 dpi, JPEG in a PDF) ...", flush=True)
    images = scanned_pages(pages, 11)
    files = []
    for i, img in enumerate(images):
        files.append(tmp / f"cli-page-{i:03d}.png")
        img.save(files[-1], dpi=(300, 300))
    pdf = tmp / f"scanned-{pages}.pdf"
    pdf.write_bytes(image_pdf(images, 300, lossless=False))
    command = [sys.executable, "-m", "gateway", "extract", str(pdf), "--as-of", "2026-03-01"]
    trees = [tree] if base is None else [base, tree]
    raw_times: list[float] = []
    cli_times: dict[Path, list[float]] = {t: [] for t in trees}
    records: dict[Path, int] = {}
    for _ in range(repeat):
        # One round: raw, then each command; rounds alternate so that load drifts
        # (other users of the cores) fall on all of them alike.
        t_raw, _ = timed(lambda: raw_parallel(files, cores))
        raw_times.append(t_raw)
        for t in trees:
            env = dict(os.environ, PYTHONPATH=str(t))
            t_cli, done = timed(lambda env=env: subprocess.run(  # type: ignore[misc]
                command, env=env, cwd=tmp, check=True, capture_output=True))
            cli_times[t].append(t_cli)
            records[t] = len(json.loads(done.stdout)["records"])
    raw_rate = pages / statistics.median(raw_times)
    print(f"command: {repeat} rounds, medians")
    print(f"raw tesseract, {cores} at a time:  {raw_rate:6.3f} pages/s  "
          f"(runs {', '.join(f'{t:.1f}' for t in raw_times)} s)")
    for t in trees:
        cli_rate = pages / statistics.median(cli_times[t])
        print(f"gateway extract, tree {t} ({records[t]} records):\n"
              f"  whole command {cli_rate:6.3f} pages/s  "
              f"(runs {', '.join(f'{x:.1f}' for x in cli_times[t])} s)\n"
              f"  command / raw = {cli_rate / raw_rate:.2f}   (target >= 0.90 at 40 pages)")


# -- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=8, help="scanned pages (default 8)")
    parser.add_argument("--digital-pages", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--memory", type=int, default=0, metavar="N",
                        help="also measure peak memory on an N-page scanned PDF")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--cli-pages", type=int, default=0, metavar="N",
                        help="also time the whole `gateway extract` command on N scanned pages")
    parser.add_argument("--cli-repeat", type=int, default=3, help="alternating runs (median)")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="checkout the command runs from (default: this one)")
    parser.add_argument("--base", type=Path, default=None,
                        help="also run the command from this checkout, in the same rounds")
    args = parser.parse_args()
    cores = args.workers
    with tempfile.TemporaryDirectory(prefix="dxg-bench-") as tmpdir:
        tmp = Path(tmpdir)
        if args.pages > 0:
            scanned_throughput(args.pages, cores, tmp, naive=not args.skip_naive)
        if args.digital_pages > 0:
            digital_throughput(args.digital_pages, cores, tmp)
        if args.memory:
            memory_run(args.memory, cores, tmp)
        if args.cli_pages:
            cli_throughput(args.cli_pages, cores, tmp, tree=args.tree.resolve(),
                           repeat=args.cli_repeat,
                           base=args.base.resolve() if args.base else None)
    return 0


def digital_throughput(pages: int, cores: int, tmp: Path) -> None:
    """Born-digital pages: the reader alone, the engine, the parser's share."""
    digital = make_dossier(5, lang="uk", children=pages)
    path = digital.write(tmp)
    calls = 0
    real_words, real_orientation = tesseract.ocr_words, tesseract.detect_orientation

    def counting(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*a: Any, **k: Any) -> Any:
            nonlocal calls
            calls += 1
            return real(*a, **k)
        return call

    tesseract.ocr_words = counting(real_words)
    tesseract.detect_orientation = counting(real_orientation)
    dpart = PartInput(path.name, "application/pdf", path, AS_OF, workers=cores)
    t_dig, dread = timed(lambda: DocumentsExtractor().read(dpart))
    tesseract.ocr_words, tesseract.detect_orientation = real_words, real_orientation
    assert all(r.method == "text" for r in dread.reports) and calls == 0
    with Ingestor(["documents"], Limits(), cores) as engine:
        t_deng, _ = timed(lambda: engine.extract([dpart]))
    print(f"born-digital reader:           {pages / t_dig:6.0f} pages/s  "
          f"(target >= 100; Tesseract calls: {calls})")
    print(f"born-digital engine (+parse):  {pages / t_deng:6.0f} pages/s")
    try:
        biography: Any = importlib.import_module("extractors.biography")  # may be absent
    except ImportError:
        pass
    else:
        t_parse, _ = timed(lambda: biography.parse_pages(dpart.name, dread.pages,
                                                         as_of=AS_OF))
        print(f"  of which the biography parser alone: {pages / t_parse:.0f} "
              "pages/s")


if __name__ == "__main__":
    sys.exit(main())
