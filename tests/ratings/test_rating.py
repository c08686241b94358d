"""Satisfaction ratings: only the author, only once closed, only once, 1–5; the ticket
shows the rating; the team hears about it; the closing e-mail invites it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.factories import auth_headers, open_ticket
from tests.notifications.receivers import changed
from tests.tickets.conftest import People
from ticket_service.users.models import Role


async def closed_ticket(
    client: httpx.AsyncClient, people: People, status: str = "closed_success"
) -> str:
    guid: str = (await open_ticket(client, people.author.headers))["guid_ticket"]
    for step in ("processing", status):
        response = await client.post(
            f"/api/v1/tickets/{guid}/status", json={"status": step}, headers=people.agent.headers
        )
        assert response.status_code == 200, response.text
    return guid


def rating_url(guid: str) -> str:
    return f"/api/v1/tickets/{guid}/rating"


async def test_the_author_rates_a_closed_ticket_once_and_the_ticket_shows_it(client, staff):
    guid = await closed_ticket(client, staff)
    before = (await client.get(f"/api/v1/tickets/{guid}", headers=staff.author.headers)).json()
    assert before["rating"] is None

    response = await client.post(
        rating_url(guid),
        json={"score": 4, "comment": "  Быстро, спасибо  "},
        headers=staff.author.headers,
    )
    assert response.status_code == 201, response.text
    given = response.json()
    assert (given["score"], given["comment"]) == (4, "Быстро, спасибо")

    for who in (staff.author, staff.agent, staff.admin):
        shown = (await client.get(f"/api/v1/tickets/{guid}", headers=who.headers)).json()
        assert shown["rating"] == given
        assert shown["version"] == before["version"] + 1  # a cached copy is stale now
    listed = (await client.get("/api/v1/tickets", headers=staff.author.headers)).json()
    assert listed["items"][0]["rating"] == given

    again = await client.post(rating_url(guid), json={"score": 1}, headers=staff.author.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_rated"
    shown = (await client.get(f"/api/v1/tickets/{guid}", headers=staff.author.headers)).json()
    assert shown["rating"]["score"] == 4

    history = await client.get(f"/api/v1/tickets/{guid}/events", headers=staff.author.headers)
    rated = [e for e in history.json()["items"] if e["kind"] == "rated"]
    assert [(e["actor"], e["data"]) for e in rated] == [("1001", {"score": 4, "commented": True})]


async def test_a_ticket_closed_without_success_can_be_rated_too(client, staff):
    guid = await closed_ticket(client, staff, "closed_fail")
    response = await client.post(rating_url(guid), json={"score": 1}, headers=staff.author.headers)
    assert response.status_code == 201
    assert response.json()["comment"] is None


async def test_only_a_closed_ticket_can_be_rated(client, staff):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    response = await client.post(rating_url(guid), json={"score": 5}, headers=staff.author.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_closed"
    # Closed, then reopened by the author: open again, so not now.
    guid = await closed_ticket(client, staff)
    await changed(client, staff.author.headers, guid, "open")
    response = await client.post(rating_url(guid), json={"score": 5}, headers=staff.author.headers)
    assert response.json()["error"]["code"] == "not_closed"


async def test_only_the_author_rates(app, client, staff):
    guid = await closed_ticket(client, staff)
    for who in (staff.agent, staff.admin):
        response = await client.post(rating_url(guid), json={"score": 5}, headers=who.headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "not_author"
    # Another employee does not see the ticket at all.
    response = await client.post(
        rating_url(guid), json={"score": 5}, headers=staff.other_employee.headers
    )
    assert response.status_code == 404
    stranger = await auth_headers(app, "2999", Role.agent)  # an agent of no team
    response = await client.post(rating_url(guid), json={"score": 5}, headers=stranger)
    assert response.status_code == 404
    unknown = "00000000-0000-4000-8000-000000000000"
    response = await client.post(
        rating_url(unknown), json={"score": 5}, headers=staff.admin.headers
    )
    assert response.status_code == 404
    shown = (await client.get(f"/api/v1/tickets/{guid}", headers=staff.author.headers)).json()
    assert shown["rating"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"score": 0},
        {"score": 6},
        {"score": "5"},
        {"score": 4.5},
        {"score": None},
        {"score": 3, "comment": "x" * 2001},
        {"score": 3, "comment": "   "},
        {"score": 3, "comment": "a\x00b"},
        {"score": 3, "stars": 3},
        [],
        "5",
    ],
)
async def test_a_bad_body_is_a_422_and_stores_nothing(client, staff, body):
    guid = await closed_ticket(client, staff)
    response = await client.post(rating_url(guid), json=body, headers=staff.author.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    shown = (await client.get(f"/api/v1/tickets/{guid}", headers=staff.author.headers)).json()
    assert shown["rating"] is None


async def test_a_comment_of_2000_characters_is_kept_whole(client, staff):
    guid = await closed_ticket(client, staff)
    comment = "ж" * 2000
    response = await client.post(
        rating_url(guid), json={"score": 2, "comment": comment}, headers=staff.author.headers
    )
    assert response.status_code == 201
    assert response.json()["comment"] == comment


async def test_two_ratings_at_once_one_is_kept(client, staff):
    guid = await closed_ticket(client, staff)
    answers = await asyncio.gather(
        *(
            client.post(rating_url(guid), json={"score": s}, headers=staff.author.headers)
            for s in (2, 5)
        )
    )
    assert sorted(r.status_code for r in answers) == [201, 409]
    [won] = [r.json()["score"] for r in answers if r.status_code == 201]
    shown = (await client.get(f"/api/v1/tickets/{guid}", headers=staff.author.headers)).json()
    assert shown["rating"]["score"] == won


async def test_unauthenticated_is_401(client, staff):
    guid = await closed_ticket(client, staff)
    response = await client.post(rating_url(guid), json={"score": 5})
    assert response.status_code == 401


async def test_a_retried_rating_with_its_idempotency_key_answers_the_first_again(client, staff):
    # A phone on a bad connection sends the rating twice: the second must not be a 409.
    guid = await closed_ticket(client, staff)
    headers = {**staff.author.headers, "Idempotency-Key": "rate-once-7"}
    first = await client.post(rating_url(guid), json={"score": 5}, headers=headers)
    again = await client.post(rating_url(guid), json={"score": 5}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await client.post(rating_url(guid), json={"score": 1}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
