"""The log's HTTP surface (SPEC §7), cosignatures, and what a monitor can see.

Real gateway processes on loopback ports; answers are verified with the
client-side verifiers, never trusted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import urllib.parse
from pathlib import Path

import pymupdf

from gateway.party.client import Client
from gateway.party.pull import Puller
from gateway.protocol import checkpoint
from gateway.protocol.checkpoint import CosignerKey, NoteKey
from gateway.protocol.crypto.keys import PublicKey, SigningKey
from gateway.protocol.merkle import ConsistencyProof, InclusionProof, leaf_hash
from tests.conftest import Exchange
from tests.dossiers import make_dossier
from tests.harness import (
    GatewayProcess,
    Party,
    bearer,
    get,
    http,
    make_packet,
    post_packet,
    run_cli,
    wait_for,
)

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
ORIGIN = "dxg.local/receipts"


def note_of(gw: GatewayProcess, party: Party, query: str = "") -> str:
    answer = get(gw, party, "/v1/log/checkpoint" + query)
    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"].startswith("text/plain")
    return answer.body.decode()


def log_key(gw: GatewayProcess) -> NoteKey:
    info = http("GET", gw.url + "/v1/gateway").json()
    return NoteKey(name=info["origin"], public=PublicKey.from_jwk(info["keys"][0]))


def signed_size(gw: GatewayProcess, party: Party) -> int:
    return checkpoint.verify_checkpoint(note_of(gw, party), log_key=log_key(gw)).size


def send_notes(gw: GatewayProcess, sender: Party, n: int) -> list[str]:
    ids = []
    for i in range(n):
        packet = make_packet(sender, "ru", [("note.txt", "text/plain", f"{i}\n".encode())])
        answer = post_packet(gw, sender, packet)
        assert answer.status == 202
        ids.append(packet.packet_id)
    return ids


def problem(answer_body: bytes) -> str:
    return str(json.loads(answer_body)["type"]).removeprefix("urn:dxg:error:")


def post_cosignature(
    gw: GatewayProcess, party: Party, line: str, query: str = ""
) -> tuple[int, bytes]:
    path = "/v1/log/cosignatures" + query
    answer = http(
        "POST",
        gw.url + path,
        headers={"Authorization": bearer(party, "POST", path), "Content-Type": "text/plain"},
        body=line.encode(),
    )
    return answer.status, answer.body


def test_log_endpoints_serve_verifiable_answers_and_refuse_bad_ones(exchange: Exchange) -> None:
    gw, ua, mon = exchange.gw, exchange.ua, exchange.mon
    key = log_key(gw)
    empty = checkpoint.verify_checkpoint(note_of(gw, mon), log_key=key)
    assert (empty.origin, empty.size) == (ORIGIN, 0)  # signed before the first entry
    send_notes(gw, ua, 5)
    wait_for(lambda: signed_size(gw, mon) == 5, timeout=5)
    head = checkpoint.verify_checkpoint(note_of(gw, ua), log_key=key)  # parties read it too

    entries = get(gw, mon, "/v1/log/entries?start=0&end=5").json()["entries"]
    assert len(entries) == 5
    for index, entry in enumerate(entries):
        body = get(gw, mon, f"/v1/log/proof/inclusion?index={index}&size=5").json()
        InclusionProof.from_json(body).verify(leaf_hash=leaf_hash(entry.encode()), root=head.root)
    old = checkpoint.verify_checkpoint(note_of(gw, mon, "?size=0"), log_key=key)
    assert old.root == empty.root
    for m in range(6):
        body = get(gw, mon, f"/v1/log/proof/consistency?from={m}&to=5").json()
        assert body["from"] == m and body["to"] == 5
        ConsistencyProof.from_json(body)  # well-formed; verified against roots below
    proof = get(gw, mon, "/v1/log/proof/consistency?from=0&to=5").json()
    ConsistencyProof.from_json(proof).verify(old_root=empty.root, new_root=head.root)
    assert get(gw, mon, "/v1/log/entries?start=3&end=1000").json()["entries"] == entries[3:]

    refused = {
        "/v1/log/entries?start=0": ("bad-request", 400),
        "/v1/log/entries?start=2&end=1": ("bad-request", 400),
        "/v1/log/entries?start=0&end=1001": ("bad-request", 400),
        "/v1/log/entries?start=-1&end=2": ("bad-request", 400),
        "/v1/log/entries?start=x&end=2": ("bad-request", 400),
        "/v1/log/entries?start=5&end=6": ("not-found", 404),
        "/v1/log/proof/inclusion?index=5&size=5": ("bad-request", 400),
        "/v1/log/proof/inclusion?index=0&size=6": ("not-found", 404),
        "/v1/log/proof/inclusion?index=0": ("bad-request", 400),
        "/v1/log/proof/consistency?from=3&to=2": ("bad-request", 400),
        "/v1/log/proof/consistency?from=0&to=6": ("not-found", 404),
        "/v1/log/proof/consistency?from=0&to=99999999999999999999": ("bad-request", 400),
        "/v1/log/checkpoint?size=6": ("not-found", 404),  # never signed at 6
    }
    for path, (code, status) in refused.items():
        answer = get(gw, mon, path)
        assert (answer.status, problem(answer.body)) == (status, code), path
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    unsigned = http("GET", gw.url + "/v1/log/checkpoint")
    assert (unsigned.status, problem(unsigned.body)) == (401, "unauthenticated")

    # A restart serves the latest checkpoint it signed, not an older one.
    gw.stop()
    gw.start()
    assert note_of(gw, mon) == note_of(gw, mon, "?size=5")
    assert checkpoint.verify_checkpoint(note_of(gw, mon), log_key=key).root == head.root


def test_a_monitor_cosigns_and_the_checkpoint_carries_it(
    exchange: Exchange, tmp_path: Path
) -> None:
    gw, ua, mon = exchange.gw, exchange.ua, exchange.mon
    send_notes(gw, ua, 3)
    wait_for(lambda: signed_size(gw, mon) == 3, timeout=5)
    args = ["--gateway", gw.url, "--id", "mon", "--keys", str(mon.prefix)]
    done = run_cli("monitor", *args, "--once", "--cosign", "--json", check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cosigned"] is True

    mon_key = CosignerKey(name="mon", public=mon.identity.signing.public)
    served = note_of(gw, ua)
    cosigned = checkpoint.verify_checkpoint(served, log_key=log_key(gw), cosigners=[mon_key])
    assert cosigned.size == 3
    assert [c.name for c in cosigned.cosignatures] == ["mon"]
    assert cosigned.signers == (ORIGIN, "mon")
    line = served.splitlines()[-1] + "\n"

    # The same line again: already held. By a party: forbidden.
    assert post_cosignature(gw, mon, line, "?size=3")[0] == 200
    status, body = post_cosignature(gw, ua, line, "?size=3")
    assert (status, problem(body)) == (403, "forbidden")
    # Over a checkpoint the gateway never signed, or not a line at all.
    assert problem(post_cosignature(gw, mon, line, "?size=2")[1]) == "not-found"
    assert problem(post_cosignature(gw, mon, "— mon AAAA\n")[1]) == "invalid"
    assert problem(post_cosignature(gw, mon, "hello\nworld\n")[1]) == "bad-request"
    # Named mon but made with a key mon never registered: refused.
    verified = checkpoint.verify_checkpoint(served, log_key=log_key(gw))
    stranger = checkpoint.cosign(verified, SigningKey.generate(), name="mon")
    assert problem(post_cosignature(gw, mon, stranger, "?size=3")[1]) == "invalid"
    # Made with mon's key but under another name: refused (name = monitor id).
    renamed = checkpoint.cosign(verified, mon.identity.signing, name="witness")
    assert problem(post_cosignature(gw, mon, renamed, "?size=3")[1]) == "invalid"

    # Cosigned checkpoints outlive a restart.
    gw.stop()
    gw.start()
    again = checkpoint.verify_checkpoint(note_of(gw, mon), log_key=log_key(gw), cosigners=[mon_key])
    assert [c.name for c in again.cosignatures] == ["mon"]


# --- What a monitor sees must hold no personal data --------------------------------------

CHILD = {
    "Прізвище": "Ткаченко",
    "Ім'я": "Олена",
    "По батькові": "Іванівна",
    "Дата народження": "14.03.2012",
    "Місце народження": "Херсон",
    "Мати": "Ткаченко Марія Петрівна, +380 67 123 45 67",
}
SECRETS = [
    "Ткаченко",
    "Олена",
    "Іванівна",
    "Херсон",
    "Марія",
    "14.03.2012",
    "14 березня 2012",
    # What an extractor would make of them: ISO dates, KMU 2010 Latin, digits.
    "2012-03-14",
    "Tkachenko",
    "Olena",
    "Ivanivna",
    "Kherson",
    "Mariia",
    "123 45 67",
    "1234567",
]
JWS = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def dossier_pdf(path: Path, fields: dict[str, str]) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_font(fontname="dejavu", fontfile=FONT)
    y = 72
    for label, value in fields.items():
        page.insert_text((72, y), f"{label}: {value}", fontname="dejavu", fontsize=12)
        y += 20
    doc.save(path)


def decoded_jws(text: str) -> list[str]:
    """The header and payload of every JWS in ``text``, decoded."""
    out = []
    for token in JWS.findall(text):
        for segment in token.split(".")[:2]:
            try:
                out.append(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode())
            except (binascii.Error, UnicodeDecodeError, ValueError):
                continue
    return out


def forms(secret: str) -> set[str]:
    """The ways a string could hide in an answer."""
    return {
        secret,
        json.dumps(secret)[1:-1],  # \\u-escaped
        json.dumps(secret)[1:-1].upper(),  # \\u escapes with upper-case hex
        urllib.parse.quote(secret),
        base64.b64encode(secret.encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
    }


def monitor_surface(exchange: Exchange, tmp_path: Path, packet_id: str, receipts: int) -> str:
    """Everything a monitor can fetch, its own output and state, JWS payloads decoded."""
    gw, mon = exchange.gw, exchange.mon
    wait_for(lambda: signed_size(gw, mon) == receipts, timeout=10)
    state = tmp_path / "mon.json"
    args = ["--gateway", gw.url, "--id", "mon", "--keys", str(mon.prefix), "--state", str(state)]
    audit = run_cli("monitor", *args, "--once", "--json", "--cosign", check=False)
    assert audit.returncode == 0, audit.stderr

    size = signed_size(gw, mon)
    paths = [
        "/v1/log/checkpoint",
        f"/v1/log/entries?start=0&end={size}",
        f"/v1/log/proof/consistency?from=1&to={size}",
        "/v1/receipts?after=0&limit=1000",
        "/v1/parties/ua",
        "/v1/parties/ru",
        "/v1/parties/mon",
        f"/v1/packets/{packet_id}",  # refused to a monitor; the refusal is seen too
        *(f"/v1/log/proof/inclusion?index={i}&size={size}" for i in range(size)),
    ]
    seen = [http("GET", gw.url + "/v1/gateway").body.decode()]
    seen += [get(gw, mon, path).body.decode() for path in paths]
    seen += [audit.stdout, audit.stderr, state.read_text()]
    seen += decoded_jws("\n".join(seen))

    return "\n".join(seen)


def assert_no_secrets(surface: str, secrets: list[str]) -> None:
    folded = surface.casefold()
    for secret in secrets:
        for form in forms(secret):
            assert form.casefold() not in folded, f"{secret!r} is visible to a monitor as {form!r}"


def test_nothing_a_monitor_can_fetch_carries_a_childs_data(
    exchange: Exchange, tmp_path: Path
) -> None:
    gw, ua, ru = exchange.gw, exchange.ua, exchange.ru
    first, second = tmp_path / "dossier-1.pdf", tmp_path / "dossier-2.pdf"
    dossier_pdf(first, CHILD)
    dossier_pdf(second, {**CHILD, "Ім'я": "Марія", "Дата народження": "14 березня 2012"})
    delivered = tmp_path / "inbox"

    async def exchange_dossiers() -> str:
        async with Client(gw.url, ua.identity) as sender:
            sent = await sender.send([first, second], recipient="ru", kind="dossier")
        async with gw.client(ru) as recipient:
            for _ in range(100):
                results = await Puller(recipient).pull(delivered)
                if results:
                    assert [r.level for r in results] == ["DELIVERED"]
                    break
                await asyncio.sleep(0.1)
        return str(sent["packet_id"])

    packet_id = asyncio.run(exchange_dossiers())
    # The data really travelled: the recipient's copy carries it.
    text = pymupdf.open(delivered / packet_id / "parts" / "dossier-1.pdf")[0].get_text()
    assert "Ткаченко" in text and "14.03.2012" in text and "Херсон" in text

    surface = monitor_surface(exchange, tmp_path, packet_id, receipts=2)
    assert packet_id in surface  # we looked at the right packet's receipts ...
    receipts = [json.loads(p) for p in decoded_jws(surface) if '"receipt_id"' in p]
    assert {r["level"] for r in receipts} == {"ACCEPTED", "DELIVERED"}
    assert all(
        r["extraction_sha256"] is None or len(r["extraction_sha256"]) == 64 for r in receipts
    )
    assert_no_secrets(surface, SECRETS)


def test_nothing_a_monitor_can_fetch_after_the_synthetic_corpus(
    exchange: Exchange, tmp_path: Path
) -> None:
    """The generated dossiers, extracted for real: no child's data reaches a monitor."""
    gw, ua, ru = exchange.gw, exchange.ua, exchange.ru
    dossiers = [
        make_dossier(301, lang="uk", layout="left", children=2),
        make_dossier(302, lang="ru", layout="table", children=2, bilingual=True),
        make_dossier(303, lang="en", layout="above", children=1),
    ]
    files = [d.write(tmp_path) for d in dossiers]
    delivered = tmp_path / "inbox"

    async def run() -> tuple[str, int]:
        async with Client(gw.url, ua.identity) as sender:
            sent = await sender.send(files, recipient="ru", kind="dossier")
        async with gw.client(ru) as recipient:
            for _ in range(600):
                results = await Puller(recipient).pull(delivered)
                if results:
                    (result,) = results
                    assert result.level == "DELIVERED"
                    return str(sent["packet_id"]), result.records
                await asyncio.sleep(0.1)
        raise AssertionError("the dossier was not delivered")

    packet_id, records = asyncio.run(run())
    assert records == 5  # extraction really read every child
    secrets = []
    for child in (c for d in dossiers for c in d.children):
        truth = child.truth()
        secrets += [truth[k] for k in ("family_name", "given_name", "birth_place",
                                       "displacement_place", "current_location", "guardian",
                                       "birth_date")]
        secrets += [child.birth_date_text, *(c.name for c in child.contacts)]
    surface = monitor_surface(exchange, tmp_path, packet_id, receipts=2)
    assert packet_id in surface
    assert_no_secrets(surface, [s for s in secrets if s])
