"""Listing tickets through both list endpoints: filters, visibility, keyset pages."""

from __future__ import annotations

import base64

import pytest

from tests.factories import open_ticket
from tests.tickets.conftest import join_team
from tests.tickets.helpers import change_v1, move_to

APIS = pytest.mark.parametrize("api", ["v1", "seed"])


async def list_page(client, headers, api, **params):
    """One page as (tickets, next_cursor), whichever API answers it."""
    url = "/api/v1/tickets" if api == "v1" else "/api/tickets/get"
    response = await client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json() if api == "v1" else response.json()["response"]
    items = body["items"] if api == "v1" else body["relevant_tickets"]
    return items, body["next_cursor"]


async def guids(client, headers, api, **params):
    items, _ = await list_page(client, headers, api, **params)
    return [t["guid_ticket"] for t in items]


async def walk(client, headers, api, **params):
    """Every page in turn, following next_cursor; returns the pages' guid lists."""
    pages, cursor = [], None
    while True:
        extra = {"cursor": cursor} if cursor else {}
        items, cursor = await list_page(client, headers, api, **params, **extra)
        pages.append([t["guid_ticket"] for t in items])
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor never ends"


def cursor_of(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@APIS
async def test_newest_first_and_only_what_the_caller_may_see(client, people, api):
    a1 = await open_ticket(client, people.author.headers, "a1")
    b1 = await open_ticket(client, people.other_employee.headers, "b1")
    a2 = await open_ticket(client, people.author.headers, "a2")
    ids = [t["guid_ticket"] for t in (a2, b1, a1)]
    assert await guids(client, people.author.headers, api) == [ids[0], ids[2]]
    assert await guids(client, people.other_employee.headers, api) == [ids[1]]
    assert await guids(client, people.agent.headers, api) == ids
    assert await guids(client, people.admin.headers, api) == ids


@APIS
async def test_filters(client, people, api):
    created = await client.post(
        "/api/v1/services", json={"slug": "it", "name": "IT"}, headers=people.admin.headers
    )
    assert created.status_code == 201
    await join_team(client, people.admin, people.agent.discord_id, "it")
    vpn = await open_ticket(client, people.author.headers, "VPN", service="it", priority="high")
    chair = await open_ticket(client, people.other_employee.headers, "Стул сломан", priority="low")
    mouse = await open_ticket(client, people.author.headers, "Мышь", service="it")
    assert (
        await change_v1(client, people.agent.headers, vpn["guid_ticket"], "processing")
    ).is_success
    await move_to(client, people.admin.headers, chair["guid_ticket"], "closed_fail")
    g = {name: t["guid_ticket"] for name, t in (("vpn", vpn), ("chair", chair), ("mouse", mouse))}
    staff = people.agent.headers

    cases = [
        ({"author": "1001"}, ["mouse", "vpn"]),
        ({"author": "1002"}, ["chair"]),
        ({"author": "999999"}, []),
        ({"status": "processing"}, ["vpn"]),
        ({"status": "closed_fail"}, ["chair"]),
        ({"status": "open"}, ["mouse"]),
        ({"status": "closed_success"}, []),
        ({"service": "it"}, ["mouse", "vpn"]),
        ({"service": "general"}, ["chair"]),
        ({"service": "nope"}, []),
        ({"assignee": "2001"}, ["vpn"]),
        ({"assignee": "3001"}, []),
        ({"priority": "high"}, ["vpn"]),
        ({"priority": "normal"}, ["mouse"]),
        ({"priority": "urgent"}, []),
        ({"guid_ticket": g["chair"]}, ["chair"]),
        ({"service": "it", "status": "open"}, ["mouse"]),
        ({"author": "1001", "priority": "high", "assignee": "2001"}, ["vpn"]),
    ]
    for params, expected in cases:
        assert await guids(client, staff, api, **params) == [g[n] for n in expected], params

    # The filters narrow what an employee sees; they never widen it.
    assert await guids(client, people.author.headers, api, service="it") == [g["mouse"], g["vpn"]]
    assert await guids(client, people.author.headers, api, status="closed_fail") == []


@APIS
async def test_text_search(client, people, api):
    texts = {
        "printer": "Принтер не печатает\nна третьем этаже",
        "percent": "Скидка 100% не применилась",
        "digits": "Счёт 1000 рублей",
        "under": "Папка my_docs пропала",
        "plain": "Папка mydocs пропала",
        "slash": "Путь C:\\Users\\a не открывается",
    }
    g = {}
    for name, text in texts.items():
        g[name] = (await open_ticket(client, people.author.headers, text))["guid_ticket"]
    titled = await open_ticket(client, people.author.headers, "Без слов", title="Монитор мигает")
    h = people.author.headers

    async def found(q):
        return set(await guids(client, h, api, q=q))

    assert await found("печатает") == {g["printer"]}
    assert await found("третьем") == {g["printer"]}, "the text, not only the title, is searched"
    assert await found("ПРИНТЕР") == {g["printer"]}, "search ignores case"
    assert await found("монитор") == {titled["guid_ticket"]}, "a given title is searched too"
    # Full-text search: words, not substrings; punctuation separates them.
    assert await found("100%") == {g["percent"]}, "the token 100, not 1000"
    assert await found("1000") == {g["digits"]}
    assert await found("%") == set(), "punctuation alone finds nothing, and is no error"
    assert await found("_") == set()
    assert await found("my_docs") == {g["under"]}, "my and docs, not mydocs"
    assert await found("mydocs") == {g["plain"]}
    assert await found("\\Users\\") == {g["slash"]}
    assert await found("нет такого") == set()


@APIS
async def test_created_between(client, people, api):
    tickets = [await open_ticket(client, people.author.headers, f"t{i}") for i in range(3)]
    ids = [t["guid_ticket"] for t in tickets]
    middle = tickets[1]["created_at"]
    h = people.author.headers
    assert await guids(client, h, api, created_after=middle) == [ids[2], ids[1]], "inclusive"
    assert await guids(client, h, api, created_before=middle) == [ids[0]], "exclusive"
    assert await guids(
        client,
        h,
        api,
        created_after=tickets[0]["created_at"],
        created_before=tickets[2]["created_at"],
    ) == [ids[1], ids[0]]


@APIS
@pytest.mark.parametrize(("count", "limit"), [(11, 3), (6, 3), (5, 1), (4, 50)])
async def test_walking_pages_sees_every_ticket_once_in_order(client, people, api, count, limit):
    opened = [await open_ticket(client, people.author.headers, f"№{i}") for i in range(count)]
    newest_first = [t["guid_ticket"] for t in reversed(opened)]
    pages = await walk(client, people.agent.headers, api, limit=limit)
    assert [g for page in pages for g in page] == newest_first
    assert [len(p) for p in pages] == [min(limit, count - i) for i in range(0, count, limit)], (
        "full pages, no empty last page"
    )


@APIS
async def test_walking_filtered_pages(client, people, api):
    ours, theirs = [], []
    for i in range(7):
        ours.append(await open_ticket(client, people.author.headers, f"мой {i}"))
        theirs.append(await open_ticket(client, people.other_employee.headers, f"чужой {i}"))
    for t in ours[::2]:
        await move_to(client, people.admin.headers, t["guid_ticket"], "processing")
    expected = [t["guid_ticket"] for t in reversed(ours[::2])]
    pages = await walk(
        client, people.admin.headers, api, limit=2, status="processing", author="1001"
    )
    assert [g for page in pages for g in page] == expected
    own_pages = await walk(client, people.other_employee.headers, api, limit=3)
    assert [g for page in own_pages for g in page] == [t["guid_ticket"] for t in reversed(theirs)]


@APIS
async def test_tickets_opened_during_a_walk_cause_no_duplicates_or_gaps(client, people, api):
    before = [await open_ticket(client, people.author.headers, f"до {i}") for i in range(6)]
    first, cursor = await list_page(client, people.agent.headers, api, limit=2)
    await open_ticket(client, people.author.headers, "во время обхода")
    seen = [t["guid_ticket"] for t in first]
    while cursor:
        items, cursor = await list_page(client, people.agent.headers, api, limit=2, cursor=cursor)
        seen.extend(t["guid_ticket"] for t in items)
    assert seen == [t["guid_ticket"] for t in reversed(before)]


@APIS
async def test_limit_bounds(client, people, api):
    for i in range(3):
        await open_ticket(client, people.author.headers, f"{i}")
    url = "/api/v1/tickets" if api == "v1" else "/api/tickets/get"
    h = people.author.headers
    for limit in (0, -1, 201, "many"):
        response = await client.get(url, params={"limit": limit}, headers=h)
        assert response.status_code == 422, (limit, response.text)
    for limit, size in ((1, 1), (200, 3)):
        items, _ = await list_page(client, h, api, limit=limit)
        assert len(items) == size
    items, cursor = await list_page(client, h, api)
    assert (len(items), cursor) == (3, None), "default limit is 50"


async def test_default_limit_is_50(client, people):
    for i in range(51):
        await open_ticket(client, people.author.headers, f"{i}")
    items, cursor = await list_page(client, people.author.headers, "v1")
    assert len(items) == 50
    assert cursor is not None
    rest, end = await list_page(client, people.author.headers, "v1", cursor=cursor)
    assert (len(rest), end) == (1, None)


@APIS
@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        "ü",
        cursor_of("n:abc"),
        cursor_of("x:5"),
        cursor_of("n:-1"),
        cursor_of("n:²"),
        cursor_of("n:١٢"),
        cursor_of("n:" + "9" * 30),
        "A" * 65,
        cursor_of("n:1" + " " * 60),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
    ids=[
        "word",
        "punct",
        "non-ascii",
        "not-number",
        "prefix",
        "negative",
        "superscript-digit",
        "arabic-digits",
        "huge",
        "too-long",
        "too-long-but-valid-start",
        "not-utf8",
    ],
)
async def test_a_garbage_cursor_is_400(client, people, api, cursor):
    await open_ticket(client, people.author.headers)
    url = "/api/v1/tickets" if api == "v1" else "/api/tickets/get"
    response = await client.get(url, params={"cursor": cursor}, headers=people.author.headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"


@APIS
async def test_unknown_status_filter_is_400_and_bad_priority_422(client, people, api):
    url = "/api/v1/tickets" if api == "v1" else "/api/tickets/get"
    response = await client.get(url, params={"status": "archived"}, headers=people.agent.headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_status"
    response = await client.get(url, params={"priority": "asap"}, headers=people.agent.headers)
    assert response.status_code == 422


@APIS
async def test_listing_needs_a_token(client, api):
    url = "/api/v1/tickets" if api == "v1" else "/api/tickets/get"
    assert (await client.get(url)).status_code == 401


@APIS
@pytest.mark.parametrize("name", ["q", "author", "service", "assignee"])
async def test_a_nul_character_in_a_text_filter_is_422_not_500(client, people, api, name):
    await open_ticket(client, people.author.headers)
    url = "/api/v1/tickets" if api == "v1" else "/api/tickets/get"
    response = await client.get(url, params={name: "1\x00"}, headers=people.agent.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
