"""SLA in the web UI: the queue's at-risk and breached views with their counts, every view
soonest-due first with the time left as text, the SLA block of the ticket page, and the
admin's SLA form. Time passes by moving a ticket's instants into the past (24/7 calendar:
business time is wall time); the database's clock stays the judge."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from tests.factories import auth_headers, join_team, open_ticket
from tests.sla.conftest import set_sla, time_passes
from tests.tickets.conftest import Person
from tests.web.conftest import demo_sign_in, post_form
from ticket_service.users.models import Role
from ticket_service.web.auth_routes import DEMO_PEOPLE
from ticket_service.web.i18n import format_date

MINUTE = 60
AGENT = DEMO_PEOPLE[Role.agent][0]


async def _admin(app: FastAPI) -> Person:
    headers = await auth_headers(app, "3001", Role.admin)
    return Person(discord_id="3001", headers=headers)


async def _take(api: httpx.AsyncClient, headers: dict[str, str], guid: str, status: str) -> None:
    moved = await api.post(
        f"/api/v1/tickets/{guid}/status", json={"status": status}, headers=headers
    )
    assert moved.status_code == 200, moved.text


def _titles(html: str) -> list[str]:
    return re.findall(r'<a href="/tickets/[0-9a-f-]+">([^<]+)</a>', html)


def _counts(html: str) -> dict[str, int]:
    found = re.findall(r'view=(\w+)&amp;[^>]*>[^<]*<span class="count">(\d+)</span>', html)
    return {view: int(n) for view, n in found}


async def _arrange(web_app: FastAPI, api: httpx.AsyncClient, database_url: str) -> dict[str, str]:
    """`general`: normal priority first response 60 min, resolution 600 min, 24/7. Four
    tickets of another employee, taken into work by the demo agent (the first response):
    «Горит» overdue by 1 h 40 min, «Скоро» at risk (1 h 40 min left), «Рано» 9 h left,
    «Без SLA» (low priority: no policy)."""
    await set_sla(api, await _admin(web_app), first=60, resolution=600)
    employee = await auth_headers(web_app, "1002")
    agent = await auth_headers(web_app, AGENT, Role.agent)
    await join_team(web_app, AGENT, "general")
    guids: dict[str, str] = {}
    for title, priority, passed in (
        ("Без SLA", "low", 0),
        ("Рано", "normal", 60 * MINUTE),
        ("Скоро", "normal", 500 * MINUTE),
        ("Горит", "normal", 700 * MINUTE),
    ):
        made = await open_ticket(api, employee, f"{title}: текст", title=title, priority=priority)
        guids[title] = made["guid_ticket"]
        await _take(api, agent, made["guid_ticket"], "processing")
        if passed:
            time_passes(database_url, made["guid_ticket"], passed)
    return guids


async def test_queue_views_count_order_and_mark_sla(
    browser: httpx.AsyncClient,
    web_app: FastAPI,
    client_for_api: httpx.AsyncClient,
    database_url: str,
) -> None:
    guids = await _arrange(web_app, client_for_api, database_url)
    await demo_sign_in(browser, "agent")
    queue = await browser.get("/queue")
    assert queue.status_code == 200
    # Soonest resolution due first; the ticket without a clock last.
    assert _titles(queue.text) == ["Горит", "Скоро", "Рано", "Без SLA"]
    counts = _counts(queue.text)
    assert counts["at_risk"] == 1
    assert counts["breached"] == 1
    assert counts["my_services"] == 4
    # Marked in words, not by colour alone (the view names say them too: look at the rows).
    assert '<strong class="sla sla-at-risk">SLA под угрозой</strong>' in queue.text
    assert '<strong class="sla sla-breached">SLA нарушен</strong>' in queue.text
    assert "просрочено на 1 ч 40 мин" in queue.text
    assert "осталось 1 ч 40 мин" in queue.text
    assert "осталось 9 ч" in queue.text
    # The due time in the person's time zone (WEB_TIME_ZONE, Moscow by default).
    ticket = (
        await client_for_api.get(
            f"/api/v1/tickets/{guids['Скоро']}", headers=await auth_headers(web_app, "1002")
        )
    ).json()
    due = datetime.fromisoformat(ticket["sla"]["resolution_due_at"])
    assert ticket["sla"]["at_risk"] is True
    assert format_date(due, ZoneInfo("Europe/Moscow"), "ru") in queue.text

    at_risk = await browser.get("/queue", params={"view": "at_risk"})
    assert _titles(at_risk.text) == ["Скоро"]
    assert 'aria-current="page"' in at_risk.text
    breached = await browser.get("/queue", params={"view": "breached"})
    assert _titles(breached.text) == ["Горит"]
    assert '<strong class="sla sla-breached">SLA нарушен</strong>' in breached.text

    # Waiting for the author: the clock is paused, off the at-risk view.
    agent = await auth_headers(web_app, AGENT, Role.agent)
    await _take(client_for_api, agent, guids["Скоро"], "waiting")
    paused = await browser.get("/queue", params={"view": "at_risk"})
    assert _titles(paused.text) == []
    assert _counts(paused.text)["at_risk"] == 0
    everything = await browser.get("/queue", params={"view": "all"})
    assert "на паузе" in everything.text
    assert _titles(everything.text)[:2] == ["Горит", "Рано"]


async def test_queue_pages_follow_the_due_order(
    browser: httpx.AsyncClient,
    web_app: FastAPI,
    client_for_api: httpx.AsyncClient,
    database_url: str,
) -> None:
    await _arrange(web_app, client_for_api, database_url)
    employee = await auth_headers(web_app, "1002")
    for n in range(23):  # 27 in all: a page is 25
        await open_ticket(client_for_api, employee, f"Ещё {n}", title=f"Ещё {n}", priority="low")
    await demo_sign_in(browser, "agent")
    first = await browser.get("/queue", params={"view": "all"})
    assert _titles(first.text)[:3] == ["Горит", "Скоро", "Рано"]
    more = re.search(r'href="(/queue\?[^"]*cursor=[^"]+)"', first.text)
    assert more, "no link to the next page"
    second = await browser.get(more.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert len(_titles(first.text)) == 25
    assert len(_titles(second.text)) == 2
    assert not set(_titles(first.text)) & set(_titles(second.text))
    bad = await browser.get("/queue", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400


async def test_ticket_page_shows_the_sla_block(
    browser: httpx.AsyncClient,
    web_app: FastAPI,
    client_for_api: httpx.AsyncClient,
    database_url: str,
) -> None:
    guids = await _arrange(web_app, client_for_api, database_url)
    await demo_sign_in(browser, "agent")
    soon = await browser.get(f"/tickets/{guids['Скоро']}")
    assert "Первый ответ до" in soon.text
    assert "Решить до" in soon.text
    assert "осталось 1 ч 40 мин" in soon.text
    assert '<strong class="sla sla-at-risk">SLA под угрозой</strong>' in soon.text
    late = await browser.get(f"/tickets/{guids['Горит']}/activity")  # the polled part
    assert "просрочено на 1 ч 40 мин" in late.text
    assert re.search(r"Нарушено</dt>\s*<dd>решение</dd>", late.text)
    none = await browser.get(f"/tickets/{guids['Без SLA']}")
    assert 'id="sla-h"' not in none.text

    agent = await auth_headers(web_app, AGENT, Role.agent)
    # The author (another employee) sees the same block: paused while waiting for them.
    await demo_sign_in(browser, "employee")
    employee_id = DEMO_PEOPLE[Role.employee][0]
    own = await open_ticket(
        client_for_api, await auth_headers(web_app, employee_id), "Мой вопрос", title="Мой"
    )
    mine = await browser.get(f"/tickets/{own['guid_ticket']}")
    assert "Первый ответ до" in mine.text
    assert "ещё нет" in mine.text
    assert "осталось 10 ч" in mine.text
    await _take(client_for_api, agent, own["guid_ticket"], "processing")
    await _take(client_for_api, agent, own["guid_ticket"], "waiting")
    waiting = await browser.get(f"/tickets/{own['guid_ticket']}")
    assert "на паузе, пока ждём автора" in waiting.text
    assert "sla-breached" not in waiting.text


async def test_admin_sets_the_sla_of_a_service(
    browser: httpx.AsyncClient, web_app: FastAPI, client_for_api: httpx.AsyncClient
) -> None:
    admin = await _admin(web_app)
    made = await client_for_api.post(
        "/api/v1/calendars",
        json={
            "slug": "spb",
            "name": "Петербург",
            "time_zone": "Europe/Moscow",
            "hours": {"mon": [["10:00", "19:00"]]},
        },
        headers=admin.headers,
    )
    assert made.status_code == 201, made.text
    await demo_sign_in(browser, "admin")
    page = await browser.get("/admin/services/general")
    assert 'action="/admin/services/general/sla"' in page.text
    assert "Петербург (Europe/Moscow)" in page.text
    fields = {
        "calendar": "spb",
        "auto_close_days": "3",
        "first_urgent": "30",
        "resolution_urgent": "240",
        "first_normal": "240",
        "resolution_normal": "2700",
    }
    saved = await post_form(
        browser, "/admin/services/general", "/admin/services/general/sla", fields
    )
    assert saved.status_code == 303, saved.text
    sla = (await client_for_api.get("/api/v1/services/general/sla", headers=admin.headers)).json()
    assert sla["calendar"]["slug"] == "spb"
    assert sla["auto_close_days"] == 3
    assert sla["policies"] == [
        {"priority": "urgent", "first_response_minutes": 30, "resolution_minutes": 240},
        {"priority": "normal", "first_response_minutes": 240, "resolution_minutes": 2700},
    ]
    page = await browser.get("/admin/services/general")
    assert 'name="resolution_normal" value="2700"' in page.text
    assert '<option value="spb" selected>' in page.text

    bad = await post_form(
        browser,
        "/admin/services/general",
        "/admin/services/general/sla",
        {"calendar": "", "auto_close_days": "400", "first_high": "abc", "resolution_high": ""},
    )
    assert bad.status_code == 422
    assert 'id="first_high-error"' in bad.text
    assert "Введите целое число рабочих минут от 1 до 527040." in bad.text
    assert 'id="resolution_high-error"' in bad.text
    assert "Введите целое число дней от 0 до 365." in bad.text
    assert 'name="first_high" value="abc"' in bad.text  # what was typed stays
    zero = await post_form(
        browser,
        "/admin/services/general",
        "/admin/services/general/sla",
        {"auto_close_days": "7", "first_low": "0", "resolution_low": "60"},
    )
    assert zero.status_code == 422
    assert 'id="first_low-error"' in zero.text
    for calendar in ("gone", "Не код"):
        unknown = await post_form(
            browser,
            "/admin/services/general",
            "/admin/services/general/sla",
            {"calendar": calendar, "auto_close_days": "7"},
        )
        assert unknown.status_code == 422
        assert 'id="calendar-error"' in unknown.text
    # Nothing of the refused forms was saved.
    after = (await client_for_api.get("/api/v1/services/general/sla", headers=admin.headers)).json()
    assert after == sla
    # Back to the default calendar, no policies.
    cleared = await post_form(
        browser, "/admin/services/general", "/admin/services/general/sla", {"auto_close_days": "0"}
    )
    assert cleared.status_code == 303
    final = (await client_for_api.get("/api/v1/services/general/sla", headers=admin.headers)).json()
    assert final["calendar_is_default"] is True
    assert final["policies"] == []
    assert final["auto_close_days"] == 0


async def test_admin_adds_and_edits_a_business_calendar(
    browser: httpx.AsyncClient, web_app: FastAPI, client_for_api: httpx.AsyncClient
) -> None:
    admin = await _admin(web_app)
    await demo_sign_in(browser, "admin")
    empty = await browser.get("/admin/calendars")
    assert "Календарей пока нет." in empty.text
    assert 'name="hours_mon" value="09:00-18:00"' in empty.text  # a five-day week to start from
    fields = {
        "slug": "spb",
        "name": "Петербург",
        "time_zone": "Europe/Moscow",
        "hours_mon": "09:00-13:00, 14:00-18:00",
        "hours_fri": "10:00-17:00",
        "holidays": "2027-01-07\n2027-01-01",
    }
    made = await post_form(browser, "/admin/calendars", "/admin/calendars", fields)
    assert made.status_code == 303, made.text
    assert made.headers["location"] == "/admin/calendars/spb?saved=1"
    stored = (await client_for_api.get("/api/v1/calendars/spb", headers=admin.headers)).json()
    assert stored["hours"] == {
        "mon": [["09:00", "13:00"], ["14:00", "18:00"]],
        "fri": [["10:00", "17:00"]],
    }
    assert stored["holidays"] == ["2027-01-01", "2027-01-07"]
    page = await browser.get("/admin/calendars/spb")
    assert 'name="hours_mon" value="09:00-13:00, 14:00-18:00"' in page.text
    assert "2027-01-01\n2027-01-07</textarea>" in page.text
    taken = await post_form(browser, "/admin/calendars", "/admin/calendars", fields)
    assert taken.status_code == 409
    assert "Такой код уже занят." in taken.text

    bad = await post_form(
        browser,
        "/admin/calendars",
        "/admin/calendars",
        {
            "slug": "Не код",
            "name": "",
            "hours_mon": "9-18",
            "hours_tue": "утро",
            "holidays": "завтра",
        },
    )
    assert bad.status_code == 422
    assert 'id="slug-error"' in bad.text
    assert 'id="name-error"' in bad.text
    assert 'id="hours_mon-error"' in bad.text
    assert 'id="hours_tue-error"' in bad.text
    assert "Укажите часы работы так: 09:00-13:00, 14:00-18:00." in bad.text
    assert "Укажите даты так: 2027-01-07, по одной в строке." in bad.text
    zone = await post_form(
        browser,
        "/admin/calendars/spb",
        "/admin/calendars/spb",
        {"name": "Петербург", "time_zone": "Mars/Olympus", "hours_mon": "09:00-18:00"},
    )
    assert zone.status_code == 422
    assert "Неизвестный часовой пояс" in zone.text
    overlap = await post_form(
        browser,
        "/admin/calendars/spb",
        "/admin/calendars/spb",
        {"name": "Петербург", "time_zone": "UTC", "hours_mon": "09:00-14:00, 13:00-18:00"},
    )
    assert overlap.status_code == 422
    assert "Часы работы дня пересекаются" in overlap.text
    nothing = await post_form(
        browser, "/admin/calendars/spb", "/admin/calendars/spb", {"name": "Петербург"}
    )
    assert nothing.status_code == 422
    assert "В календаре должно быть хоть какое-то рабочее время." in nothing.text
    # None of it was saved; then a good edit is.
    assert (
        await client_for_api.get("/api/v1/calendars/spb", headers=admin.headers)
    ).json() == stored
    edited = await post_form(
        browser,
        "/admin/calendars/spb",
        "/admin/calendars/spb",
        {
            "name": "Петербург 24/7",
            "time_zone": "UTC",
            **{f"hours_{d}": "00:00-24:00" for d in ("mon", "sat")},
        },
    )
    assert edited.status_code == 303
    now = (await client_for_api.get("/api/v1/calendars/spb", headers=admin.headers)).json()
    assert now["name"] == "Петербург 24/7"
    assert now["hours"] == {"mon": [["00:00", "24:00"]], "sat": [["00:00", "24:00"]]}
    assert now["holidays"] == []
    assert (await browser.get("/admin/calendars/nope")).status_code == 404
    listed = await browser.get("/admin/calendars")
    assert '<a href="/admin/calendars/spb">Петербург 24/7</a>' in listed.text
