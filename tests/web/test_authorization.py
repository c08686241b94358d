"""Who may open which page and send which form: every web route × every kind of caller,
with the exact answer expected. The web UI's counterpart of
tests/contract/test_authorization_matrix.py (which covers the API), written out from the
rules the pages inherit from the domain services:

- signed out → to the sign-in page and back (`login`), except the sign-in pages, the
  language switch and sign-out;
- a ticket another person may not see is a 404 page (it does not exist for them), never 403:
  here the agent who is not on the `general` team (`agent_off`);
- the author replies, edits their own message, withdraws; only the team claims; the team
  and admins assign; staff follow; a message is edited by its writer only (403 page);
- the queue is for agents and admins (403 page for an employee);
- admin pages are 403 pages for everybody else.

Callers: anonymous, the employee who opened the ticket, an agent not on the ticket's team,
an agent on it, an admin. Every cell gets a fresh ticket, so one caller's change never
decides another's answer. A web route without a row fails `test_every_web_route_has_a_row`;
every form is also refused without its CSRF token (`test_every_form_wants_its_csrf_token`).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from tests.contract.test_authorization_matrix import served_routes
from tests.factories import join_team, token_for
from ticket_service.users.models import Role
from ticket_service.web.security import CSRF_COOKIE, SESSION_COOKIE, csrf_token

CALLERS = ("anonymous", "employee", "agent_off", "agent_on", "admin")
PEOPLE = {
    "employee": ("1001", Role.employee),
    "agent_off": ("2003", Role.agent),
    "agent_on": ("2001", Role.agent),
    "admin": ("3001", Role.admin),
}
TEAM_TARGET = "2002"  # an agent put on (and taken off) the team
ROLE_TARGET = "1003"  # an employee whose role the callers set
LOGIN = "login"  # 303 to /login?next=<the page>
Expected = int | str

# fmt: off
TABLE: dict[str, tuple[Expected, Expected, Expected, Expected, Expected]] = {
    #                                                 anon   employee agent_off agent_on admin
    "GET /":                                         (303,   303,     303,      303,     303),
    "GET /login":                                    (200,   303,     303,      303,     303),
    "GET /login/discord":                            (303,   303,     303,      303,     303),
    "GET /auth/callback":                            (303,   303,     303,      303,     303),
    "POST /login/demo":                              (303,   303,     303,      303,     303),
    "POST /logout":                                  (303,   303,     303,      303,     303),
    "POST /lang":                                    (303,   303,     303,      303,     303),
    "GET /tickets":                                  (LOGIN, 200,     200,      200,     200),
    "GET /tickets/new":                              (LOGIN, 200,     200,      200,     200),
    "POST /tickets/new":                             (LOGIN, 303,     303,      303,     303),
    "GET /tickets/{guid}":                           (LOGIN, 200,     404,      200,     200),
    "GET /tickets/{guid}/activity":                  (LOGIN, 200,     404,      200,     200),
    "GET /tickets/{guid}/conversation":              (LOGIN, 200,     404,      200,     200),
    "POST /tickets/{guid}/status":                   (LOGIN, 303,     404,      303,     303),
    "POST /tickets/{guid}/comments":                 (LOGIN, 303,     404,      303,     303),
    "GET /tickets/{guid}/comments/{comment_id}/edit": (LOGIN, 200,    404,      403,     403),
    "POST /tickets/{guid}/comments/{comment_id}":    (LOGIN, 303,     404,      403,     403),
    "POST /tickets/{guid}/claim":                    (LOGIN, 403,     404,      303,     403),
    "POST /tickets/{guid}/assign":                   (LOGIN, 403,     404,      303,     303),
    "POST /tickets/{guid}/follow":                   (LOGIN, 403,     404,      303,     303),
    "POST /tickets/{guid}/unfollow":                 (LOGIN, 303,     404,      303,     303),
    # the ticket is open: its author may not rate it yet; others never may
    "POST /tickets/{guid}/rating":                   (LOGIN, 409,     404,      403,     403),
    "GET /queue":                                    (LOGIN, 403,     200,      200,     200),
    "GET /admin/services":                           (LOGIN, 403,     403,      403,     200),
    "POST /admin/services":                          (LOGIN, 403,     403,      403,     303),
    "GET /admin/services/{slug}":                    (LOGIN, 403,     403,      403,     200),
    "POST /admin/services/{slug}":                   (LOGIN, 403,     403,      403,     303),
    "POST /admin/services/{slug}/sla":               (LOGIN, 403,     403,      403,     303),
    "POST /admin/services/{slug}/team":              (LOGIN, 403,     403,      403,     303),
    "POST /admin/services/{slug}/team/{discord_id}/remove": (LOGIN, 403, 403,   403,     303),
    "GET /admin/calendars":                          (LOGIN, 403,     403,      403,     200),
    "POST /admin/calendars":                         (LOGIN, 403,     403,      403,     303),
    "GET /admin/calendars/{slug}":                   (LOGIN, 403,     403,      403,     200),
    "POST /admin/calendars/{slug}":                  (LOGIN, 403,     403,      403,     303),
    "GET /admin/people":                             (LOGIN, 403,     403,      403,     200),
    "POST /admin/people/{discord_id}/role":          (LOGIN, 403,     403,      403,     303),
    "POST /admin/people/{discord_id}/sessions/revoke": (LOGIN, 403,   403,      403,     303),
    "GET /admin/deliveries":                         (LOGIN, 403,     403,      403,     200),
    # No such delivery: the admin is let in and finds nothing.
    "POST /admin/deliveries/{delivery_id}/retry":    (LOGIN, 403,     403,      403,     404),
}
# fmt: on


@dataclass
class Cell:
    """What one request works on: a fresh ticket (and a message of its author)."""

    guid: str = ""
    comment_id: int = 0


class World:
    def __init__(self, app: FastAPI, api: httpx.AsyncClient) -> None:
        self.app = app
        self.api = api
        self.bearer: dict[str, dict[str, str]] = {}
        self.sessions: dict[str, str] = {}
        self._made = itertools.count()

    async def add_people(self) -> None:
        for name, (discord_id, role) in PEOPLE.items():
            # The page's session and, apart (sign-out revokes the first), the API's token.
            self.sessions[name] = await token_for(self.app, discord_id, role)
            api_token = await token_for(self.app, discord_id, role)
            self.bearer[name] = {"Authorization": f"Bearer {api_token}"}
        await token_for(self.app, TEAM_TARGET, Role.agent)
        await token_for(self.app, ROLE_TARGET, Role.employee)
        await join_team(self.app, PEOPLE["agent_on"][0], "general")
        calendar = {"slug": "general", "name": "Пятидневка", "hours": {"mon": [["09:00", "18:00"]]}}
        made = await self.api.post("/api/v1/calendars", json=calendar, headers=self.bearer["admin"])
        assert made.status_code == 201, made.text

    async def cell(self) -> Cell:
        made = await self.api.post(
            "/api/v1/tickets", json={"text": "Нужен доступ"}, headers=self.bearer["employee"]
        )
        assert made.status_code == 201, made.text
        guid = made.json()["guid_ticket"]
        said = await self.api.post(
            f"/api/v1/tickets/{guid}/comments",
            json={"body": "Уточнение"},
            headers=self.bearer["employee"],
        )
        assert said.status_code == 201, said.text
        return Cell(guid, said.json()["id"])

    def client(self, caller: str, with_csrf: bool = True) -> httpx.AsyncClient:
        cookies = {CSRF_COOKIE: "csrf-secret"}
        if caller != "anonymous":
            cookies[SESSION_COOKIE] = self.sessions[caller]
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://testserver",
            headers={"accept": "text/html"},
            cookies=cookies,
        )

    def csrf(self) -> str:
        return csrf_token(self.app.state.settings, "csrf-secret")

    def unique(self) -> str:
        return f"s{next(self._made)}"


def _path_and_form(world: World, route: str, cell: Cell) -> tuple[str, dict[str, str]]:
    """The concrete request of a route for a cell: its path and (for a POST) its form."""
    method, template = route.split(" ", 1)
    path = template.format(
        guid=cell.guid,
        comment_id=cell.comment_id,
        slug="general",
        discord_id=ROLE_TARGET if "/people/" in template else TEAM_TARGET,
        delivery_id=987654321,
    )
    forms: dict[str, dict[str, str]] = {
        "POST /login/demo": {"role": "employee", "next": "/tickets"},
        "POST /lang": {"lang": "en", "next": "/tickets"},
        "POST /tickets/new": {"service": "general", "text": "Ещё одна заявка"},
        "POST /tickets/{guid}/status": {"status": "closed_fail"},
        "POST /tickets/{guid}/comments": {"body": "Ответ"},
        "POST /tickets/{guid}/comments/{comment_id}": {"body": "Уточнение, исправлено"},
        "POST /tickets/{guid}/assign": {"assignee": PEOPLE["agent_on"][0]},
        "POST /tickets/{guid}/rating": {"score": "5"},
        "POST /admin/services": {"slug": world.unique(), "name": "Новый сервис"},
        "POST /admin/services/{slug}": {"name": "General", "is_active": "on"},
        "POST /admin/services/{slug}/sla": {
            "auto_close_days": "7",
            "first_urgent": "30",
            "resolution_urgent": "240",
        },
        "POST /admin/services/{slug}/team": {"discord_id": TEAM_TARGET},
        "POST /admin/people/{discord_id}/role": {"role": "employee"},
        "POST /admin/calendars": {
            "slug": world.unique(),
            "name": "Новый",
            "hours_tue": "10:00-17:00",
        },
        "POST /admin/calendars/{slug}": {"name": "Пятидневка", "hours_mon": "09:00-18:00"},
    }
    if method == "GET":
        return path, {}
    return path, forms.get(route, {})


def outcome(response: httpx.Response) -> Expected:
    location = response.headers.get("location", "")
    if response.status_code == 303 and location.startswith("/login?next="):
        return LOGIN
    return response.status_code


async def ask(
    world: World, route: str, caller: str, cell: Cell, with_csrf: bool = True
) -> httpx.Response:
    method = route.split(" ", 1)[0]
    path, form = _path_and_form(world, route, cell)
    async with world.client(caller) as client:
        if method == "GET":
            return await client.get(path)
        if with_csrf:
            form = {"csrf_token": world.csrf(), **form}
        return await client.post(path, data=form)


@pytest.fixture
async def world(web_app: FastAPI) -> AsyncIterator[World]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web_app), base_url="http://testserver"
    ) as api:
        w = World(web_app, api)
        await w.add_people()
        yield w


def test_every_web_route_has_a_row(web_app: FastAPI) -> None:
    served = served_routes(web_app, web=True)
    assert served - set(TABLE) == set(), "web routes without a row in TABLE"
    assert set(TABLE) - served == set(), "rows for routes the app does not serve"


@pytest.mark.parametrize("route", list(TABLE))
async def test_route_access(world: World, route: str) -> None:
    expected = dict(zip(CALLERS, TABLE[route], strict=True))
    answers = {}
    for caller in CALLERS:
        response = await ask(world, route, caller, await world.cell())
        answers[caller] = (outcome(response), response)
    actual = {caller: answer for caller, (answer, _) in answers.items()}
    wrong = [
        f"{caller}: expected {expected[caller]}, got {answer} {response.headers.get('location')}"
        for caller, (answer, response) in answers.items()
        if answer != expected[caller]
    ]
    assert actual == expected, "\n".join(wrong)
    for caller, (answer, response) in answers.items():
        if answer in (403, 404):  # a friendly page, not the API's JSON
            assert response.headers["content-type"].startswith("text/html"), caller


@pytest.mark.parametrize("route", [r for r in TABLE if r.startswith("POST ")])
async def test_every_form_wants_its_csrf_token(world: World, route: str) -> None:
    response = await ask(world, route, "admin", await world.cell(), with_csrf=False)
    assert response.status_code == 403
    assert "Форма устарела" in response.text
