"""Bad input is refused with the one JSON error shape, never a 500, and loses nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.api.conftest import assert_error, count_tickets
from tests.factories import auth_headers, open_ticket

LIMIT = 64 * 1024


@pytest.fixture
async def employee(app):
    return await auth_headers(app, "2001")


@pytest.fixture
async def existing(client, employee):
    """A ticket accepted before the bad requests arrive."""
    return await open_ticket(client, employee, "Уже принятая заявка")


@pytest.mark.parametrize(
    "body",
    [b'{"text": "half', b'{"text": "\xff\xfe not utf-8"}', b"[" * 100_00 + b"]" * 100_00],
    ids=["truncated", "invalid-utf8", "deeply-nested"],
)
async def test_malformed_json_is_422(client, employee, existing, database_url, body):
    for path in ("/api/v1/tickets", "/api/tickets/open"):
        r = await client.post(
            path, content=body, headers={**employee, "Content-Type": "application/json"}
        )
        assert_error(r, 422, "validation_error")
    assert count_tickets(database_url) == 1


async def test_body_over_limit_with_content_length_is_413(client, employee, existing, database_url):
    body = json.dumps({"text": "x" * (LIMIT + 10)}).encode()
    for path in ("/api/v1/tickets", "/api/tickets/open"):
        r = await client.post(
            path, content=body, headers={**employee, "Content-Type": "application/json"}
        )
        error = assert_error(r, 413, "payload_too_large")
        assert error["details"] == {"max_bytes": LIMIT}
    assert count_tickets(database_url) == 1


async def test_chunked_body_over_limit_is_413(client, employee, existing, database_url):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(20):
            yield b"y" * 4096
        yield b'"}'

    r = await client.post(
        "/api/v1/tickets",
        content=chunks(),
        headers={**employee, "Content-Type": "application/json"},
    )
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert_error(r, 413, "payload_too_large")
    assert count_tickets(database_url) == 1


async def test_a_client_gone_before_its_body_is_499_not_bad_json(
    client, employee, existing, database_url
):
    # What a load generator does at its deadline, or a phone losing its signal: the
    # headers came, then the connection closed before the body. Nobody reads the answer;
    # logs and metrics must not count it as a client sending invalid JSON (422).
    app = client._transport.app  # the same app, spoken to in raw ASGI
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    headers = [(k.lower().encode(), v.encode()) for k, v in employee.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/tickets",
        "raw_path": b"/api/v1/tickets",
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-type", b"application/json"), (b"content-length", b"40")],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
        "state": {},
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 499
    assert json.loads(sent[1]["body"])["error"]["code"] == "client_closed_request"
    assert count_tickets(database_url) == 1


async def test_chunked_body_under_limit_is_accepted(client, employee):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        yield "Чанками".encode()
        yield b'"}'

    r = await client.post(
        "/api/v1/tickets",
        content=chunks(),
        headers={**employee, "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["text"] == "Чанками"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "blank"),
        ("   \n\t  ", "whitespace only"),
        ("before\x00after", "NUL byte"),
        ("z" * 10001, "over 10000 characters"),
    ],
)
async def test_bad_text_is_422(client, employee, existing, database_url, text, why):
    for path in ("/api/v1/tickets", "/api/tickets/open"):
        r = await client.post(path, json={"text": text}, headers=employee)
        error = assert_error(r, 422, "validation_error")
        assert any(d["loc"][-1] == "text" for d in error["details"]), (why, error)
    r = await client.get("/api/tickets/open", params={"text": text}, headers=employee)
    assert_error(r, 422, "validation_error")
    assert count_tickets(database_url) == 1


async def test_text_that_is_not_valid_unicode_is_422(client, employee, existing, database_url):
    # A lone surrogate is valid JSON (\ud800) but cannot be stored as UTF-8 text.
    body = b'{"text": "broken \\ud800 text"}'
    for path in ("/api/v1/tickets", "/api/tickets/open"):
        r = await client.post(
            path, content=body, headers={**employee, "Content-Type": "application/json"}
        )
        error = assert_error(r, 422, "validation_error")
        assert error["details"][0]["loc"][-1] == "text"
    assert count_tickets(database_url) == 1


async def test_text_of_exactly_10000_characters_is_accepted(client, employee):
    ticket = await open_ticket(client, employee, "z" * 10000)
    assert len(ticket["text"]) == 10000


async def test_malformed_uuid_in_path_is_422(client, employee):
    for path in ("/api/v1/tickets/not-a-uuid", "/api/v1/tickets/1234/events"):
        error = assert_error(await client.get(path, headers=employee), 422, "validation_error")
        assert error["details"][0]["loc"] == ["path", "guid_ticket"]
    r = await client.post(
        "/api/v1/tickets/zzz/status", json={"status": "processing"}, headers=employee
    )
    assert_error(r, 422, "validation_error")


async def test_malformed_uuid_in_seed_params_is_422(client, employee, existing):
    bad = "6f1c2b1e-XXXX"
    r = await client.post(
        "/api/tickets/change_status",
        json={"guid_ticket": bad, "new_status": "closed_fail"},
        headers=employee,
    )
    assert_error(r, 422, "validation_error")
    r = await client.get(
        "/api/tickets/change_status",
        params={"guid_ticket": bad, "new_status": "closed_fail"},
        headers=employee,
    )
    assert_error(r, 422, "validation_error")
    r = await client.get("/api/tickets/get", params={"guid_ticket": bad}, headers=employee)
    assert_error(r, 422, "validation_error")
    # Nothing moved.
    r = await client.get(f"/api/v1/tickets/{existing['guid_ticket']}", headers=employee)
    assert r.json()["status"] == "open"


async def test_unknown_json_fields_are_422(client, employee, existing, database_url):
    r = await client.post(
        "/api/v1/tickets", json={"text": "ok", "status": "closed_success"}, headers=employee
    )
    error = assert_error(r, 422, "validation_error")
    assert any(d["loc"][-1] == "status" for d in error["details"])
    r = await client.post(
        "/api/tickets/change_status",
        json={"guid_ticket": existing["guid_ticket"], "new_status": "closed_fail", "x": 1},
        headers=employee,
    )
    assert_error(r, 422, "validation_error")
    assert count_tickets(database_url) == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"text": 123},
        {"text": ["a"]},
        {"text": None},
        {"text": "ok", "priority": "whenever"},
        {"text": "ok", "service": 7},
        {"text": "ok", "title": {"nested": True}},
        ["text"],
        "text",
    ],
)
async def test_wrong_types_are_422(client, employee, existing, database_url, payload):
    r = await client.post("/api/v1/tickets", json=payload, headers=employee)
    assert_error(r, 422, "validation_error")
    assert count_tickets(database_url) == 1


async def test_wrong_types_in_status_change_are_422(client, employee, existing):
    guid = existing["guid_ticket"]
    for payload in (
        {"status": 1},
        {"status": "open", "version": "new"},
        {"status": "open", "version": 0},
    ):
        r = await client.post(f"/api/v1/tickets/{guid}/status", json=payload, headers=employee)
        assert_error(r, 422, "validation_error")


async def test_unknown_route_is_404_json(client, employee):
    for path in ("/nope", "/api/v1/nothing-here", "/api/tickets/close"):
        assert_error(await client.get(path, headers=employee), 404, "not_found")
    # A known path with a method it lacks.
    assert_error(
        await client.delete("/api/v1/tickets", headers=employee), 405, "method_not_allowed"
    )


VERBATIM = [
    "<script>alert(1)</script>",
    "'; DROP TABLE tickets; --",
    "Не работает принтер на 3 этаже",
    "Ноутбук сломался 💻🔥 👩‍💻",
    "Первая строка\nвторая строка\r\n\tтретья с табом\n\nпосле пустой",
    'Кавычки "двойные" и \\обратный слеш\\ и %_ в LIKE',
]


@pytest.mark.parametrize("text", VERBATIM)
async def test_text_is_stored_and_returned_verbatim(client, employee, database_url, text):
    ticket = await open_ticket(client, employee, text)
    assert ticket["text"] == text
    r = await client.get(f"/api/v1/tickets/{ticket['guid_ticket']}", headers=employee)
    assert r.json()["text"] == text
    # The raw JSON round-trips to the same UTF-8 bytes.
    assert json.loads(r.content)["text"].encode() == text.encode()
    r = await client.get("/api/tickets/get", headers=employee)
    [listed] = r.json()["response"]["relevant_tickets"]
    assert listed["text"] == text
    with_seed = await client.post("/api/tickets/open", json={"text": text}, headers=employee)
    assert with_seed.json()["response"]["text"] == text
    assert count_tickets(database_url) == 2  # the SQL-looking one dropped nothing


async def test_verbatim_text_is_searchable(client, employee):
    await open_ticket(client, employee, "100% готово_почти")
    await open_ticket(client, employee, "100 готово")
    # Full-text search: `%` and `_` are separators, not LIKE wildcards or errors.
    r = await client.get("/api/v1/tickets", params={"q": "100%"}, headers=employee)
    assert [t["text"] for t in r.json()["items"]] == ["100 готово", "100% готово_почти"]
    r = await client.get("/api/v1/tickets", params={"q": "%_%"}, headers=employee)
    assert (r.status_code, r.json()["items"]) == (200, [])


async def test_a_title_is_one_line(client, employee, existing, database_url):
    for path in ("/api/v1/tickets", "/api/tickets/open"):
        r = await client.post(
            path, json={"text": "body", "title": "first\nsecond"}, headers=employee
        )
        error = assert_error(r, 422, "validation_error")
        assert error["details"][0]["loc"][-1] == "title"
    assert count_tickets(database_url) == 1
