"""Who may call what: every route × every kind of caller, with the exact status expected.

The table below is the authorization contract, written out from the rules (not read from
the code under test):

- no token → 401 everywhere except sign-in, health, docs; `/metrics` wants its own token;
- employees see and act on their own tickets only: another's ticket is 404 (it does not
  exist for them), never 403; in lists it is simply absent;
- an author may withdraw (→ closed_fail) or reopen a ticket; any other move is 403;
- the author and staff reply on a ticket; only staff write internal notes (the author gets
  403) and only staff see them; only a comment's writer edits it (403 for anyone else);
- admins see and move every ticket; an agent those of the services whose team they are
  on (here: `general`), plus their own, those assigned to them and those they follow; on
  a ticket of another service they opened themselves an agent is just its author;
- the team's tickets are claimed by its members, assigned by its members and admins, and
  followed by their staff (admin, team, assignee); `/me/availability` is for staff;
- admin-only endpoints (services create/update, roles, deliveries) are 403 for everyone
  else, checked before the target is looked up (so no 404 leaks what exists);
- only the author of a closed ticket rates it (staff who see it: 403; open: 409);
- statistics are for staff: admins of every service, agents of their teams' (403 else);
- a queued request (`GET /api/v1/actions/{guid}`) is visible to whoever sent it and to
  admins; anybody else, agents included, gets 404.

Callers: `anonymous` (no token), `author` and `other` (employees), `agent`, `admin`.
Resources: `own` = opened/sent by the caller (the author's, for an anonymous caller);
`others` = by another employee (for the author that is `other`, for everybody else the
author); `elsewhere` = in the service `elsewhere`, whose team the agent is not on (the
other tickets are in `general`, whose team the agent is on). Every cell gets a fresh
resource, so one caller's change never decides another's answer. A route without a row
fails `test_every_route_has_a_row`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pytest_httpserver import HTTPServer

from tests.auth.discord_stub import DiscordStub, start
from tests.conftest import make_settings
from tests.notifications.conftest import run_worker_until_idle
from ticket_service.auth.service import mint_token
from ticket_service.config import Settings
from ticket_service.users.models import Role

CALLERS = ("anonymous", "author", "other", "agent", "admin")
# A list answered 200: with or without the cell's resource in it.
LISTED = "200 listed"
ABSENT = "200 absent"

Expected = int | str

# fmt: off
# endpoint -> case -> the exact answer to each caller (anon = anonymous).
MATRIX: dict[str, dict[str, tuple[Expected, Expected, Expected, Expected, Expected]]] = {
    #                        anon    author  other   agent   admin
    # --- seed paths ---------------------------------------------------------------------
    "POST /api/tickets/open": {
        "-":                (401,    200,    200,    200,    200),
    },
    "GET /api/tickets/open": {
        "-":                (401,    200,    200,    200,    200),
    },
    "GET /api/tickets/get": {
        "own":              (401,    LISTED, LISTED, LISTED, LISTED),
        "others":           (401,    ABSENT, ABSENT, LISTED, LISTED),
        "others elsewhere": (401,    ABSENT, ABSENT, ABSENT, LISTED),
        "own elsewhere":    (401,    LISTED, LISTED, LISTED, LISTED),
    },
    "POST /api/tickets/change_status": {
        "own, withdraw":    (401,    200,    200,    200,    200),
        "others, withdraw": (401,    404,    404,    200,    200),
        "own, take":        (401,    403,    403,    200,    200),
        "others, take":     (401,    404,    404,    200,    200),
    },
    "GET /api/tickets/change_status": {
        "own, withdraw":    (401,    200,    200,    200,    200),
        "others, withdraw": (401,    404,    404,    200,    200),
        "own, take":        (401,    403,    403,    200,    200),
        "others, take":     (401,    404,    404,    200,    200),
    },
    # --- v1 tickets ---------------------------------------------------------------------
    "POST /api/v1/tickets": {
        "-":                (401,    201,    201,    201,    201),
    },
    "GET /api/v1/tickets": {
        "own":              (401,    LISTED, LISTED, LISTED, LISTED),
        "others":           (401,    ABSENT, ABSENT, LISTED, LISTED),
        "others elsewhere": (401,    ABSENT, ABSENT, ABSENT, LISTED),
        "own elsewhere":    (401,    LISTED, LISTED, LISTED, LISTED),
    },
    "GET /api/v1/tickets/{guid_ticket}": {
        "own":              (401,    200,    200,    200,    200),
        "others":           (401,    404,    404,    200,    200),
        "others elsewhere": (401,    404,    404,    404,    200),
        "own elsewhere":    (401,    200,    200,    200,    200),
    },
    "GET /api/v1/tickets/{guid_ticket}/events": {
        "own":              (401,    200,    200,    200,    200),
        "others":           (401,    404,    404,    200,    200),
        "others elsewhere": (401,    404,    404,    404,    200),
        "own elsewhere":    (401,    200,    200,    200,    200),
    },
    "POST /api/v1/tickets/{guid_ticket}/status": {
        "own, withdraw":    (401,    200,    200,    200,    200),
        "others, withdraw": (401,    404,    404,    200,    200),
        "own, take":        (401,    403,    403,    200,    200),
        "others, take":     (401,    404,    404,    200,    200),
        "others elsewhere, take": (401, 404, 404,    404,    200),
        # An agent who opened a ticket with another service is just its author there.
        "own elsewhere, take":    (401, 403, 403,    403,    200),
        "own elsewhere, withdraw": (401, 200, 200,   200,    200),
    },
    "POST /api/v1/tickets/{guid_ticket}/claim": {
        # Admins are not on `general`'s team: claiming is for the team's members.
        "own":              (401,    403,    403,    200,    403),
        "others":           (401,    404,    404,    200,    403),
        "others elsewhere": (401,    404,    404,    404,    403),
    },
    "POST /api/v1/tickets/{guid_ticket}/assign": {
        # To the agent, who is on `general`'s team; to nobody elsewhere.
        "own":              (401,    403,    403,    200,    200),
        "others":           (401,    404,    404,    200,    200),
        "others elsewhere": (401,    404,    404,    404,    200),
        "own elsewhere":    (401,    403,    403,    403,    200),
    },
    "PUT /api/v1/tickets/{guid_ticket}/followers/me": {
        "own":              (401,    403,    403,    204,    204),
        "others":           (401,    404,    404,    204,    204),
        "others elsewhere": (401,    404,    404,    404,    204),
        "own elsewhere":    (401,    403,    403,    403,    204),
    },
    "DELETE /api/v1/tickets/{guid_ticket}/followers/me": {
        "own":              (401,    204,    204,    204,    204),
        "others":           (401,    404,    404,    204,    204),
        "others elsewhere": (401,    404,    404,    404,    204),
    },
    # --- conversation -------------------------------------------------------------------
    "POST /api/v1/tickets/{guid_ticket}/comments": {
        "own, reply":       (401,    201,    201,    201,    201),
        "others, reply":    (401,    404,    404,    201,    201),
        "own, note":        (401,    403,    403,    201,    201),
        "others, note":     (401,    404,    404,    201,    201),
    },
    "GET /api/v1/tickets/{guid_ticket}/comments": {
        "own":              (401,    LISTED, LISTED, LISTED, LISTED),
        "others":           (401,    404,    404,    LISTED, LISTED),
        "own, note":        (401,    ABSENT, ABSENT, LISTED, LISTED),
        "others, note":     (401,    404,    404,    LISTED, LISTED),
    },
    "PATCH /api/v1/tickets/{guid_ticket}/comments/{comment_id}": {
        "own":              (401,    200,    200,    200,    200),
        "own, by staff":    (401,    403,    403,    403,    403),
        "others":           (401,    404,    404,    403,    403),
    },
    # --- satisfaction ratings: the author of a closed ticket, once -----------------------
    "POST /api/v1/tickets/{guid_ticket}/rating": {
        "own, closed":      (401,    201,    201,    201,    201),
        "own, open":        (401,    409,    409,    409,    409),
        "others, closed":   (401,    404,    404,    403,    403),
        "others elsewhere, closed": (401, 404, 404,  404,    403),
    },
    # --- statistics: staff; agents for their teams' services ----------------------------
    "GET /api/v1/stats": {
        "-":                (401,    403,    403,    200,    200),
        "general":          (401,    403,    403,    200,    200),
        "elsewhere":        (401,    403,    403,    403,    200),
    },
    # --- queued requests (Prefer: respond-async) ----------------------------------------
    "GET /api/v1/actions/{guid_action}": {
        "own":              (401,    200,    200,    200,    200),
        "others":           (401,    404,    404,    404,    200),
    },
    # --- me -----------------------------------------------------------------------------
    "GET /api/v1/me": {
        "-":                (401,    200,    200,    200,    200),
    },
    "GET /api/v1/me/notifications": {
        "-":                (401,    200,    200,    200,    200),
    },
    "PATCH /api/v1/me/notifications": {
        "-":                (401,    200,    200,    200,    200),
    },
    "PUT /api/v1/me/availability": {
        "-":                (401,    403,    403,    200,    200),
    },
    # --- services -----------------------------------------------------------------------
    "GET /api/v1/services": {
        "-":                (401,    200,    200,    200,    200),
        "inactive":         (401,    ABSENT, ABSENT, LISTED, LISTED),
    },
    "POST /api/v1/services": {
        "-":                (401,    403,    403,    403,    201),
    },
    "PATCH /api/v1/services/{slug}": {
        "existing":         (401,    403,    403,    403,    200),
        "missing":          (401,    403,    403,    403,    404),
    },
    "GET /api/v1/services/{slug}/agents": {
        "existing":         (401,    403,    403,    403,    200),
        "missing":          (401,    403,    403,    403,    404),
    },
    "PUT /api/v1/services/{slug}/agents/{discord_id}": {
        "existing":         (401,    403,    403,    403,    200),
        "missing":          (401,    403,    403,    403,    404),
    },
    "DELETE /api/v1/services/{slug}/agents/{discord_id}": {
        "existing":         (401,    403,    403,    403,    204),
        "missing":          (401,    403,    403,    403,    404),
    },
    # --- SLA: agents read, admins write ---------------------------------------------------
    "GET /api/v1/services/{slug}/sla": {
        "existing":         (401,    403,    403,    200,    200),
        "missing":          (401,    403,    403,    404,    404),
    },
    "PUT /api/v1/services/{slug}/sla": {
        "existing":         (401,    403,    403,    403,    200),
        "missing":          (401,    403,    403,    403,    404),
    },
    "GET /api/v1/calendars": {
        "-":                (401,    403,    403,    200,    200),
    },
    "POST /api/v1/calendars": {
        "-":                (401,    403,    403,    403,    201),
    },
    "GET /api/v1/calendars/{slug}": {
        "existing":         (401,    403,    403,    200,    200),
        "missing":          (401,    403,    403,    404,    404),
    },
    "PUT /api/v1/calendars/{slug}": {
        "existing":         (401,    403,    403,    403,    200),
        "missing":          (401,    403,    403,    403,    404),
    },
    "DELETE /api/v1/calendars/{slug}": {
        "existing":         (401,    403,    403,    403,    204),
        "missing":          (401,    403,    403,    403,    404),
    },
    # --- users --------------------------------------------------------------------------
    "PUT /api/v1/users/{discord_id}/role": {
        "existing":         (401,    403,    403,    403,    200),
        "missing":          (401,    403,    403,    403,    404),
    },
    "DELETE /api/v1/users/{discord_id}/sessions": {
        "existing":         (401,    403,    403,    403,    204),
        "missing":          (401,    403,    403,    403,    404),
    },
    # --- notification deliveries --------------------------------------------------------
    "GET /api/v1/admin/deliveries": {
        "-":                (401,    403,    403,    403,    200),
    },
    "POST /api/v1/admin/deliveries/{delivery_id}/retry": {
        "dead":             (401,    403,    403,    403,    200),
        "missing":          (401,    403,    403,    403,    404),
    },
    # --- sign-in and tokens (anonymous: no token, a refresh token nobody issued) --------
    "GET /api/discord/auth_link": {
        "-":                (200,    200,    200,    200,    200),
    },
    "GET /api/discord/auth": {
        "-":                (200,    200,    200,    200,    200),
    },
    # Discord's interactions: only Discord's signature opens it, no user token does.
    "POST /api/discord/interactions": {
        "unsigned":         (401,    401,    401,    401,    401),
    },
    "POST /api/v1/auth/refresh": {
        "-":                (401,    200,    200,    200,    200),
    },
    "POST /api/v1/auth/logout": {
        "-":                (401,    204,    204,    204,    204),
    },
    # --- operations: public; /metrics wants METRICS_TOKEN, no user token opens it ---------
    "GET /health/live": {
        "-":                (200,    200,    200,    200,    200),
    },
    "GET /health/ready": {
        "-":                (200,    200,    200,    200,    200),
    },
    "GET /metrics": {
        "-":                (401,    401,    401,    401,    401),
    },
    "GET /openapi.json": {
        "-":                (200,    200,    200,    200,    200),
    },
    "GET /docs": {
        "-":                (200,    200,    200,    200,    200),
    },
    "GET /docs/oauth2-redirect": {
        "-":                (200,    200,    200,    200,    200),
    },
    "GET /redoc": {
        "-":                (200,    200,    200,    200,    200),
    },
}
# fmt: on

# What the author may do to an open ticket (withdraw) and what only agents may (take).
MOVES = {"withdraw": "closed_fail", "take": "processing"}
PEOPLE = {
    "author": ("1001", Role.employee),
    "other": ("1002", Role.employee),
    "agent": ("2001", Role.agent),
    "admin": ("3001", Role.admin),
}
ROLE_TARGET = "1003"  # an employee whose role the callers try to change
TEAM_TARGET = "2002"  # an agent the callers try to put on (and take off) a team
ELSEWHERE = "elsewhere"  # a service whose team the agent is not on
DISCORD_PUBLIC_KEY = (
    Ed25519PrivateKey.from_private_bytes(b"k" * 32).public_key().public_bytes_raw().hex()
)


@dataclass(frozen=True)
class Person:
    headers: dict[str, str]
    refresh_token: str


@pytest.fixture
def settings(database_url: str, redis_url: str, discord: HTTPServer) -> Settings:
    """The usual test settings, plus a webhook (for a dead delivery) and a metrics token."""
    discord.expect_request("/hook", method="POST").respond_with_data("refused", status=400)
    return make_settings(
        database_url,
        redis_url,
        discord.url_for("/api/v10"),
        webhook_urls=[discord.url_for("/hook")],
        webhook_secret="webhook-secret",
        metrics_token="metrics-scraper-token",
        discord_interactions=True,
        discord_public_key=DISCORD_PUBLIC_KEY,
    )


class World:
    """The callers, and fresh resources made through the API on demand."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings, stub: DiscordStub) -> None:
        self.client = client
        self.settings = settings
        self.stub = stub
        self.people: dict[str, Person] = {}
        self._made = 0

    async def add_people(self, app: FastAPI) -> None:
        async with app.state.sessionmaker() as session:
            for name, (discord_id, role) in PEOPLE.items():
                _, issued = await mint_token(session, app.state.settings, discord_id, role)
                bearer = {"Authorization": f"Bearer {issued.access_token}"}
                self.people[name] = Person(bearer, issued.refresh_token)
            await mint_token(session, app.state.settings, ROLE_TARGET, Role.employee)
            await mint_token(session, app.state.settings, TEAM_TARGET, Role.agent)
            await session.commit()
        admin = self.headers("admin")
        r = await self.client.put(
            f"/api/v1/services/general/agents/{PEOPLE['agent'][0]}", headers=admin
        )
        assert r.status_code == 200, r.text
        body = {"slug": ELSEWHERE, "name": "Elsewhere"}
        r = await self.client.post("/api/v1/services", json=body, headers=admin)
        assert r.status_code == 201, r.text

    def headers(self, caller: str) -> dict[str, str]:
        return {} if caller == "anonymous" else self.people[caller].headers

    def unique(self, prefix: str) -> str:
        self._made += 1
        return f"{prefix}-{self._made}"

    @staticmethod
    def owner(caller: str, resource: str) -> str:
        resource = resource.removesuffix(" elsewhere")
        if resource == "own":
            return "author" if caller == "anonymous" else caller
        assert resource == "others", resource
        return "other" if caller == "author" else "author"

    async def ticket(self, owner: str, service: str = "general") -> str:
        body = {"text": self.unique("ticket"), "service": service}
        r = await self.client.post("/api/v1/tickets", json=body, headers=self.headers(owner))
        assert r.status_code == 201, r.text
        guid: str = r.json()["guid_ticket"]
        return guid

    async def action(self, owner: str) -> str:
        headers = {**self.headers(owner), "Prefer": "respond-async"}
        r = await self.client.post("/api/v1/tickets", json={"text": "queued"}, headers=headers)
        assert r.status_code == 202, r.text
        guid: str = r.json()["guid_action"]
        return guid

    async def service(self, *, active: bool = True) -> str:
        admin = self.headers("admin")
        slug = self.unique("svc")
        r = await self.client.post(
            "/api/v1/services", json={"slug": slug, "name": slug}, headers=admin
        )
        assert r.status_code == 201, r.text
        if not active:
            r = await self.client.patch(
                f"/api/v1/services/{slug}", json={"is_active": False}, headers=admin
            )
            assert r.status_code == 200, r.text
        return slug

    async def calendar(self) -> str:
        slug = self.unique("cal")
        body = {"slug": slug, **CALENDAR}
        r = await self.client.post("/api/v1/calendars", json=body, headers=self.headers("admin"))
        assert r.status_code == 201, r.text
        return slug

    async def dead_delivery(self) -> int:
        """A webhook delivery the receiver refused with 400: dead at the first attempt."""
        await self.ticket("author")
        await run_worker_until_idle(self.settings)
        r = await self.client.get(
            "/api/v1/admin/deliveries", params={"status": "dead"}, headers=self.headers("admin")
        )
        assert r.status_code == 200, r.text
        delivery_id: int = r.json()["items"][0]["id"]
        return delivery_id

    async def call(self, caller: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(caller), **kwargs.pop("headers", {})}
        return await self.client.request(method, url, headers=headers, **kwargs)


Outcome = tuple[Expected, httpx.Response]
Call = Callable[[World, str, str], Awaitable[Outcome]]


def _status(r: httpx.Response) -> Outcome:
    return r.status_code, r


def _listing(r: httpx.Response, found: bool) -> Outcome:
    if r.status_code != 200:
        return r.status_code, r
    return (LISTED if found else ABSENT), r


async def _ticket_for(w: World, caller: str, case: str) -> tuple[str, str | None]:
    """The cell's ticket (fresh, open) and, for status cases, the move to try."""
    resource, _, move = case.partition(", ")
    service = ELSEWHERE if resource.endswith(" elsewhere") else "general"
    guid = await w.ticket(w.owner(caller, resource), service)
    return guid, (MOVES[move] if move else None)


async def seed_open_post(w: World, caller: str, case: str) -> Outcome:
    return _status(await w.call(caller, "POST", "/api/tickets/open", json={"text": "seed"}))


async def seed_open_get(w: World, caller: str, case: str) -> Outcome:
    return _status(await w.call(caller, "GET", "/api/tickets/open", params={"text": "seed"}))


async def seed_list(w: World, caller: str, case: str) -> Outcome:
    guid, _ = await _ticket_for(w, caller, case)
    r = await w.call(caller, "GET", "/api/tickets/get")
    found = r.status_code == 200 and guid in {
        t["guid_ticket"] for t in r.json()["response"]["relevant_tickets"]
    }
    return _listing(r, found)


async def seed_change_post(w: World, caller: str, case: str) -> Outcome:
    guid, status = await _ticket_for(w, caller, case)
    body = {"guid_ticket": guid, "new_status": status}
    return _status(await w.call(caller, "POST", "/api/tickets/change_status", json=body))


async def seed_change_get(w: World, caller: str, case: str) -> Outcome:
    guid, status = await _ticket_for(w, caller, case)
    params = {"guid_ticket": guid, "new_status": status}
    return _status(await w.call(caller, "GET", "/api/tickets/change_status", params=params))


async def v1_create(w: World, caller: str, case: str) -> Outcome:
    return _status(await w.call(caller, "POST", "/api/v1/tickets", json={"text": "v1"}))


async def v1_list(w: World, caller: str, case: str) -> Outcome:
    guid, _ = await _ticket_for(w, caller, case)
    r = await w.call(caller, "GET", "/api/v1/tickets")
    found = r.status_code == 200 and guid in {t["guid_ticket"] for t in r.json()["items"]}
    return _listing(r, found)


async def v1_get(w: World, caller: str, case: str) -> Outcome:
    guid, _ = await _ticket_for(w, caller, case)
    return _status(await w.call(caller, "GET", f"/api/v1/tickets/{guid}"))


async def v1_events(w: World, caller: str, case: str) -> Outcome:
    guid, _ = await _ticket_for(w, caller, case)
    return _status(await w.call(caller, "GET", f"/api/v1/tickets/{guid}/events"))


async def v1_change(w: World, caller: str, case: str) -> Outcome:
    guid, status = await _ticket_for(w, caller, case)
    url = f"/api/v1/tickets/{guid}/status"
    return _status(await w.call(caller, "POST", url, json={"status": status}))


def _comments(guid: str) -> str:
    return f"/api/v1/tickets/{guid}/comments"


async def _comment_on(w: World, guid: str, writer: str, *, internal: bool = False) -> int:
    body = {"body": w.unique("comment"), "internal": internal}
    r = await w.call(writer, "POST", _comments(guid), json=body)
    assert r.status_code == 201, r.text
    comment_id: int = r.json()["id"]
    return comment_id


async def add_comment(w: World, caller: str, case: str) -> Outcome:
    resource, _, kind = case.partition(", ")
    guid = await w.ticket(w.owner(caller, resource))
    body = {"body": "Перезагрузите роутер", "internal": kind == "note"}
    return _status(await w.call(caller, "POST", _comments(guid), json=body))


async def list_comments(w: World, caller: str, case: str) -> Outcome:
    """The cell's comment (a reply by the ticket's author, or an admin's note) listed?"""
    resource, _, kind = case.partition(", ")
    owner = w.owner(caller, resource)
    guid = await w.ticket(owner)
    note = kind == "note"
    comment_id = await _comment_on(w, guid, "admin" if note else owner, internal=note)
    r = await w.call(caller, "GET", _comments(guid))
    return _listing(r, r.status_code == 200 and comment_id in {c["id"] for c in r.json()["items"]})


async def edit_comment(w: World, caller: str, case: str) -> Outcome:
    """`own`: the caller's reply on their own ticket; `own, by staff`: staff's reply there;
    `others`: the author's reply on another's ticket."""
    resource, _, by = case.partition(", ")
    owner = w.owner(caller, resource)
    guid = await w.ticket(owner)
    writer = ("agent" if caller != "agent" else "admin") if by else owner
    comment_id = await _comment_on(w, guid, writer)
    url = f"{_comments(guid)}/{comment_id}"
    return _status(await w.call(caller, "PATCH", url, json={"body": "исправлено"}))


async def rate(w: World, caller: str, case: str) -> Outcome:
    resource, _, state = case.partition(", ")
    guid, _ = await _ticket_for(w, caller, resource)
    if state == "closed":
        url = f"/api/v1/tickets/{guid}/status"
        r = await w.call("admin", "POST", url, json={"status": "closed_fail"})
        assert r.status_code == 200, r.text
    url = f"/api/v1/tickets/{guid}/rating"
    return _status(await w.call(caller, "POST", url, json={"score": 4}))


async def stats(w: World, caller: str, case: str) -> Outcome:
    params = {} if case == "-" else {"service": case}
    return _status(await w.call(caller, "GET", "/api/v1/stats", params=params))


async def claim(w: World, caller: str, case: str) -> Outcome:
    guid, _ = await _ticket_for(w, caller, case)
    return _status(await w.call(caller, "POST", f"/api/v1/tickets/{guid}/claim"))


async def assign(w: World, caller: str, case: str) -> Outcome:
    guid, _ = await _ticket_for(w, caller, case)
    assignee = None if case.endswith("elsewhere") else PEOPLE["agent"][0]
    url = f"/api/v1/tickets/{guid}/assign"
    return _status(await w.call(caller, "POST", url, json={"assignee": assignee}))


async def follow(w: World, caller: str, case: str) -> Outcome:
    guid, _ = await _ticket_for(w, caller, case)
    return _status(await w.call(caller, "PUT", f"/api/v1/tickets/{guid}/followers/me"))


async def unfollow(w: World, caller: str, case: str) -> Outcome:
    guid, _ = await _ticket_for(w, caller, case)
    return _status(await w.call(caller, "DELETE", f"/api/v1/tickets/{guid}/followers/me"))


async def set_availability(w: World, caller: str, case: str) -> Outcome:
    body = {"available": False}
    return _status(await w.call(caller, "PUT", "/api/v1/me/availability", json=body))


async def list_agents(w: World, caller: str, case: str) -> Outcome:
    slug = await w.service() if case == "existing" else "no-such-service"
    return _status(await w.call(caller, "GET", f"/api/v1/services/{slug}/agents"))


async def add_agent(w: World, caller: str, case: str) -> Outcome:
    slug = await w.service() if case == "existing" else "no-such-service"
    url = f"/api/v1/services/{slug}/agents/{TEAM_TARGET}"
    return _status(await w.call(caller, "PUT", url))


async def remove_agent(w: World, caller: str, case: str) -> Outcome:
    slug = await w.service() if case == "existing" else "no-such-service"
    url = f"/api/v1/services/{slug}/agents/{TEAM_TARGET}"
    return _status(await w.call(caller, "DELETE", url))


async def get_action(w: World, caller: str, case: str) -> Outcome:
    guid = await w.action(w.owner(caller, case))
    return _status(await w.call(caller, "GET", f"/api/v1/actions/{guid}"))


async def me(w: World, caller: str, case: str) -> Outcome:
    return _status(await w.call(caller, "GET", "/api/v1/me"))


async def my_notifications(w: World, caller: str, case: str) -> Outcome:
    return _status(await w.call(caller, "GET", "/api/v1/me/notifications"))


async def change_my_notifications(w: World, caller: str, case: str) -> Outcome:
    body = {"email": False}
    return _status(await w.call(caller, "PATCH", "/api/v1/me/notifications", json=body))


async def list_services(w: World, caller: str, case: str) -> Outcome:
    if case == "-":
        return _status(await w.call(caller, "GET", "/api/v1/services"))
    assert case == "inactive", case
    slug = await w.service(active=False)
    r = await w.call(caller, "GET", "/api/v1/services")
    found = r.status_code == 200 and slug in {s["slug"] for s in r.json()["items"]}
    return _listing(r, found)


async def create_service(w: World, caller: str, case: str) -> Outcome:
    slug = w.unique("new")
    body = {"slug": slug, "name": "New service"}
    return _status(await w.call(caller, "POST", "/api/v1/services", json=body))


async def update_service(w: World, caller: str, case: str) -> Outcome:
    slug = await w.service() if case == "existing" else "no-such-service"
    body = {"description": "changed"}
    return _status(await w.call(caller, "PATCH", f"/api/v1/services/{slug}", json=body))


CALENDAR = {"name": "Office", "time_zone": "Europe/Moscow", "hours": {"mon": [["09:00", "18:00"]]}}
SERVICE_SLA = {"calendar": None, "auto_close_days": 3, "policies": []}


async def get_service_sla(w: World, caller: str, case: str) -> Outcome:
    slug = await w.service() if case == "existing" else "no-such-service"
    return _status(await w.call(caller, "GET", f"/api/v1/services/{slug}/sla"))


async def put_service_sla(w: World, caller: str, case: str) -> Outcome:
    slug = await w.service() if case == "existing" else "no-such-service"
    url = f"/api/v1/services/{slug}/sla"
    return _status(await w.call(caller, "PUT", url, json=SERVICE_SLA))


async def list_calendars(w: World, caller: str, case: str) -> Outcome:
    return _status(await w.call(caller, "GET", "/api/v1/calendars"))


async def create_calendar(w: World, caller: str, case: str) -> Outcome:
    body = {"slug": w.unique("new-cal"), **CALENDAR}
    return _status(await w.call(caller, "POST", "/api/v1/calendars", json=body))


def calendar_call(method: str) -> Call:
    async def call(w: World, caller: str, case: str) -> Outcome:
        slug = await w.calendar() if case == "existing" else "no-such-calendar"
        body = CALENDAR if method == "PUT" else None
        return _status(await w.call(caller, method, f"/api/v1/calendars/{slug}", json=body))

    return call


async def set_role(w: World, caller: str, case: str) -> Outcome:
    discord_id = ROLE_TARGET if case == "existing" else "999999999"
    url = f"/api/v1/users/{discord_id}/role"
    return _status(await w.call(caller, "PUT", url, json={"role": "agent"}))


async def revoke_sessions(w: World, caller: str, case: str) -> Outcome:
    discord_id = ROLE_TARGET if case == "existing" else "999999999"
    return _status(await w.call(caller, "DELETE", f"/api/v1/users/{discord_id}/sessions"))


async def list_deliveries(w: World, caller: str, case: str) -> Outcome:
    return _status(await w.call(caller, "GET", "/api/v1/admin/deliveries"))


async def retry_delivery(w: World, caller: str, case: str) -> Outcome:
    delivery_id = await w.dead_delivery() if case == "dead" else 999999
    url = f"/api/v1/admin/deliveries/{delivery_id}/retry"
    return _status(await w.call(caller, "POST", url))


async def auth_link(w: World, caller: str, case: str) -> Outcome:
    return _status(await w.call(caller, "GET", "/api/discord/auth_link"))


async def discord_auth(w: World, caller: str, case: str) -> Outcome:
    """A complete sign-in; a token sent along changes nothing (sign-in is public)."""
    code = w.stub.user(str(8000 + CALLERS.index(caller)), f"user-{caller}")
    state = await start(w.client)
    params = {"code": code, "state": state}
    return _status(await w.call(caller, "GET", "/api/discord/auth", params=params))


async def discord_interaction(w: World, caller: str, case: str) -> Outcome:
    """A PING without Discord's signature: a user's token opens nothing here."""
    body = {"type": 1}
    return _status(await w.call(caller, "POST", "/api/discord/interactions", json=body))


async def refresh(w: World, caller: str, case: str) -> Outcome:
    token = "never-issued" if caller == "anonymous" else w.people[caller].refresh_token
    body = {"refresh_token": token}
    return _status(await w.call(caller, "POST", "/api/v1/auth/refresh", json=body))


async def logout(w: World, caller: str, case: str) -> Outcome:
    return _status(await w.call(caller, "POST", "/api/v1/auth/logout"))


def plain_get(path: str) -> Call:
    async def call(w: World, caller: str, case: str) -> Outcome:
        return _status(await w.call(caller, "GET", path))

    return call


CALLS: dict[str, Call] = {
    "POST /api/tickets/open": seed_open_post,
    "GET /api/tickets/open": seed_open_get,
    "GET /api/tickets/get": seed_list,
    "POST /api/tickets/change_status": seed_change_post,
    "GET /api/tickets/change_status": seed_change_get,
    "POST /api/v1/tickets": v1_create,
    "GET /api/v1/tickets": v1_list,
    "GET /api/v1/tickets/{guid_ticket}": v1_get,
    "GET /api/v1/tickets/{guid_ticket}/events": v1_events,
    "POST /api/v1/tickets/{guid_ticket}/status": v1_change,
    "POST /api/v1/tickets/{guid_ticket}/comments": add_comment,
    "GET /api/v1/tickets/{guid_ticket}/comments": list_comments,
    "PATCH /api/v1/tickets/{guid_ticket}/comments/{comment_id}": edit_comment,
    "POST /api/v1/tickets/{guid_ticket}/rating": rate,
    "POST /api/v1/tickets/{guid_ticket}/claim": claim,
    "GET /api/v1/stats": stats,
    "POST /api/v1/tickets/{guid_ticket}/assign": assign,
    "PUT /api/v1/tickets/{guid_ticket}/followers/me": follow,
    "DELETE /api/v1/tickets/{guid_ticket}/followers/me": unfollow,
    "PUT /api/v1/me/availability": set_availability,
    "GET /api/v1/services/{slug}/agents": list_agents,
    "PUT /api/v1/services/{slug}/agents/{discord_id}": add_agent,
    "DELETE /api/v1/services/{slug}/agents/{discord_id}": remove_agent,
    "GET /api/v1/actions/{guid_action}": get_action,
    "GET /api/v1/me": me,
    "GET /api/v1/me/notifications": my_notifications,
    "PATCH /api/v1/me/notifications": change_my_notifications,
    "GET /api/v1/services": list_services,
    "POST /api/v1/services": create_service,
    "PATCH /api/v1/services/{slug}": update_service,
    "GET /api/v1/services/{slug}/sla": get_service_sla,
    "PUT /api/v1/services/{slug}/sla": put_service_sla,
    "GET /api/v1/calendars": list_calendars,
    "POST /api/v1/calendars": create_calendar,
    "GET /api/v1/calendars/{slug}": calendar_call("GET"),
    "PUT /api/v1/calendars/{slug}": calendar_call("PUT"),
    "DELETE /api/v1/calendars/{slug}": calendar_call("DELETE"),
    "PUT /api/v1/users/{discord_id}/role": set_role,
    "DELETE /api/v1/users/{discord_id}/sessions": revoke_sessions,
    "GET /api/v1/admin/deliveries": list_deliveries,
    "POST /api/v1/admin/deliveries/{delivery_id}/retry": retry_delivery,
    "GET /api/discord/auth_link": auth_link,
    "GET /api/discord/auth": discord_auth,
    "POST /api/discord/interactions": discord_interaction,
    "POST /api/v1/auth/refresh": refresh,
    "POST /api/v1/auth/logout": logout,
    **{
        f"GET {path}": plain_get(path)
        for path in (
            "/health/live",
            "/health/ready",
            "/metrics",
            "/openapi.json",
            "/docs",
            "/docs/oauth2-redirect",
            "/redoc",
        )
    },
}


def served_routes(app: FastAPI, web: bool = False) -> set[str]:
    """Every `METHOD path` the app answers (HEAD comes with GET and is not listed): the
    API's, or with `web` the web UI's pages (their own table: tests/web/test_authorization.py)."""
    return {
        f"{method} {route.path}"
        for route in iter_route_contexts(app.routes)
        for method in (route.methods or ())
        if method != "HEAD"
        and getattr(route.endpoint, "__module__", "").startswith("ticket_service.web") == web
    }


def test_every_endpoint_in_the_table_has_a_request() -> None:
    assert set(MATRIX) == set(CALLS)


def test_every_route_has_a_row(app: FastAPI) -> None:
    served = served_routes(app)
    covered = set(MATRIX)
    assert served - covered == set(), "routes without a row in MATRIX"
    assert covered - served == set(), "rows for routes the app does not serve"
    documented = {
        f"{method.upper()} {path}"
        for path, item in app.openapi()["paths"].items()
        for method in item
    }
    assert documented <= served


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, discord: HTTPServer) -> World:
    w = World(client, app.state.settings, DiscordStub(discord))
    await w.add_people(app)
    return w


@pytest.mark.parametrize(
    ("endpoint", "case", "expected"),
    [
        pytest.param(
            endpoint, case, dict(zip(CALLERS, cells, strict=True)), id=f"{endpoint} [{case}]"
        )
        for endpoint, cases in MATRIX.items()
        for case, cells in cases.items()
    ],
)
async def test_authorization(
    world: World, endpoint: str, case: str, expected: dict[str, Expected]
) -> None:
    answers = {caller: await CALLS[endpoint](world, caller, case) for caller in CALLERS}
    actual = {caller: outcome for caller, (outcome, _) in answers.items()}
    wrong = [
        f"{caller}: expected {expected[caller]}, got {outcome}: {response.text[:160]}"
        for caller, (outcome, response) in answers.items()
        if outcome != expected[caller]
    ]
    assert actual == expected, "\n".join(wrong)
