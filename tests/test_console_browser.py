"""The officials' console end to end, in a real browser (issue 13).

A real gateway process with parties ``ua`` (holder) and ``ru`` (home), a
real console process for ``ru`` started with ``gateway console``, officials
added with ``gateway console user add``, and Debian's Chromium driven by
Playwright. The dossier is generated (tests/dossiers.py) so the children's
names are known.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Exchange, running_exchange
from tests.console_harness import (
    PASSWORDS,
    ConsoleProcess,
    MonitorView,
    browser,
    running_console,
    running_monitor_view,
    save_screenshot,
)
from tests.dossiers import Dossier, make_dossier
from tests.harness import make_packet, post_packet, wait_ready

NOTE = "Photo and birth date match the family's report."
PAGE_TIMEOUT_MS = 60_000  # the console pulls every few seconds; extraction is real


@dataclass
class World:
    ex: Exchange
    console: ConsoleProcess
    dossier: Dossier
    packet_id: str
    chromium: Any
    holder: ConsoleProcess
    monitor: MonitorView


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("console")
    with running_exchange(tmp) as ex, browser() as chromium:
        dossier = make_dossier(1301, lang="uk", children=2)
        packet = make_packet(ex.ua, "ru", [(dossier.filename, dossier.media_type, dossier.data)])
        assert post_packet(ex.gw, ex.ua, packet).status == 202
        wait_ready(ex.gw, ex.ua, packet.packet_id)
        registry = _registry(tmp / "registry.csv", dossier)
        with (
            running_console(tmp / "console", ex.gw, ex.ru, registry=registry) as console,
            running_console(tmp / "holder", ex.gw, ex.ua, users={"olena": "reviewer"}) as holder,
            running_monitor_view(ex.gw, ex.mon, tmp / "monitor.state") as monitor,
        ):
            yield World(ex, console, dossier, packet.packet_id, chromium, holder, monitor)


REGISTRY_COLUMNS = (
    "report_id", "family_name", "given_name", "patronymic", "sex", "birth_date", "birth_place",
    "displacement_date", "displacement_place", "reporter_relation", "reporter_name",
    "reporter_phone",
)


def _registry(path: Path, dossier: Dossier) -> Path:
    """A registry with the first child's report, a sibling's, and someone else's."""
    child = dossier.children[0].truth()
    own = {k: child[k] for k in REGISTRY_COLUMNS[1:9]} | {"report_id": "R-0001"}
    sibling = own | {"report_id": "R-0002", "given_name": "Соломія", "sex": "female",
                     "birth_date": "2015-02-01"}
    other = {"report_id": "R-0003", "family_name": "Шевчук", "given_name": "Марко",
             "patronymic": "Олегович", "sex": "male", "birth_date": "2011-09-30",
             "birth_place": "Одеса"}
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, REGISTRY_COLUMNS)
        writer.writeheader()
        for row in (other, sibling, own):
            writer.writerow({k: row.get(k) or "" for k in REGISTRY_COLUMNS})
    return path


def _name(world: World, index: int) -> str:
    child = world.dossier.children[index]
    return " ".join(p for p in (child.family_name, child.given_name, child.patronymic) if p)


def _login(world: World, name: str, console: ConsoleProcess | None = None) -> Any:
    base = (console or world.console).url
    page = world.chromium.new_page(locale="en-GB")
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(base + "/")
    assert page.url.startswith(base + "/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    return page


def _open_first_child(world: World, page: Any) -> None:
    if page.url != world.console.url + "/":
        page.goto(world.console.url + "/")
    link = page.get_by_role("link", name=_name(world, 0))
    deadline_ms = PAGE_TIMEOUT_MS
    while not link.count() and deadline_ms > 0:  # the console pulls on its own
        page.wait_for_timeout(500)
        deadline_ms -= 500
        page.reload()
    link.click()
    page.wait_for_load_state()


def test_login_lands_on_the_inbox_listing_each_child_by_name(world: World) -> None:
    page = _login(world, "olena")
    assert page.url == world.console.url + "/"
    page.get_by_role("link", name=_name(world, 0)).wait_for()
    for index in range(len(world.dossier.children)):
        link = page.get_by_role("link", name=_name(world, index))
        assert re.fullmatch(rf"/record/{world.packet_id}/[0-9a-f]+", link.get_attribute("href"))
    page.close()


def test_record_view_shows_the_page_and_highlights_the_fields_box(
    world: World, tmp_path: Path
) -> None:
    page = _login(world, "olena")
    _open_first_child(world, page)
    assert page.get_by_role("heading", level=1).inner_text() == _name(world, 0)
    # The page image: rendered by the console from the pulled PDF.
    image = page.locator("svg.page image").first
    src = image.get_attribute("href")
    answer = page.request.get(world.console.url + src)
    assert answer.status == 200 and answer.headers["content-type"] == "image/png"
    assert answer.body()[:8] == b"\x89PNG\r\n\x1a\n"
    # The family name's box lies on the page and lights up when its row has focus.
    box = page.locator("#box-family_name")
    assert "on" not in (box.get_attribute("class") or "")
    page.locator("#f-family_name").focus()
    assert "on" in (box.get_attribute("class") or "").split()
    width = float(page.locator("svg.page").first.get_attribute("viewBox").split()[2])
    assert 0 <= float(box.get_attribute("x")) < width
    # The row shows the value as extracted, and the child's photo is there.
    assert world.dossier.children[0].family_name in page.locator("#f-family_name").inner_text()
    photo = page.get_by_role("img", name="The child's photo from the dossier")
    assert photo.evaluate("img => img.naturalWidth") > 0
    page.set_viewport_size({"width": 1280, "height": 900})
    save_screenshot(page, "console-record.png", tmp_path)
    page.close()


def test_the_matching_panel_shows_the_report_side_by_side_and_links_it(world: World) -> None:
    page = _login(world, "olena")
    _open_first_child(world, page)
    panel = page.locator("#match")
    headers = panel.locator("thead th").all_inner_texts()
    assert headers[2].startswith("Report R-0001")  # the child's own report first
    assert not any("R-0003" in h for h in headers)  # someone else is not proposed
    surname_row = panel.locator("tbody tr").first
    assert "agrees" in surname_row.locator("td").nth(1).inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Choose report R-0001").click()
    assert "Linked to report R-0001 (olena)" in page.locator("#match").inner_text()
    page.close()


def test_the_record_view_is_usable_with_the_keyboard_alone(world: World) -> None:
    page = _login(world, "olena")
    _open_first_child(world, page)
    for _ in range(60):  # Tab from the top of the page to the surname's row
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "f-family_name":
            break
    else:
        raise AssertionError("the surname's row cannot be reached with Tab")
    assert "on" in (page.locator("#box-family_name").get_attribute("class") or "").split()
    page.keyboard.press("Tab")  # the next row takes the light
    assert page.evaluate("document.activeElement.id") == "f-given_name"
    assert "on" not in (page.locator("#box-family_name").get_attribute("class") or "").split()
    assert "on" in (page.locator("#box-given_name").get_attribute("class") or "").split()
    page.close()


def test_opening_a_record_is_in_the_local_access_log_and_no_name_in_the_server_log(
    world: World,
) -> None:
    page = _login(world, "taras")
    _open_first_child(world, page)
    record_id = page.url.rsplit("/", 1)[1]
    page.close()
    entries = [json.loads(line) for line in
               (world.console.directory / "access.log").read_text().splitlines()]
    assert {"official": "taras", "packet_id": world.packet_id, "record_id": record_id} in [
        {k: e[k] for k in ("official", "packet_id", "record_id")} for e in entries]
    server_log = world.console.log_path.read_text(encoding="utf-8")
    assert f"/record/{world.packet_id}/{record_id}" in server_log  # the log is there...
    for child in world.dossier.children:  # ...and holds no name, date or place
        for value in (child.family_name, child.given_name, child.birth_place,
                      child.birth_date.isoformat()):
            assert value not in server_log


def test_a_wrong_password_is_throttled_with_retry_after(world: World) -> None:
    page = world.chromium.new_page(locale="en-GB")
    page.goto(world.console.url + "/login")
    statuses = []
    for _ in range(6):
        page.get_by_label("User name").fill("iryna")
        page.get_by_label("Password").fill("not-her-password")
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name="Sign in").click()
        statuses.append(navigation.value.status)
    assert statuses[:4] == [401] * 4
    assert statuses[4:] == [429, 429]
    retry_after = int(navigation.value.headers["retry-after"])
    assert 0 < retry_after <= 60
    assert page.get_by_role("alert").inner_text().startswith("Too many failed attempts")
    # Even the right password waits while the name is locked.
    page.get_by_label("User name").fill("iryna")
    page.get_by_label("Password").fill(PASSWORDS["iryna"])
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Sign in").click()
    assert navigation.value.status == 429
    page.close()


def test_a_form_without_its_csrf_token_is_refused(world: World) -> None:
    page = _login(world, "olena")
    _open_first_child(world, page)
    page.locator("form[action$='/decide'] input[name=csrf]").evaluate("e => e.remove()")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Propose the decision").click()
    assert navigation.value.status == 403
    assert "security token" in page.get_by_role("alert").inner_text()
    page.close()


def _report_as_holder(world: World) -> Any:
    """The holder's official reports the dossier's children from the holder's console."""
    page = _login(world, "olena", world.holder)
    page.goto(world.holder.url + "/cases")
    page.get_by_label("Dossier sent").select_option(world.packet_id)
    with page.expect_navigation():
        page.get_by_role("button", name="Report", exact=True).click()
    assert page.get_by_role("status").inner_text() == (
        f"Cases reported: {len(world.dossier.children)}.")
    return page


def _act(page: Any, button: str, *, due: str | None = None) -> None:
    """Press ``button`` on the first case row that offers it (filling its date first)."""
    row = page.locator("tr.case", has=page.get_by_role("button", name=button)).first
    if due is not None:
        row.get_by_label("Return date").fill(due)
    with page.expect_navigation():
        row.get_by_role("button", name=button).click()
    assert page.get_by_role("status").inner_text().startswith(f"Sent “{button}”")


def _count(page: Any, state: str) -> int:
    return int(page.locator(f"#count-{state} b").inner_text())


def test_a_verification_is_sent_only_when_a_supervisor_confirms_and_the_case_moves(
    world: World,
) -> None:
    holder = _report_as_holder(world)
    reviewer = _login(world, "olena")
    reviewer.goto(world.console.url + "/cases")
    assert _count(reviewer, "REPORTED") == len(world.dossier.children)
    assert _count(reviewer, "VERIFIED") == 0
    _open_first_child(world, reviewer)
    reviewer.get_by_label("verified").check()
    reviewer.get_by_label("Surname", exact=True).last.select_option("confirmed")
    reviewer.get_by_label("Note to the other side").fill(NOTE)
    with reviewer.expect_navigation():
        reviewer.get_by_role("button", name="Propose the decision").click()
    assert reviewer.url.startswith(world.console.url + "/decisions")
    row = reviewer.locator("tr.decision").first
    assert "awaiting a supervisor" in row.inner_text()
    assert row.get_by_role("button", name="Confirm and sign").count() == 0  # not hers to confirm
    reviewer.goto(world.console.url + "/cases")
    assert _count(reviewer, "VERIFIED") == 0  # nothing was signed yet
    reviewer.close()

    supervisor = _login(world, "taras")
    supervisor.goto(world.console.url + "/decisions")
    with supervisor.expect_navigation():
        supervisor.locator("tr.decision").first.get_by_role(
            "button", name="Confirm and sign").click()
    assert "The decision is signed and sent." in supervisor.get_by_role("status").inner_text()
    assert "sent" in supervisor.locator("tr.decision").first.inner_text()
    supervisor.goto(world.console.url + "/cases")
    assert _count(supervisor, "VERIFIED") == 1
    assert _count(supervisor, "REPORTED") == len(world.dossier.children) - 1
    # The home side finds the family; the holder schedules the return and logs a
    # contact; the home side reports the child reunited.
    _act(supervisor, "Family found")
    # The holder's console pulls the sealed verification and shows its answer.
    answer = f"Answer to dossier {world.packet_id}: verified"
    for _ in range(PAGE_TIMEOUT_MS // 500):
        holder.goto(world.holder.url + "/")
        if holder.get_by_text(answer).count():
            break
        holder.wait_for_timeout(500)  # the console pulls every few seconds
    assert NOTE in holder.locator("main").inner_text()
    assert "Surname: confirmed" in holder.locator(".verification").inner_text()
    holder.goto(world.holder.url + "/cases")
    assert _count(holder, "FAMILY_FOUND") == 1
    _act(holder, "Schedule the return", due=(date.today() + timedelta(days=10)).isoformat())
    _act(holder, "Log a family contact")
    assert _count(holder, "RETURN_SCHEDULED") == 1
    holder.close()
    monitor = world.chromium.new_page(locale="en-GB")
    assert _monitor_reunited(world, monitor, lambda n: n == 0) == 0
    supervisor.goto(world.console.url + "/cases")
    _act(supervisor, "Reunited")
    assert _count(supervisor, "REUNITED") == 1
    # The monitor, from the log alone, counts the reunion.
    assert _monitor_reunited(world, monitor, lambda n: n == 1) == 1
    monitor.close()
    reunions = supervisor.locator("svg.chart").first.locator("rect.bar").last
    assert reunions.locator("title").inner_html().endswith(": 1")
    supervisor.close()


def test_the_board_filters_by_state_and_by_flag(world: World) -> None:
    page = _login(world, "taras")
    page.goto(world.console.url + "/cases")
    rows = page.locator("tr.case")
    total = rows.count()
    aged = rows.filter(has_text="turned 18").count()
    assert total == len(world.dossier.children)
    page.get_by_label("State", exact=True).select_option("REUNITED")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert [r.locator("td.state").inner_text() for r in rows.all()] == ["reunited"]
    page.get_by_label("State", exact=True).select_option("")
    page.get_by_label("aged out only").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert rows.count() == aged
    assert all("turned 18" in r.inner_text() for r in rows.all())
    page.get_by_label("aged out only").uncheck()
    page.get_by_label("overdue only").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert rows.count() == 0  # every promise is still within its period
    page.close()


def _monitor_reunited(world: World, page: Any, wanted: Callable[[int], bool]) -> int:
    """The monitor view's "reunited, last 24 h" for the pair, once a pass shows ``wanted``."""
    for _ in range(PAGE_TIMEOUT_MS // 500):
        page.goto(world.monitor.url + "/")
        cell = page.locator("#case-table td.reunited-24h")
        if cell.count() and wanted(value := int(cell.first.inner_text())):
            return value
        page.wait_for_timeout(500)  # the monitor passes every second
    raise AssertionError("the monitor view did not show it")


def test_the_monitor_view_shows_the_audit_and_no_name(world: World) -> None:
    page = world.chromium.new_page(locale="en-GB")
    page.goto(world.monitor.url + "/")
    assert page.locator("#verdict").inner_text().startswith("The log verified")
    assert int(page.locator("#log-size").inner_text()) > 0
    assert page.locator("#case-table").count() == 1
    assert "cosigned by this monitor" in page.locator(".checkpoint").inner_text()
    assert page.locator("svg.chart").count() == 2
    text = page.content()
    for child in world.dossier.children:
        for value in (child.family_name, child.given_name, child.patronymic or child.given_name,
                      child.birth_place, child.displacement_place, child.guardian,
                      child.birth_date.isoformat(), child.birth_date.strftime("%d.%m.%Y")):
            assert value not in text
    assert "R-0001" not in text  # nor the home side's registry
    csp = page.request.get(world.monitor.url + "/").headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp
    page.close()


def test_every_page_has_a_strict_csp_and_the_session_cookie_is_httponly_strict(
    world: World,
) -> None:
    page = world.chromium.new_page()
    response = page.goto(world.console.url + "/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    (cookie,) = page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (
        "dxg_console", True, "Strict")
    page.close()


def test_the_interface_speaks_the_browsers_language_and_can_switch(world: World) -> None:
    page = world.chromium.new_page(locale="uk-UA")
    page.goto(world.console.url + "/login")
    assert page.get_by_role("heading", level=1).inner_text() == "Вхід"
    page.get_by_role("link", name="Русский").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Вход"
    assert page.locator("html").get_attribute("lang") == "ru"
    page.close()
