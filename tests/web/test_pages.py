"""The web UI as a browser without JavaScript sees it: forms, redirects, cookies."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pytest_httpserver import HTTPServer

from tests.auth.discord_stub import DiscordStub
from tests.factories import auth_headers, join_team, open_ticket, token_for
from tests.web.conftest import csrf_of, demo_sign_in, post_form
from ticket_service.users.models import Role
from ticket_service.web.auth_routes import DEMO_PEOPLE
from ticket_service.web.security import OAUTH_COOKIE, SESSION_COOKIE, safe_next


async def test_pages_are_russian_by_default_with_a_strict_csp(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/login", headers={"accept-language": "de-DE,de;q=0.9"})
    assert response.status_code == 200
    assert '<html lang="ru">' in response.text
    assert "Войти через Discord" in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp
    assert "<script>" not in response.text
    assert "style=" not in response.text


async def test_english_from_accept_language_and_the_switch(browser: httpx.AsyncClient) -> None:
    english = await browser.get("/login", headers={"accept-language": "en-GB,en;q=0.9"})
    assert "Sign in with Discord" in english.text
    switched = await post_form(browser, "/login", "/lang", {"lang": "en", "next": "/login"})
    assert switched.status_code == 303
    assert switched.headers["location"] == "/login"
    assert "Sign in with Discord" in (await browser.get("/login")).text  # ru Accept-Language
    await post_form(browser, "/login", "/lang", {"lang": "ru", "next": "//evil.test"})
    assert "Войти через Discord" in (await browser.get("/login")).text


async def test_a_form_without_its_csrf_token_is_refused(browser: httpx.AsyncClient) -> None:
    await demo_sign_in(browser, "employee")
    fields = {"service": "general", "priority": "normal", "text": "Нужен монитор"}
    missing = await browser.post("/tickets/new", data=fields)
    assert missing.status_code == 403
    assert "Форма устарела" in missing.text
    wrong = await browser.post("/tickets/new", data={**fields, "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    mine = (await browser.get("/tickets")).text
    assert "Нужен монитор" not in mine
    ok = await post_form(browser, "/tickets/new", "/tickets/new", fields)
    assert ok.status_code == 303


async def test_new_ticket_errors_are_next_to_the_fields(browser: httpx.AsyncClient) -> None:
    await demo_sign_in(browser, "employee")
    response = await post_form(
        browser,
        "/tickets/new",
        "/tickets/new",
        {"service": "nope", "priority": "whenever", "title": "a\nb", "text": "  "},
    )
    assert response.status_code == 422
    html = response.text
    assert 'id="text-error"' in html
    assert "Заполните это поле." in html
    assert 'id="priority-error"' in html
    assert "Выберите один из вариантов." in html
    assert 'aria-describedby="text-error"' in html
    # What was typed stays in the form.
    assert "  " not in html.split("<textarea")[1].split(">")[0]


async def test_unknown_service_is_reported_on_its_field(browser: httpx.AsyncClient) -> None:
    await demo_sign_in(browser, "employee")
    response = await post_form(
        browser, "/tickets/new", "/tickets/new", {"service": "nope", "text": "Нужен стул"}
    )
    assert response.status_code == 422
    assert 'id="service-error"' in response.text
    assert "Такого действующего сервиса нет." in response.text


async def test_employee_opens_sees_and_withdraws_a_ticket(browser: httpx.AsyncClient) -> None:
    await demo_sign_in(browser, "employee")
    created = await post_form(
        browser,
        "/tickets/new",
        "/tickets/new",
        {"service": "general", "priority": "high", "title": "", "text": "VPN не работает\nС утра"},
    )
    page_url = created.headers["location"]
    ticket = await browser.get(page_url)
    assert "VPN не работает" in ticket.text
    assert "Высокий" in ticket.text
    # The author may only withdraw an open ticket: exactly one move is offered.
    assert 'value="closed_fail"' in ticket.text
    assert "Отозвать заявку" in ticket.text
    assert 'value="processing"' not in ticket.text
    listed = await browser.get("/tickets", params={"q": "vpn"})
    assert "VPN не работает" in listed.text
    assert "VPN" not in (await browser.get("/tickets", params={"q": "принтер"})).text
    token = csrf_of(ticket.text)
    withdrawn = await browser.post(
        f"{page_url}/status", data={"csrf_token": token, "status": "closed_fail", "version": "1"}
    )
    assert withdrawn.status_code == 303
    after = await browser.get(page_url)
    assert "Закрыта без решения" in after.text
    assert "Открыть снова" in after.text
    activity = await browser.get(f"{page_url}/activity")
    assert activity.text.lstrip().startswith('<div id="activity"')
    assert "<html" not in activity.text
    stale = await browser.post(
        f"{page_url}/status", data={"csrf_token": token, "status": "open", "version": "1"}
    )
    assert stale.status_code == 409
    assert "Заявка изменилась" in stale.text


async def test_another_persons_ticket_is_a_friendly_404(
    browser: httpx.AsyncClient, web_app: FastAPI, client_for_api: httpx.AsyncClient
) -> None:
    other = await open_ticket(client_for_api, await auth_headers(web_app, "1002"), "Чужая заявка")
    await demo_sign_in(browser, "employee")
    response = await browser.get(f"/tickets/{other['guid_ticket']}")
    assert response.status_code == 404
    assert "Страница не найдена" in response.text
    assert "Чужая" not in response.text
    assert (await browser.get("/tickets/not-a-uuid")).status_code == 404
    assert (await browser.get("/no-such-page")).status_code == 404


async def test_agent_queue_and_staff_moves(
    browser: httpx.AsyncClient, web_app: FastAPI, client_for_api: httpx.AsyncClient
) -> None:
    ticket = await open_ticket(client_for_api, await auth_headers(web_app, "1002"), "Сломан стул")
    # The demo agent works `general` (agents see their teams' tickets).
    await token_for(web_app, DEMO_PEOPLE[Role.agent][0], Role.agent)
    await join_team(web_app, DEMO_PEOPLE[Role.agent][0], "general")
    await demo_sign_in(browser, "agent")
    home = await browser.get("/")
    assert home.headers["location"] == "/queue"
    queue = await browser.get("/queue")
    assert "Сломан стул" in queue.text
    page = await browser.get(f"/tickets/{ticket['guid_ticket']}")
    assert "Взять в работу" in page.text
    assert "Закрыть: выполнена" in page.text
    taken = await browser.post(
        f"/tickets/{ticket['guid_ticket']}/status",
        data={"csrf_token": csrf_of(page.text), "status": "processing", "version": "1"},
    )
    assert taken.status_code == 303
    mine = await browser.get("/queue", params={"view": "mine"})
    assert "Сломан стул" in mine.text
    assert "Сломан стул" not in (await browser.get("/queue", params={"view": "waiting"})).text
    assert (await browser.get("/queue", params={"view": "bogus"})).status_code == 404


async def test_signed_out_pages_send_to_login_and_back(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/tickets", params={"q": "vpn"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + quote("/tickets?q=vpn", safe="/")
    # An expired or revoked session is forgotten and asks for sign-in the same way.
    browser.cookies.set(SESSION_COOKIE, "expired-token")
    again = await browser.get("/tickets/new")
    assert again.status_code == 303
    assert again.headers["location"] == "/login?next=/tickets/new"
    login = await browser.get("/login", params={"next": "/tickets/new"})
    signed = await browser.post(
        "/login/demo",
        data={"csrf_token": csrf_of(login.text), "role": "employee", "next": "/tickets/new"},
    )
    assert signed.headers["location"] == "/tickets/new"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/tickets/1?x=y", "/tickets/1?x=y"),
        ("//evil.test/x", "/"),
        ("https://evil.test", "/"),
        ("/\\evil.test", "/"),
        ("tickets", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        (None, "/"),
    ],
)
def test_next_is_only_a_path_on_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


async def test_sign_out_revokes_the_session(browser: httpx.AsyncClient) -> None:
    await demo_sign_in(browser, "employee")
    token = browser.cookies.get(SESSION_COOKIE)
    out = await post_form(browser, "/tickets", "/logout", {})
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    browser.cookies.set(SESSION_COOKIE, token or "")
    assert (await browser.get("/tickets")).status_code == 303  # the old cookie is dead


async def test_discord_sign_in_lands_on_the_page_first_asked_for(
    browser: httpx.AsyncClient, discord: HTTPServer
) -> None:
    stub = DiscordStub(discord)
    start = await browser.get("/login/discord", params={"next": "/tickets?q=x"})
    assert start.status_code == 303
    link = urlsplit(start.headers["location"])
    query = parse_qs(link.query)
    assert query["redirect_uri"] == ["http://testserver/auth/callback"]
    state = query["state"][0]
    code = stub.user("555", "bob", roles=[])
    # A state that is not this browser's own is refused (login CSRF).
    forged = await browser.get("/auth/callback", params={"code": code, "state": "x" * 43})
    assert forged.status_code == 401
    assert "Войти не удалось" in forged.text
    back = await browser.get("/auth/callback", params={"code": code, "state": state})
    assert back.status_code == 303, back.text
    assert back.headers["location"] == "/tickets?q=x"
    assert browser.cookies.get(SESSION_COOKIE)
    cookie_header = back.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookie_header if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=lax" in session_cookie
    assert any(c.startswith(OAUTH_COOKIE + '=""') for c in cookie_header)
    assert (await browser.get("/tickets")).status_code == 200
    # Cancelled at Discord: back to the sign-in page, with a word about it.
    cancelled = await browser.get("/auth/callback", params={"error": "access_denied"})
    assert cancelled.headers["location"].startswith("/login?error=cancelled")


async def test_demo_sign_in_is_off_unless_configured(
    web_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    web_app.state.settings = web_app.state.settings.model_copy(update={"demo_sign_in": False})
    login = await browser.get("/login")
    assert "демо" not in login.text
    refused = await browser.post(
        "/login/demo", data={"csrf_token": csrf_of(login.text), "role": "admin"}
    )
    assert refused.status_code == 404


async def test_admin_edits_a_service_with_write_only_webhooks(browser: httpx.AsyncClient) -> None:
    await demo_sign_in(browser, "admin")
    created = await post_form(
        browser,
        "/admin/services",
        "/admin/services",
        {"slug": "it", "name": "IT-поддержка", "description": "Компьютеры"},
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/admin/services/it"
    bad = await post_form(browser, "/admin/services", "/admin/services", {"slug": "Не slug"})
    assert bad.status_code == 422
    assert 'id="slug-error"' in bad.text
    hook = "https://127.0.0.1/services/T/B/secret-part"  # an allowed host in tests
    saved = await post_form(
        browser,
        "/admin/services/it",
        "/admin/services/it",
        {
            "name": "IT",
            "description": "Ноутбуки, VPN",
            "is_active": "on",
            "notify_emails": "it@1440.test\n",
            "slack_webhook_url": hook,
        },
    )
    assert saved.status_code == 303, saved.text
    page = await browser.get("/admin/services/it")
    assert "Ноутбуки, VPN" in page.text
    assert "it@1440.test" in page.text
    assert "secret-part" not in page.text
    assert "Вебхук Slack — задан" in page.text
    refused = await post_form(
        browser,
        "/admin/services/it",
        "/admin/services/it",
        {"name": "IT", "discord_webhook_url": "http://10.0.0.1/hook", "is_active": "on"},
    )
    assert refused.status_code == 422
    assert 'id="discord_webhook_url-error"' in refused.text
    await post_form(
        browser,
        "/admin/services/it",
        "/admin/services/it",
        {"name": "IT", "remove_slack_webhook_url": "on"},
    )
    page = await browser.get("/admin/services/it")
    assert "Вебхук Slack — не задан" in page.text
    # Unchecked "active": the service takes no new tickets.
    await demo_sign_in(browser, "employee")
    new = await browser.get("/tickets/new")
    assert 'value="it"' not in new.text


async def test_admin_sets_roles_and_revokes_sessions(
    browser: httpx.AsyncClient, web_app: FastAPI, client_for_api: httpx.AsyncClient
) -> None:
    headers = await auth_headers(web_app, "1002")
    await demo_sign_in(browser, "admin")
    people = await browser.get("/admin/people", params={"q": "1002"})
    assert "1002" in people.text
    made = await post_form(
        browser, "/admin/people", "/admin/people/1002/role", {"role": Role.agent.value}
    )
    assert made.status_code == 303
    me = await client_for_api.get("/api/v1/me", headers=headers)
    assert me.json()["role"] == "agent"
    revoked = await post_form(browser, "/admin/people", "/admin/people/1002/sessions/revoke", {})
    assert revoked.status_code == 303
    assert (await client_for_api.get("/api/v1/me", headers=headers)).status_code == 401
    missing = await post_form(browser, "/admin/people", "/admin/people/999/role", {"role": "x"})
    assert missing.status_code == 422


def test_demo_people_are_one_per_role() -> None:
    assert set(DEMO_PEOPLE) == set(Role)
