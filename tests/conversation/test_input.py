"""Bad input is a 4xx JSON error, never a 500; pages follow `next_cursor`."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conversation.conftest import commented, comments_seen
from tests.factories import open_ticket


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    return error


@pytest.mark.parametrize(
    "payload",
    [
        '{"body": ""}',
        '{"body": "   \\n "}',
        json.dumps({"body": "x" * 10001}),
        '{"body": "a\\u0000b"}',
        '{"body": "\\ud800"}',  # a lone surrogate: not text PostgreSQL can store
        '{"body": 5}',
        '{"body": null}',
        "{}",
        '{"body": "ok", "internal": "yes"}',
        '{"body": "ok", "internal": 1}',
        '{"body": "ok", "internal": null}',
        '{"body": "ok", "author": "2001"}',
        '["ok"]',
    ],
    ids=lambda p: p[:40],
)
async def test_a_malformed_comment_is_422_and_writes_nothing(client, staff, payload):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    reply = await commented(client, staff.agent.headers, guid)
    headers = {**staff.agent.headers, "content-type": "application/json"}

    created = await client.post(
        f"/api/v1/tickets/{guid}/comments", content=payload, headers=headers
    )
    # An edit takes only `body`: `internal` is an unknown field there.
    edited = await client.patch(
        f"/api/v1/tickets/{guid}/comments/{reply['id']}", content=payload, headers=headers
    )

    _error(created, 422, "validation_error")
    _error(edited, 422, "validation_error")
    [seen] = await comments_seen(client, staff.agent.headers, guid)
    assert (seen["body"], seen["edited_at"]) == (reply["body"], None)


async def test_the_longest_body_is_accepted_and_kept_verbatim(client, staff):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    head = "<b>Привет</b> 👋 & <script>\n"
    body = head + "я" * (10000 - len(head))

    created = await commented(client, staff.author.headers, guid, body)

    assert created["body"] == body


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v1/tickets/not-a-guid/comments", 422, "validation_error"),
        ("GET", "/api/v1/tickets/{guid}/comments?limit=0", 422, "validation_error"),
        ("GET", "/api/v1/tickets/{guid}/comments?limit=201", 422, "validation_error"),
        ("GET", "/api/v1/tickets/{guid}/comments?cursor=nope", 400, "invalid_cursor"),
        ("GET", "/api/v1/tickets/{guid}/comments?cursor=" + "A" * 500, 400, "invalid_cursor"),
        ("GET", f"/api/v1/tickets/{uuid.uuid4()}/comments", 404, "ticket_not_found"),
        ("PATCH", "/api/v1/tickets/{guid}/comments/0", 422, "validation_error"),
        ("PATCH", "/api/v1/tickets/{guid}/comments/abc", 422, "validation_error"),
        ("PATCH", "/api/v1/tickets/{guid}/comments/" + "9" * 30, 422, "validation_error"),
        ("PATCH", "/api/v1/tickets/{guid}/comments/9223372036854775807", 404, "comment_not_found"),
        ("POST", f"/api/v1/tickets/{uuid.uuid4()}/comments", 404, "ticket_not_found"),
    ],
)
async def test_bad_paths_and_parameters(client, staff, method, path, status, code):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    response = await client.request(
        method, path.format(guid=guid), json={"body": "ok"}, headers=staff.agent.headers
    )
    _error(response, status, code)


async def test_not_json_is_422(client, staff):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    response = await client.post(
        f"/api/v1/tickets/{guid}/comments",
        content=b"{not json",
        headers={**staff.agent.headers, "content-type": "application/json"},
    )
    _error(response, 422, "validation_error")


async def test_pages_follow_next_cursor_oldest_first_and_skip_notes_for_the_author(client, staff):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    for n in range(5):
        await commented(client, staff.agent.headers, guid, f"ответ {n}")
        await commented(client, staff.agent.headers, guid, f"заметка {n}", internal=True)

    async def all_pages(headers: dict[str, str]) -> list[list[str]]:
        pages, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            response = await client.get(
                f"/api/v1/tickets/{guid}/comments", params=params, headers=headers
            )
            assert response.status_code == 200, response.text
            page = response.json()
            pages.append([c["body"] for c in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                return pages

    assert await all_pages(staff.author.headers) == [
        ["ответ 0", "ответ 1"],
        ["ответ 2", "ответ 3"],
        ["ответ 4"],
    ]
    staff_pages = await all_pages(staff.agent.headers)
    assert [len(p) for p in staff_pages] == [2, 2, 2, 2, 2]
    assert staff_pages[0] == ["ответ 0", "заметка 0"]
    assert len(await comments_seen(client, staff.agent.headers, guid, limit=200)) == 10
