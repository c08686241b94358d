"""Journeys of working a ticket in Chromium: the conversation appearing without a reload,
an agent taking a ticket from the queue, replying, writing a note the employee never sees,
handing over and closing, and an admin building a team."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Site, check_axe, demo_sign_in, join_team, screenshot
from tests.live_api import mint_token
from ticket_service.users.models import Role
from ticket_service.web.auth_routes import DEMO_PEOPLE

POLL = 15_000  # the page asks every 5 s; a busy machine gets some slack


def _open_by_api(site: Site, token: str, text: str) -> str:
    opened = httpx.post(
        site.url("/api/v1/tickets"),
        json={"text": text},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert opened.status_code == 201, opened.text
    return str(opened.json()["guid_ticket"])


def test_employee_sees_the_reply_appear_without_reloading_and_answers(
    site: Site, new_page: Any
) -> None:
    page = new_page()
    demo_sign_in(page, site, "Войти как демо-сотрудник")
    page.goto(site.url("/tickets/new"))
    page.get_by_label("Что нужно сделать?").fill("Не открывается почта")
    page.get_by_role("button", name="Отправить заявку").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Не открывается почта")
    guid = page.url.rsplit("/", 1)[1]
    expect(page.locator("#comments")).to_contain_text("Сообщений пока нет.")
    # A mark on this very document: a reload or a navigation would lose it.
    page.evaluate("window.notReloaded = true")

    agent = join_team(site, "778")
    for body, internal in (("Перезапустите Outlook", False), ("Похоже на профиль", True)):
        said = httpx.post(
            site.url(f"/api/v1/tickets/{guid}/comments"),
            json={"body": body, "internal": internal},
            headers={"Authorization": f"Bearer {agent}"},
        )
        assert said.status_code == 201, said.text
    expect(page.locator("#comments")).to_contain_text("Перезапустите Outlook", timeout=POLL)
    assert page.evaluate("window.notReloaded") is True
    expect(page.get_by_text("Похоже на профиль")).to_have_count(0)
    screenshot(page, "ticket_conversation_employee")
    check_axe(page)

    page.get_by_label("Ваш ответ").fill("Перезапустил, не помогло")
    page.get_by_role("button", name="Ответить").click()
    expect(page.locator("#comments")).to_contain_text("Перезапустил, не помогло")
    expect(page.get_by_text("Похоже на профиль")).to_have_count(0)
    # Her own message can still be corrected.
    page.get_by_role("link", name=re.compile("Изменить сообщение")).click()
    page.get_by_label("Текст").fill("Перезапустил Outlook, не помогло")
    screenshot(page, "comment_edit")
    check_axe(page)
    page.get_by_role("button", name="Сохранить").click()
    expect(page.locator("#comments")).to_contain_text("Перезапустил Outlook, не помогло")
    expect(page.locator("#comments")).to_contain_text("(изменено)")
    assert page.csp_errors == []


def test_agent_takes_from_the_queue_replies_notes_hands_over_and_closes(
    site: Site, new_page: Any
) -> None:
    employee_token = mint_token(site.env, site.workdir, DEMO_PEOPLE[Role.employee][0], "employee")
    guid = _open_by_api(site, employee_token, "Нужен второй монитор")
    join_team(site, DEMO_PEOPLE[Role.agent][0])
    join_team(site, "779")  # the colleague it is handed to

    agent = new_page()
    demo_sign_in(agent, site, "Войти как демо-агент")
    expect(agent.get_by_role("link", name=re.compile("Без исполнителя 1"))).to_be_visible()
    agent.get_by_role("link", name=re.compile("Без исполнителя")).click()
    screenshot(agent, "queue_unassigned")
    check_axe(agent)
    agent.get_by_role("link", name="Нужен второй монитор").click()
    agent.get_by_role("button", name="Взять", exact=True).click()
    expect(agent.locator("#activity")).to_contain_text("Исполнитель: Демо-агент")

    agent.get_by_label("Ответ или внутренняя заметка").fill("Какая модель нужна?")
    agent.get_by_role("button", name="Ответить").click()
    expect(agent.locator("#comments")).to_contain_text("Какая модель нужна?")
    agent.get_by_label("Ответ или внутренняя заметка").fill("На складе только Dell")
    agent.get_by_role("button", name="Внутренняя заметка").click()
    note = agent.locator("#comments li.internal")
    expect(note).to_contain_text("На складе только Dell")
    expect(note).to_contain_text("Внутренняя заметка: автор её не видит")
    agent.get_by_role("button", name="Следить").click()
    expect(agent.get_by_role("button", name="Не следить")).to_be_visible()
    screenshot(agent, "ticket_agent_conversation")
    check_axe(agent)

    employee = new_page()
    demo_sign_in(employee, site, "Войти как демо-сотрудник")
    employee.goto(site.url(f"/tickets/{guid}"))
    expect(employee.locator("#comments")).to_contain_text("Какая модель нужна?")
    expect(employee.get_by_text("На складе только Dell")).to_have_count(0)
    expect(employee.get_by_role("button", name="Внутренняя заметка")).to_have_count(0)
    expect(employee.get_by_role("heading", name="Работа с заявкой")).to_have_count(0)

    agent.get_by_label("Исполнитель").select_option("779")
    agent.get_by_role("button", name="Назначить").click()
    expect(agent.locator("#activity")).not_to_contain_text("Исполнитель: Демо-агент")
    got = httpx.get(
        site.url(f"/api/v1/tickets/{guid}"),
        headers={"Authorization": f"Bearer {employee_token}"},
    )
    assert got.json()["assignee"] == "779"
    agent.get_by_role("button", name="Закрыть: выполнена").click()
    expect(agent.locator("#activity")).to_contain_text("Выполнена")
    # The employee's open page learns of the close by itself.
    expect(employee.locator("#activity")).to_contain_text("Выполнена", timeout=POLL)
    expect(employee.get_by_text("На складе только Dell")).to_have_count(0)
    assert agent.csp_errors == []
    assert employee.csp_errors == []


def test_admin_adds_a_team_member_and_sets_the_assignment_mode(site: Site, new_page: Any) -> None:
    mint_token(site.env, site.workdir, "780", "agent")
    page = new_page()
    demo_sign_in(page, site, "Войти как демо-администратор")
    page.goto(site.url("/admin/services/general"))
    page.get_by_label("Добавить по Discord id").fill("780")
    page.get_by_role("button", name="Добавить в команду").click()
    expect(page.get_by_role("button", name=re.compile("Убрать .* из команды"))).to_have_count(1)
    page.get_by_label("Кому достаётся новая заявка").select_option("round_robin")
    page.get_by_role("button", name="Сохранить").click()
    expect(page.get_by_text("Сохранено.")).to_be_visible()
    expect(page.get_by_label("Кому достаётся новая заявка")).to_have_value("round_robin")
    screenshot(page, "admin_service_team")
    check_axe(page)
    # What it does: the next request goes to the new member by itself.
    employee = mint_token(site.env, site.workdir, "5002", "employee")
    guid = _open_by_api(site, employee, "Автоматически назначенная")
    got = httpx.get(
        site.url(f"/api/v1/tickets/{guid}"), headers={"Authorization": f"Bearer {employee}"}
    )
    assert got.json()["assignee"] == "780"
    assert page.csp_errors == []


def test_queue_and_ticket_at_phone_width(site: Site, new_page: Any) -> None:
    employee = mint_token(site.env, site.workdir, "5003", "employee")
    guid = _open_by_api(site, employee, "Заявка с телефона")
    join_team(site, DEMO_PEOPLE[Role.agent][0])
    page = new_page(width=375)
    demo_sign_in(page, site, "Войти как демо-агент")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.goto(site.url(f"/tickets/{guid}"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "ticket_agent_phone")
