"""SLA in Chromium: the admin adds a 24/7 calendar and sets a service's SLA on its page,
and an agent finds the ticket at risk first in the queue, marked in words, with its SLA
block on the ticket page. Time passes by moving the ticket's instants into the past."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Site, check_axe, demo_sign_in, join_team, screenshot
from tests.live_api import mint_token
from tests.sla.conftest import time_passes
from ticket_service.users.models import Role
from ticket_service.web.auth_routes import DEMO_PEOPLE


def _open(site: Site, token: str, title: str) -> str:
    opened = httpx.post(
        site.url("/api/v1/tickets"),
        json={"text": f"{title}: подробности", "title": title},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert opened.status_code == 201, opened.text
    return str(opened.json()["guid_ticket"])


def test_admin_sets_an_sla_and_the_agent_sees_the_ticket_at_risk_first(
    site: Site, new_page: Any, database_url: str
) -> None:
    admin = new_page()
    demo_sign_in(admin, site, "Войти как демо-администратор")
    admin.goto(site.url("/admin/calendars"))
    admin.get_by_label("Код (латинские буквы, цифры, - и _)").fill("always")
    admin.get_by_label("Название").fill("Круглосуточно")
    admin.get_by_label("Часовой пояс").fill("UTC")
    for day in ("Понедельник", "Вторник", "Среда", "Четверг", "Пятница", "Суббота", "Воскресенье"):
        admin.get_by_label(day).fill("00:00-24:00")
    admin.get_by_role("button", name="Добавить календарь").click()
    expect(admin.get_by_text("Сохранено.")).to_be_visible()
    check_axe(admin)
    admin.goto(site.url("/admin/calendars"))
    expect(admin.get_by_role("link", name="Круглосуточно")).to_be_visible()
    check_axe(admin)
    admin.goto(site.url("/admin/services/general"))
    admin.get_by_label("Рабочий календарь").select_option("always")
    admin.locator("#first_normal").fill("540")
    admin.locator("#resolution_normal").fill("600")
    admin.get_by_role("button", name="Применить SLA").click()
    expect(admin.get_by_text("Сохранено.")).to_be_visible()
    expect(admin.locator("#resolution_normal")).to_have_value("600")
    screenshot(admin, "admin_service_sla")
    check_axe(admin)

    employee = mint_token(site.env, site.workdir, DEMO_PEOPLE[Role.employee][0], "employee")
    older = _open(site, employee, "Принтер скоро нужен")
    _open(site, employee, "Новая просьба")
    time_passes(database_url, older, 500 * 60)  # 500 of 540 and of 600 minutes: at risk
    join_team(site, DEMO_PEOPLE[Role.agent][0])

    agent = new_page()
    demo_sign_in(agent, site, "Войти как демо-агент")
    rows = agent.locator("tbody tr")
    expect(rows.first).to_contain_text("Принтер скоро нужен")  # older, but due first
    expect(rows.first).to_contain_text("SLA под угрозой")
    expect(rows.first).to_contain_text("осталось 1 ч 40 мин")
    agent.get_by_role("link", name=re.compile("SLA под угрозой 1")).click()
    expect(rows).to_have_count(1)
    screenshot(agent, "queue_sla_at_risk")
    check_axe(agent)
    agent.get_by_role("link", name="Принтер скоро нужен").click()
    expect(agent.locator("#activity")).to_contain_text("Решить до")
    expect(agent.locator("#activity")).to_contain_text("осталось 1 ч 40 мин")
    check_axe(agent)
    assert agent.csp_errors == []
    assert admin.csp_errors == []
