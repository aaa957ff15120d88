"""``gateway demo``: a whole exchange on one machine, explained as it happens.

It makes a data directory, keys for two parties (``ua``, ``ru``) and a
monitor (``mon``), starts ``gateway serve`` as its own process on a free
loopback port, and lets each party listen for push notifications. Each party
then sends the other a dossier of generated sample PDFs about fictitious
children; each pulls, verifies everything end to end, and acknowledges with
DELIVERED. Then the case story of SPEC §10 (``gateway.cli.story``): eight
children reported, verified (one disputed, then answered), their families
found, contacts logged, returns scheduled, all reunited. The monitor reads
the receipts and case events (ids, hashes, times; no names) and recomputes
the case figures from the log alone. Finally the gateway is stopped with
SIGTERM, and the demo prints each packet's timeline.

Every child in the sample documents is invented.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pymupdf
from aiohttp import ClientSession, web

from gateway.cli.story import run_story, wait_status
from gateway.party.client import Client, Identity
from gateway.party.pull import Puller
from gateway.party.trust import TrustStore
from gateway.protocol.crypto import jws
from gateway.protocol.errors import DXGError, Unavailable

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)
READY_TIMEOUT_S = 120.0

# Fictitious children: (form language, fields). Labels are SPEC §4.1's.
SAMPLES: dict[str, list[list[tuple[str, str]]]] = {
    "ua": [
        [
            ("Прізвище / Surname", "Ткаченко"),
            ("Ім'я / Given name", "Марія"),
            ("По батькові / Patronymic", "Олегівна"),
            ("Стать / Sex", "жіноча"),
            ("Дата народження / Date of birth", "14.03.2012"),
            ("Місце народження / Place of birth", "Херсон"),
            ("Дата переміщення / Date of displacement", "2022-09-03"),
            ("Теперішнє місцеперебування / Current location", "Дитячий будинок №3"),
            ("Мати / Mother", "Ткаченко Олена Петрівна, Херсон, +380 67 000 0001"),
            ("Медичні послуги / Medical services", "щорічний огляд"),
        ],
    ],
    "ru": [
        [
            ("Фамилия / Surname", "Орлов"),
            ("Имя / Given name", "Дмитрий"),
            ("Отчество / Patronymic", "Сергеевич"),
            ("Пол / Sex", "мужской"),
            ("Дата рождения / Date of birth", "2 июня 2010 г."),
            ("Место рождения / Place of birth", "Мариуполь"),
            ("Дата перемещения / Date of displacement", "15.05.2022"),
            ("Текущее местонахождение / Current location", "Приёмная семья"),
            ("Опекун / Guardian", "Орлова Анна Ивановна"),
            ("Образование / Education", "5 класс"),
        ],
    ],
}


def _font() -> str | None:
    return next((f for f in FONT_CANDIDATES if Path(f).exists()), None)


def sample_pdf(children: list[list[tuple[str, str]]], title: str) -> bytes:
    """A born-digital label–value form, one page per (fictitious) child."""
    doc = pymupdf.open()
    font = _font()
    for fields in children:
        page = doc.new_page(width=595, height=842)  # A4 in points
        kw: dict[str, Any] = {"fontsize": 11}
        if font:
            kw |= {"fontfile": font, "fontname": "dejavu"}
        page.insert_text((56, 60), title, **(kw | {"fontsize": 14}))
        y = 100.0
        for label, value in fields:
            page.insert_text((56, y), f"{label}:", **kw)
            page.insert_text((330, y), value, **kw)
            y += 22
    doc.subset_fonts()  # embed only the glyphs used: kilobytes, not the whole font
    data: bytes = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gateway_cli(*args: str) -> dict[str, Any]:
    """Run one ``gateway`` command as its own process, as an operator would.

    Raises:
        DXGError: the command failed; the detail is its own message.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        said = " ".join(proc.stderr.split())[-400:] or f"exit code {proc.returncode}"
        raise DXGError(f"the demo's step 'gateway {' '.join(args[:2])}' failed: {said}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@contextlib.contextmanager
def _serving(root: Path, port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", str(root), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


@contextlib.asynccontextmanager
async def _listener(port: int, seen: list[dict[str, Any]]) -> AsyncIterator[None]:
    """A party's notification endpoint: records the (signed) notifications it gets."""

    async def notify(request: web.Request) -> web.Response:
        token = (await request.read()).decode("ascii")
        claims = json.loads(jws.parse(token, typ=jws.TYP_NOTIFY).payload)
        seen.append(claims)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/notify", notify)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield
    finally:
        await runner.cleanup()


async def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                async with session.get(url + "/readyz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise Unavailable("the gateway did not start; see its log")


def say(text: str = "") -> None:
    print(text, flush=True)


def _pin(work: Path, url: str, gateway_kid: str) -> dict[str, TrustStore]:
    """Each party's trust store, made as partners would out of band: the
    gateway's key checked against the kid its operator announced, and the
    partner's ``.pub.json`` handed over (never fetched from the gateway)."""
    stores = {}
    for party, partner in (("ua", "ru"), ("ru", "ua")):
        path = work / "trust" / f"{party}.json"
        _gateway_cli("trust", "gateway", str(path), "--gateway", url, f"--expect-kid={gateway_kid}")
        _gateway_cli("trust", "add", str(path), partner, "--keys",
                     str(work / "keys" / f"{partner}.pub.json"))
        stores[party] = TrustStore.load(path)
    return stores


async def _exchange(
    work: Path, url: str, ports: dict[str, int], trust: dict[str, TrustStore]
) -> int:
    keys = work / "keys"
    identities = {p: Identity.load(p, keys / p) for p in ("ua", "ru", "mon")}
    seen: dict[str, list[dict[str, Any]]] = {"ua": [], "ru": []}
    async with contextlib.AsyncExitStack() as stack:
        for party in ("ua", "ru"):
            await stack.enter_async_context(_listener(ports[party], seen[party]))
        clients = {
            p: await stack.enter_async_context(Client(url, identities[p], trust=trust.get(p)))
            for p in identities
        }
        info = await clients["ua"].gateway_info()
        say(f"Gateway {info['id']!r} is up at {url}; its log origin is {info['origin']!r}.")
        say()

        sent: dict[str, tuple[str, str]] = {}
        for sender, recipient in (("ua", "ru"), ("ru", "ua")):
            folder = work / "outbox" / sender
            folder.mkdir(parents=True)
            pdf = folder / "dossier.pdf"
            pdf.write_bytes(sample_pdf(SAMPLES[sender], f"Dossier from {sender} (demo)"))
            note = folder / "cover-note.txt"
            note.write_text(f"Demo packet from {sender} to {recipient}.\n", encoding="utf-8")
            answer = await clients[sender].send(
                [pdf, note],
                recipient=recipient,
                purpose="family_tracing",
                legal_basis=["vital_interest"],
            )
            sent[answer["packet_id"]] = (sender, recipient)
            say(
                f"{sender} → {recipient}: sent packet {answer['packet_id']} "
                f"({pdf.stat().st_size + note.stat().st_size} bytes in 2 parts); "
                f"gateway answered {answer['status']}, receipt at log index {answer['log_index']}."
            )

        for packet_id, (_, recipient) in sent.items():
            await wait_status(clients[recipient], packet_id, {"READY"})
        say()
        failures = 0
        for recipient in ("ru", "ua"):
            results = await Puller(clients[recipient]).pull(work / "inbox" / recipient)
            for r in results:
                if r.level != "DELIVERED":
                    failures += 1
                say(
                    f"{recipient} pulled {r.packet_id} from {r.sender}: signatures and digests "
                    f"{'verified' if r.level == 'DELIVERED' else 'FAILED: ' + str(r.reason)}; "
                    f"{r.records} record(s), {r.photos} photo(s) written to {r.folder}; "
                    f"sent {r.level} (log index {r.log_index})."
                )
        say()
        for party in ("ua", "ru"):
            say(
                f"{party} received {len(seen[party])} push notification(s), each signed by "
                "the gateway."
            )
        say()

        for packet_id, (sender, recipient) in sent.items():
            view = await wait_status(clients[sender], packet_id, {"DELIVERED"})
            say(f"Packet {packet_id} ({sender} → {recipient}), as its sender sees it:")
            for step in view["timeline"]:
                event = step.get("event")
                extra = (
                    f"  notification attempt {event['notification']['attempt']}: "
                    f"{event['notification']['outcome']}"
                    if event
                    else ""
                )
                say(f"  {step['at']}  {step['status']:<10}{extra}")
            say(
                f"  {len(view['receipts'])} signed receipts: "
                + ", ".join(
                    json.loads(jws.parse(r, typ=jws.TYP_RECEIPT).payload)["level"]
                    for r in view["receipts"]
                )
            )
            say()

        say("The case story (SPEC §10), between ru (where the children are) and ua (their"
            " families):")  # fmt: skip
        story = await run_story(clients, work, sample_pdf, lambda line: say(f"  {line}"))
        say()

        audit = await clients["mon"].receipts(limit=1000)
        # The log signs a checkpoint within a second of new entries: let it
        # cover all of them before the monitor audits.
        logged = max(len(audit["items"]), story.last_log_index + 1)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            _, checkpoint = await clients["mon"].request("GET", "/v1/log/checkpoint")
            if int(checkpoint.decode().splitlines()[1]) >= logged:
                break
            await asyncio.sleep(0.2)
        levels = [
            json.loads(jws.parse(i["receipt"], typ=jws.TYP_RECEIPT).payload)["level"]
            for i in audit["items"]
        ]
        counts = {level: levels.count(level) for level in dict.fromkeys(levels)}
        say(
            f"The monitor 'mon' reads {len(levels)} receipts"
            " (ids, digests, part names and times; no dossier content): "
            + ", ".join(f"{n} {level}" for level, n in counts.items())
            + f", and {story.events} case events."
        )
        unacknowledged = counts.get("ACCEPTED", 0) - counts.get("DELIVERED", 0)
        if unacknowledged:
            say(f"{unacknowledged} packet(s) accepted but never acknowledged by their recipient"
                " (no DELIVERED receipt); gateway.log in the demo folder says why.")
        return failures + unacknowledged


def _audit(work: Path, url: str) -> int:
    """Run ``gateway monitor`` once as the monitor would; 1 if it found anything."""
    say()
    say(
        "The monitor audits the receipt log (signatures, consistency, inclusion, chains,"
        " case events) and recomputes the case figures from it alone:"
    )
    audit = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "monitor",
            "--gateway",
            url,
            "--id",
            "mon",
            "--keys",
            str(work / "keys" / "mon"),
            "--state",
            str(work / "mon-state.json"),
            "--once",
            "--cosign",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for line in (audit.stdout + audit.stderr).splitlines():
        say(f"  {line}")
    return 0 if audit.returncode == 0 else 1


async def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            await asyncio.sleep(0.1)
    raise Unavailable(f"{url} did not answer within {READY_TIMEOUT_S} s")


def _consoles(work: Path, url: str) -> None:
    """Leave the home side's console and the monitor view running until Ctrl-C.

    The console's inbox is the folder the demo pulled into, so nothing is
    pulled twice; its officials get random passwords, printed here (a demo).
    """
    directory = work / "console-ua"
    directory.mkdir(exist_ok=True)
    inbox = directory / "inbox"
    if not inbox.exists():
        inbox.symlink_to(work / "inbox" / "ua", target_is_directory=True)
    passwords = {}
    for name, role in (("reviewer", "reviewer"), ("supervisor", "supervisor")):
        passwords[name] = secrets.token_urlsafe(12)
        subprocess.run(
            [sys.executable, "-m", "gateway", "console", "user", "add", str(directory), name,
             "--role", role],
            input=passwords[name] + "\n", capture_output=True, text=True, timeout=60, check=True,
        )
    console_port, view_port = _free_port(), _free_port()
    keys = work / "keys"
    commands = [
        [sys.executable, "-m", "gateway", "console", str(directory), "--gateway", url,
         "--id", "ua", "--keys", str(keys / "ua"), "--trust", str(work / "trust" / "ua.json"),
         "--port", str(console_port)],
        [sys.executable, "-m", "gateway", "monitor", "--gateway", url, "--id", "mon",
         "--keys", str(keys / "mon"), "--state", str(work / "mon-state.json"), "--serve",
         "--port", str(view_port), "--interval", "5"],
    ]
    log = (work / "consoles.log").open("ab")
    procs = [subprocess.Popen(c, stdout=log, stderr=subprocess.STDOUT) for c in commands]
    for port_ in (console_port, view_port):
        asyncio.run(_wait_healthy(f"http://127.0.0.1:{port_}/healthz"))
    say()
    say(f"The home side's console (ua): http://127.0.0.1:{console_port}/")
    for name, password in passwords.items():
        say(f"  sign in as {name!r} with password {password!r}")
    say(f"The monitor view: http://127.0.0.1:{view_port}/")
    say("Press Ctrl-C to stop them and the gateway.")
    # A background job of a non-interactive shell starts with SIGINT ignored, and
    # Python then leaves it so: Ctrl-C (or kill -INT) would never reach us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        log.close()


def run_demo(directory: Path | None, *, keep: bool = False, console: bool = False) -> int:
    """Run the demo; 0 if every packet was delivered and verified.

    With ``console``, leave the officials' console and the monitor view
    running on the demo's gateway until Ctrl-C.
    """
    work = directory or Path(tempfile.mkdtemp(prefix="dxg-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / "gateway"
    port = _free_port()
    ports = {"ua": _free_port(), "ru": _free_port()}
    say(f"DXG demo in {work}")
    gateway_kid = str(_gateway_cli("init", str(root))["kid"])
    for party in ("ua", "ru", "mon"):
        _gateway_cli("keygen", str(work / "keys" / party))
    for party in ("ua", "ru"):
        _gateway_cli(
            "party",
            "add",
            str(root),
            party,
            "--role",
            "party",
            "--keys",
            str(work / "keys" / f"{party}.pub.json"),
            "--endpoint",
            f"http://127.0.0.1:{ports[party]}/notify",
        )
    _gateway_cli(
        "party",
        "add",
        str(root),
        "mon",
        "--role",
        "monitor",
        "--keys",
        str(work / "keys" / "mon.pub.json"),
    )
    say("Registered parties ua and ru (with notification endpoints) and monitor mon.")
    url = f"http://127.0.0.1:{port}"
    try:
        with _serving(root, port, work / "gateway.log") as proc:
            asyncio.run(_wait_ready(url))
            trust = _pin(work, url, gateway_kid)
            say("ua and ru pinned the gateway's key and each other's (trust stores in"
                f" {work / 'trust'}).")
            failures = asyncio.run(_exchange(work, url, ports, trust))
            failures += _audit(work, url)
            if console:
                _consoles(work, url)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
            say(f"Gateway stopped on SIGTERM after draining, exit code {code}.")
    finally:
        if not keep and directory is None:
            shutil.rmtree(work, ignore_errors=True)
        elif keep:
            say(f"Files kept in {work}")
    if failures:
        say(f"{failures} packet(s) failed verification or were not acknowledged.")
        return 1
    say("Every packet was delivered, verified end to end and acknowledged.")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(run_demo(Path(os.environ["DXG_DEMO_DIR"]) if "DXG_DEMO_DIR" in os.environ else None))
