"""List filters for working a queue: assignee me/none/<id>, follower=me, status=waiting;
each row shows its assignee and how many public comments it has. The seed's list shares
the filters."""

from __future__ import annotations

import psycopg
import pytest

from tests.assignment.conftest import ids
from tests.factories import open_ticket
from tests.tickets.helpers import change_v1

PATHS = ("/api/v1/tickets", "/api/tickets/get")


@pytest.mark.parametrize("path", PATHS)
async def test_queue_filters(client, crew, database_url, path):
    def opened(text, **kw):
        return open_ticket(client, crew.author, text, **kw)

    mine = (await opened("мой"))["guid_ticket"]
    mate = (await opened("коллеги"))["guid_ticket"]
    free = (await opened("ничей"))["guid_ticket"]
    watched = (await opened("слежу"))["guid_ticket"]
    for guid, who in ((mine, crew.general_agent), (mate, crew.general_agent_2)):
        r = await client.post(f"/api/v1/tickets/{guid}/claim", headers=who)
        assert r.status_code == 200, r.text
    assert (await change_v1(client, crew.general_agent, mine, "processing")).status_code == 200
    assert (await change_v1(client, crew.general_agent, mine, "waiting")).status_code == 200
    r = await client.put(f"/api/v1/tickets/{watched}/followers/me", headers=crew.general_agent)
    assert r.status_code == 204
    r = await client.post(f"/api/v1/tickets/{watched}/claim", headers=crew.general_agent_2)
    assert r.status_code == 200

    me = crew.general_agent
    cases = [
        ({"assignee": "me"}, [mine]),
        ({"assignee": "2002"}, [watched, mate]),
        ({"assignee": "none"}, [free]),
        ({"assignee": "999"}, []),
        ({"follower": "me"}, [watched]),
        ({"follower": "me", "assignee": "me"}, []),
        ({"status": "waiting"}, [mine]),
        ({"status": "waiting", "assignee": "me"}, [mine]),
        ({"status": "open", "assignee": "none"}, [free]),
    ]
    for params, expected in cases:
        assert await ids(client, me, path, **params) == expected, params
    # `me` is whoever asks.
    assert await ids(client, crew.general_agent_2, path, assignee="me") == [watched, mate]
    assert await ids(client, crew.author, path, assignee="me") == []
    assert await ids(client, crew.author, path, assignee="none") == [free]

    for params in (
        {"assignee": "someone"},
        {"assignee": "ME"},
        {"assignee": ""},
        {"follower": "2001"},
        {"follower": "none"},
    ):
        response = await client.get(path, params=params, headers=me)
        assert response.status_code == 422, (params, response.text)


async def test_rows_show_the_assignee_and_the_public_comment_count(client, crew, database_url):
    guid = (await open_ticket(client, crew.author, "VPN"))["guid_ticket"]
    assert (await client.post(f"/api/v1/tickets/{guid}/claim", headers=crew.general_agent)).json()[
        "comments"
    ] == 0
    # The conversation service keeps the count with the ticket as comments are added.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE tickets SET public_comments = 3 WHERE id = %s", (guid,))
    v1 = (await client.get("/api/v1/tickets", headers=crew.author)).json()["items"]
    seed = (await client.get("/api/tickets/get", headers=crew.author)).json()["response"][
        "relevant_tickets"
    ]
    one = (await client.get(f"/api/v1/tickets/{guid}", headers=crew.author)).json()
    for row in (v1[0], seed[0], one):
        assert (row["assignee"], row["comments"]) == ("2001", 3)
