"""The rating form on a closed ticket's page, as a browser without JavaScript uses it."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import auth_headers, join_team, token_for
from tests.web.conftest import csrf_of, demo_sign_in, post_form
from ticket_service.users.models import Role
from ticket_service.web.auth_routes import DEMO_PEOPLE

FORM = 'action="/tickets/{guid}/rating"'


async def _closed_ticket(browser: httpx.AsyncClient) -> str:
    created = await post_form(
        browser,
        "/tickets/new",
        "/tickets/new",
        {"service": "general", "priority": "normal", "title": "", "text": "Сломался монитор"},
    )
    page_url: str = created.headers["location"]
    page = await browser.get(page_url)
    closed = await browser.post(
        f"{page_url}/status",
        data={"csrf_token": csrf_of(page.text), "status": "closed_fail", "version": "1"},
    )
    assert closed.status_code == 303
    return page_url.rsplit("/", 1)[1]


async def test_the_author_rates_a_closed_ticket_on_its_page(
    browser: httpx.AsyncClient, web_app: FastAPI, client_for_api: httpx.AsyncClient
) -> None:
    await demo_sign_in(browser, "employee")
    created = await post_form(
        browser, "/tickets/new", "/tickets/new", {"service": "general", "text": "Нет доступа"}
    )
    open_page = await browser.get(created.headers["location"])
    assert 'name="score"' not in open_page.text  # open: nothing to rate yet

    guid = await _closed_ticket(browser)
    page = await browser.get(f"/tickets/{guid}")
    assert FORM.format(guid=guid) in page.text
    assert "Как мы справились?" in page.text
    assert page.text.count('type="radio" name="score"') == 5
    token = csrf_of(page.text)

    # No choice: the form again, with the reason next to it; nothing stored.
    missing = await browser.post(f"/tickets/{guid}/rating", data={"csrf_token": token})
    assert missing.status_code == 422
    assert "Заполните это поле." in missing.text
    assert FORM.format(guid=guid) in missing.text
    bogus = await browser.post(f"/tickets/{guid}/rating", data={"csrf_token": token, "score": "9"})
    assert bogus.status_code == 422
    assert "Выберите один из вариантов." in bogus.text
    # Without the CSRF token: refused.
    forged = await browser.post(f"/tickets/{guid}/rating", data={"score": "1"})
    assert forged.status_code == 403

    rated = await browser.post(
        f"/tickets/{guid}/rating",
        data={"csrf_token": token, "score": "5", "comment": "  Заменили за час  "},
    )
    assert rated.status_code == 303
    assert rated.headers["location"] == f"/tickets/{guid}"
    after = await browser.get(f"/tickets/{guid}")
    assert 'name="score"' not in after.text
    assert "★★★★★" in after.text
    assert "Заменили за час" in after.text
    assert "Оценка решения: 5/5" in after.text  # in the history

    # The API shows the same rating; a second one is refused.
    author = await auth_headers(web_app, DEMO_PEOPLE[Role.employee][0])
    shown = (await client_for_api.get(f"/api/v1/tickets/{guid}", headers=author)).json()
    assert (shown["rating"]["score"], shown["rating"]["comment"]) == (5, "Заменили за час")
    again = await browser.post(f"/tickets/{guid}/rating", data={"csrf_token": token, "score": "1"})
    assert again.status_code == 409

    # Staff see the rating, never the form.
    await token_for(web_app, DEMO_PEOPLE[Role.agent][0], Role.agent)
    await join_team(web_app, DEMO_PEOPLE[Role.agent][0], "general")
    await demo_sign_in(browser, "agent")
    staff_view = await browser.get(f"/tickets/{guid}")
    assert "★★★★★" in staff_view.text
    assert 'name="score"' not in staff_view.text


async def test_staff_get_no_form_on_an_unrated_closed_ticket(
    browser: httpx.AsyncClient, web_app: FastAPI
) -> None:
    await demo_sign_in(browser, "employee")
    guid = await _closed_ticket(browser)
    await token_for(web_app, DEMO_PEOPLE[Role.agent][0], Role.agent)
    await join_team(web_app, DEMO_PEOPLE[Role.agent][0], "general")
    await demo_sign_in(browser, "agent")
    page = await browser.get(f"/tickets/{guid}")
    assert "Сломался монитор" in page.text
    assert 'name="score"' not in page.text
    refused = await browser.post(
        f"/tickets/{guid}/rating", data={"csrf_token": csrf_of(page.text), "score": "5"}
    )
    assert refused.status_code == 403
