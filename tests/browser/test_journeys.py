"""Whole journeys in Chromium: what employees, agents and admins click through."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Site, check_axe, demo_sign_in, join_team, screenshot
from tests.live_api import mint_token
from ticket_service.users.models import Role
from ticket_service.web.auth_routes import DEMO_PEOPLE


def test_employee_signs_in_with_discord_opens_a_ticket_by_keyboard_and_sees_it_move(
    site: Site, new_page: Any
) -> None:
    site.stub.user("4242", "alice", global_name="Алиса", roles=[])
    site.stub.signing_in = "4242"
    page = new_page()
    # Asked for a page first: signed out, so to the sign-in page, and back after Discord.
    page.goto(site.url("/tickets/new"))
    expect(page).to_have_url(re.compile(r"/login\?next=/tickets/new$"))
    check_axe(page)
    screenshot(page, "login")
    page.get_by_role("link", name="Войти через Discord").click()
    expect(page).to_have_url(site.url("/tickets/new"))
    expect(page.get_by_text("Алиса")).to_be_visible()

    # Keyboard only: the fields in order, typed, sent with Enter on the button.
    page.get_by_label("Сервис").focus()
    page.keyboard.press("Tab")  # priority
    page.keyboard.press("ArrowDown")  # normal -> high
    page.keyboard.press("Tab")  # title (optional)
    page.keyboard.press("Tab")  # text
    page.keyboard.type("Не работает VPN\nС утра не подключается из дома.")
    screenshot(page, "ticket_new")
    check_axe(page)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Не работает VPN")
    expect(page.get_by_text("Высокий")).to_be_visible()
    guid = page.url.rsplit("/", 1)[1]

    # An agent takes it into work through the API: the page shows it without a reload.
    token = join_team(site, "777")
    taken = httpx.post(
        site.url(f"/api/v1/tickets/{guid}/status"),
        json={"status": "processing"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert taken.status_code == 200, taken.text
    expect(page.locator("#activity")).to_contain_text("В работе", timeout=15_000)
    screenshot(page, "ticket_employee")
    check_axe(page)

    # Withdraw it, then it can be reopened.
    page.get_by_role("button", name="Отозвать заявку").click()
    expect(page.locator("#activity")).to_contain_text("Закрыта без решения")
    expect(page.get_by_role("button", name="Открыть снова")).to_be_visible()

    page.goto(site.url("/tickets"))
    expect(page.get_by_role("link", name="Не работает VPN")).to_be_visible()
    screenshot(page, "tickets")
    check_axe(page)
    assert page.csp_errors == []


def test_agent_works_the_queue(site: Site, new_page: Any) -> None:
    employee = mint_token(site.env, site.workdir, "5001", "employee")
    opened = httpx.post(
        site.url("/api/v1/tickets"),
        json={"text": "Сломался принтер на 3 этаже", "priority": "urgent"},
        headers={"Authorization": f"Bearer {employee}"},
    )
    assert opened.status_code == 201
    join_team(site, DEMO_PEOPLE[Role.agent][0])  # the demo agent works `general`
    page = new_page()
    demo_sign_in(page, site, "Войти как демо-агент")
    expect(page).to_have_url(site.url("/queue"))
    expect(page.get_by_role("link", name="Сломался принтер на 3 этаже")).to_be_visible()
    screenshot(page, "queue")
    check_axe(page)
    page.get_by_role("link", name="Сломался принтер на 3 этаже").click()
    page.get_by_role("button", name="Взять в работу").click()
    expect(page.locator("#activity")).to_contain_text("Демо-агент")
    page.get_by_role("button", name="Ждать ответа автора").click()
    expect(page.locator("#activity")).to_contain_text("Ждёт ответа автора")
    page.get_by_role("button", name="Закрыть: выполнена").click()
    expect(page.locator("#activity")).to_contain_text("Выполнена")
    screenshot(page, "ticket_agent")
    check_axe(page)
    page.goto(site.url("/queue?view=all"))
    expect(page.get_by_role("link", name="Сломался принтер на 3 этаже")).to_be_visible()
    assert page.csp_errors == []


def test_admin_sets_up_a_service(site: Site, new_page: Any) -> None:
    page = new_page()
    demo_sign_in(page, site, "Войти как демо-администратор")
    page.goto(site.url("/admin/services"))
    page.get_by_label("Код (латинские буквы, цифры, - и _)").fill("hr")
    page.get_by_label("Название").fill("Отдел кадров")
    page.get_by_label("Описание").fill("Отпуска, справки, пропуска")
    page.get_by_role("button", name="Добавить").click()
    expect(page).to_have_url(site.url("/admin/services/hr"))
    page.get_by_label("Также писать о его заявках (по адресу в строке)").fill("hr@1440.test")
    page.get_by_role("button", name="Сохранить").click()
    expect(page.get_by_text("Сохранено.")).to_be_visible()
    screenshot(page, "admin_service")
    check_axe(page)
    for path, name in (
        ("/admin/people", "admin_people"),
        ("/admin/deliveries", "admin_deliveries"),
    ):
        page.goto(site.url(path))
        screenshot(page, name)
        check_axe(page)
    assert page.csp_errors == []


def test_a_tampered_form_is_refused(site: Site, new_page: Any) -> None:
    page = new_page()
    demo_sign_in(page, site, "Войти как демо-сотрудник")
    page.goto(site.url("/tickets/new"))
    page.get_by_label("Что нужно сделать?").fill("Подделка")
    page.locator('form[action="/tickets/new"] input[name=csrf_token]').evaluate(
        "input => input.value = 'forged'"
    )
    page.get_by_role("button", name="Отправить заявку").click()
    expect(page.get_by_role("heading", name="Форма устарела")).to_be_visible()
    page.goto(site.url("/tickets"))
    expect(page.get_by_text("Подделка")).to_have_count(0)


def test_phone_width_and_english(site: Site, new_page: Any) -> None:
    page = new_page(width=375, locale="en-US")
    demo_sign_in(page, site, "Sign in as demo employee")
    page.goto(site.url("/tickets/new"))
    expect(page.get_by_role("heading", name="New request")).to_be_visible()
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "ticket_new_phone_en")
    page.get_by_role("button", name="Русский").click()
    expect(page.get_by_role("heading", name="Новая заявка")).to_be_visible()
