"""ETag / If-Match / If-None-Match on tickets and comments (issue 13, item 5)."""

from __future__ import annotations

import httpx

from tests.tickets.conftest import People

V1 = "/api/v1/tickets"


async def _ticket(client: httpx.AsyncClient, people: People) -> str:
    response = await client.post(
        V1, json={"text": "Принтер не печатает"}, headers=people.author.headers
    )
    assert response.status_code == 201
    assert response.headers["ETag"] == '"1"'
    guid: str = response.json()["guid_ticket"]
    return guid


async def _status(
    client: httpx.AsyncClient, people: People, guid: str, status: str, **headers: str
) -> httpx.Response:
    return await client.post(
        f"{V1}/{guid}/status",
        json={"status": status},
        headers={**people.agent.headers, **headers},
    )


async def test_get_carries_the_etag_and_if_none_match_answers_304(client, people):
    guid = await _ticket(client, people)
    url, author = f"{V1}/{guid}", people.author.headers
    first = await client.get(url, headers=author)
    assert first.status_code == 200
    assert first.headers["ETag"] == '"1"'
    assert first.json()["version"] == 1

    for held in ('"1"', 'W/"1"', '"7", "1"', "*"):
        cached = await client.get(url, headers={**author, "If-None-Match": held})
        assert cached.status_code == 304, held
        assert cached.content == b""
        assert cached.headers["ETag"] == '"1"'

    assert (await _status(client, people, guid, "processing")).status_code == 200
    changed = await client.get(url, headers={**author, "If-None-Match": '"1"'})
    assert changed.status_code == 200
    assert changed.headers["ETag"] == '"2"'
    assert changed.json()["status"] == "processing"


async def test_if_none_match_is_no_way_around_visibility(client, people):
    guid = await _ticket(client, people)
    response = await client.get(
        f"{V1}/{guid}", headers={**people.other_employee.headers, "If-None-Match": "*"}
    )
    assert response.status_code == 404


async def test_a_stale_if_match_is_412_and_changes_nothing(client, people):
    guid = await _ticket(client, people)
    moved = await _status(client, people, guid, "processing", **{"If-Match": '"1"'})
    assert moved.status_code == 200
    assert moved.headers["ETag"] == '"2"'
    assert moved.json()["version"] == 2

    stale = await _status(client, people, guid, "waiting", **{"If-Match": '"1"'})
    assert stale.status_code == 412
    error = stale.json()["error"]
    assert error["code"] == "precondition_failed"
    assert error["details"] == {"etag": '"2"'}
    assert stale.headers["ETag"] == '"2"'
    ticket = (await client.get(f"{V1}/{guid}", headers=people.author.headers)).json()
    assert ticket["status"] == "processing"
    assert ticket["version"] == 2

    # A weak tag never matches If-Match (strong comparison), even the current version.
    weak = await _status(client, people, guid, "waiting", **{"If-Match": 'W/"2"'})
    assert weak.status_code == 412
    # Any of a list, and `*`, match.
    listed = await _status(client, people, guid, "waiting", **{"If-Match": '"1", "2"'})
    assert listed.status_code == 200
    assert listed.headers["ETag"] == '"3"'
    star = await _status(client, people, guid, "processing", **{"If-Match": "*"})
    assert star.status_code == 200


async def test_a_malformed_condition_is_400(client, people):
    guid = await _ticket(client, people)
    cases = (("If-Match", "2"), ("If-Match", '"2'), ("If-Match", ""), ("If-None-Match", '"1" "2"'))
    for header, value in cases:
        if header == "If-Match":
            response = await _status(client, people, guid, "processing", **{header: value})
        else:
            response = await client.get(
                f"{V1}/{guid}", headers={**people.author.headers, header: value}
            )
        assert response.status_code == 400, (header, value)
        assert response.json()["error"]["code"] == "invalid_precondition"
        assert response.json()["error"]["details"] == {"header": header}


async def test_if_match_on_a_ticket_you_cannot_see_is_still_404(client, people):
    guid = await _ticket(client, people)
    response = await client.post(
        f"{V1}/{guid}/status",
        json={"status": "closed_fail"},
        headers={**people.other_employee.headers, "If-Match": '"9"'},
    )
    assert response.status_code == 404


async def test_the_body_version_still_answers_409(client, people):
    guid = await _ticket(client, people)
    assert (await _status(client, people, guid, "processing")).status_code == 200
    response = await client.post(
        f"{V1}/{guid}/status",
        json={"status": "waiting", "version": 1},
        headers={**people.agent.headers, "If-Match": '"2"'},
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "version_conflict"


async def test_claim_and_assign_honour_if_match(client, people):
    guid = await _ticket(client, people)
    agent = people.agent
    stale_claim = await client.post(
        f"{V1}/{guid}/claim", headers={**agent.headers, "If-Match": '"5"'}
    )
    assert stale_claim.status_code == 412
    assert stale_claim.json()["error"]["details"] == {"etag": '"1"'}

    claimed = await client.post(f"{V1}/{guid}/claim", headers={**agent.headers, "If-Match": '"1"'})
    assert claimed.status_code == 200
    assert claimed.json()["assignee"] == agent.discord_id
    assert claimed.headers["ETag"] == f'"{claimed.json()["version"]}"'

    stale_assign = await client.post(
        f"{V1}/{guid}/assign",
        json={"assignee": None},
        headers={**people.admin.headers, "If-Match": '"1"'},
    )
    assert stale_assign.status_code == 412
    current = claimed.headers["ETag"]
    assigned = await client.post(
        f"{V1}/{guid}/assign",
        json={"assignee": None},
        headers={**people.admin.headers, "If-Match": current},
    )
    assert assigned.status_code == 200
    assert assigned.json()["assignee"] is None
    assert assigned.headers["ETag"] != current


async def test_a_comment_edit_honours_the_comment_s_own_tag(client, people):
    guid = await _ticket(client, people)
    url = f"{V1}/{guid}/comments"
    author = people.author.headers
    written = await client.post(url, json={"body": "Модель HP 400"}, headers=author)
    assert written.status_code == 201
    tag = written.headers["ETag"]
    assert tag == written.json()["etag"]
    comment_url = f"{url}/{written.json()['id']}"

    edited = await client.patch(
        comment_url, json={"body": "Модель HP 401"}, headers={**author, "If-Match": tag}
    )
    assert edited.status_code == 200
    new_tag = edited.headers["ETag"]
    assert new_tag != tag
    assert edited.json()["etag"] == new_tag

    # A second edit from a tab that read the first text loses: 412, the text stays.
    stale = await client.patch(
        comment_url, json={"body": "Модель HP 402"}, headers={**author, "If-Match": tag}
    )
    assert stale.status_code == 412
    assert stale.json()["error"]["details"] == {"etag": new_tag}
    listed = (await client.get(url, headers=author)).json()["items"]
    assert [(c["body"], c["etag"]) for c in listed] == [("Модель HP 401", new_tag)]

    # The ticket's tag is not the comment's.
    ticket_tag = (await client.get(f"{V1}/{guid}", headers=author)).headers["ETag"]
    wrong = await client.patch(
        comment_url, json={"body": "Модель HP 403"}, headers={**author, "If-Match": ticket_tag}
    )
    assert wrong.status_code == 412


async def test_seed_paths_carry_the_etag_and_honour_if_match(client, people):
    opened = await client.post(
        "/api/tickets/open", json={"text": "Нужен монитор"}, headers=people.author.headers
    )
    assert opened.status_code == 200
    assert opened.headers["ETag"] == '"1"'
    guid = opened.json()["response"]["guid_ticket"]

    body = {"guid_ticket": guid, "new_status": "processing"}
    stale = await client.post(
        "/api/tickets/change_status", json=body, headers={**people.agent.headers, "If-Match": '"3"'}
    )
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "precondition_failed"

    # With If-Match, Prefer: respond-async is not applied: the condition is about now.
    done = await client.post(
        "/api/tickets/change_status",
        json=body,
        headers={**people.agent.headers, "If-Match": '"1"', "Prefer": "respond-async"},
    )
    assert done.status_code == 200
    assert done.json()["response"]["status"] == "processing"
    assert done.headers["ETag"] == '"2"'

    by_get = await client.get(
        "/api/tickets/change_status",
        params={"guid_ticket": guid, "new_status": "waiting"},
        headers={**people.agent.headers, "If-Match": '"1"'},
    )
    assert by_get.status_code == 412


async def test_openapi_documents_the_conditions(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    get_one = paths["/api/v1/tickets/{guid_ticket}"]["get"]
    assert "304" in get_one["responses"]
    assert "ETag" in get_one["responses"]["200"]["headers"]
    assert any(p["name"] == "if-none-match" for p in get_one["parameters"])
    for path in (
        "/api/v1/tickets/{guid_ticket}/status",
        "/api/v1/tickets/{guid_ticket}/claim",
        "/api/v1/tickets/{guid_ticket}/assign",
        "/api/tickets/change_status",
    ):
        operation = paths[path]["post"]
        assert "412" in operation["responses"], path
        assert any(p["name"] == "if-match" for p in operation["parameters"]), path
    edit = paths["/api/v1/tickets/{guid_ticket}/comments/{comment_id}"]["patch"]
    assert "412" in edit["responses"]
