"""Full-text search through `q`: Russian word forms, verbatim tokens, comments and
internal notes (staff only), relevance order with its own cursor, ticket numbers."""

from __future__ import annotations

import base64
import json
import re

import pytest
from sqlalchemy import text

from tests.factories import open_ticket
from tests.tickets.conftest import join_team

APIS = pytest.mark.parametrize("api", ["v1", "seed"])


async def page(client, headers, api="v1", **params):
    url = "/api/v1/tickets" if api == "v1" else "/api/tickets/get"
    response = await client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json() if api == "v1" else response.json()["response"]
    items = body["items"] if api == "v1" else body["relevant_tickets"]
    return [t["guid_ticket"] for t in items], body["next_cursor"]


async def found(client, headers, q, api="v1", **params):
    guids, _ = await page(client, headers, api, q=q, **params)
    return guids


async def make_service(client, people, slug="it"):
    response = await client.post(
        "/api/v1/services", json={"slug": slug, "name": slug.upper()}, headers=people.admin.headers
    )
    assert response.status_code == 201, response.text


async def comment(client, headers, guid, body, internal=False):
    response = await client.post(
        f"/api/v1/tickets/{guid}/comments",
        json={"body": body, "internal": internal},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


@APIS
async def test_russian_word_forms_find_each_other(client, people, api):
    h = people.author.headers
    one = (await open_ticket(client, h, "Сломался принтер на третьем этаже"))["guid_ticket"]
    many = (await open_ticket(client, h, "Все принтеры в переговорной без бумаги"))["guid_ticket"]
    of = (await open_ticket(client, h, "Картридж для принтера закончился"))["guid_ticket"]
    await open_ticket(client, h, "Не работает VPN")
    for q in ("принтер", "принтеры", "принтера", "ПРИНТЕРАМИ"):
        assert set(await found(client, h, q, api)) == {one, many, of}, q
    assert await found(client, h, "картриджи", api) == [of]
    assert await found(client, h, "сломанный принтер", api) == [one], "every word must match"


async def test_verbatim_tokens(client, people):
    h = people.author.headers
    mail = await open_ticket(client, h, "Не приходят письма на ivan.petrov@1440.test")
    code = await open_ticket(client, h, "Windows Update: ошибка 0x80070005 при установке")
    dashed = await open_ticket(client, h, "Касса пишет E-1234 и зависает")
    uid = await open_ticket(client, h, "Заказ 3f2a9c1e-7b1d-4c55-9a0e-2b9d8c7e6f10 не найден")
    await open_ticket(client, h, "Ошибка 0x80070006 и E-1235, письма на ivan@1440.test")
    assert await found(client, h, "ivan.petrov@1440.test") == [mail["guid_ticket"]]
    assert await found(client, h, "0x80070005") == [code["guid_ticket"]]
    assert await found(client, h, "E-1234") == [dashed["guid_ticket"]]
    assert await found(client, h, "3f2a9c1e") == [uid["guid_ticket"]], "a fragment of a uuid"


async def test_a_comment_finds_its_ticket_also_after_an_edit(client, people):
    h = people.author.headers
    ticket = (await open_ticket(client, h, "Не работает VPN"))["guid_ticket"]
    await open_ticket(client, h, "Мышь не работает")
    assert await found(client, h, "роутер") == []
    said = await comment(client, people.agent.headers, ticket, "Перезагрузите роутер, пожалуйста")
    for who in (people.author, people.agent, people.admin):
        assert await found(client, who.headers, "роутеры") == [ticket], who
    await comment(client, h, ticket, "Перезагрузил, модем мигает")
    assert await found(client, h, "модем") == [ticket]
    edited = await client.patch(
        f"/api/v1/tickets/{ticket}/comments/{said['id']}",
        json={"body": "Проверьте кабель"},
        headers=people.agent.headers,
    )
    assert edited.status_code == 200, edited.text
    assert await found(client, h, "роутер") == [], "an edit takes the old words away"
    assert await found(client, h, "кабель") == [ticket]
    assert await found(client, h, "модем") == [ticket], "the other comments stay"


async def test_internal_notes_are_found_by_the_tickets_staff_only(client, app, people):
    ticket = (await open_ticket(client, people.author.headers, "Не работает VPN"))["guid_ticket"]
    await comment(client, people.agent.headers, ticket, "Пароль от маршрутизатора в сейфе", True)
    assert await found(client, people.author.headers, "маршрутизатор") == []
    assert await found(client, people.agent.headers, "маршрутизатор") == [ticket]
    assert await found(client, people.admin.headers, "маршрутизатор") == [ticket]
    # An agent who opened a ticket of another service is its author there, not its staff.
    await make_service(client, people)
    own = await open_ticket(client, people.agent.headers, "Нужен доступ", service="it")
    await comment(client, people.admin.headers, own["guid_ticket"], "Маршрутизатор сменим", True)
    assert await found(client, people.agent.headers, "маршрутизатор") == [ticket]
    assert await found(client, people.admin.headers, "маршрутизатор") == [
        own["guid_ticket"],
        ticket,
    ]
    # Joining that service's team makes the agent its staff: now the note finds it.
    await join_team(client, people.admin, people.agent.discord_id, "it")
    assert len(await found(client, people.agent.headers, "маршрутизатор")) == 2


async def test_relevance_title_above_text_above_comments_and_its_cursor(client, people):
    h = people.author.headers
    in_comment = (await open_ticket(client, h, "Что-то сломалось"))["guid_ticket"]
    await comment(client, h, in_comment, "Кажется, это сканер")
    in_text = (await open_ticket(client, h, "Проблема\nСканер не видит сеть"))["guid_ticket"]
    in_title = (await open_ticket(client, h, "Не работает сканер", title="Сканер"))["guid_ticket"]
    await open_ticket(client, h, "Другое")
    newest = await found(client, h, "сканеры")
    assert newest == [in_title, in_text, in_comment], "newest first unless told"
    best = await found(client, h, "сканеры", sort="relevance")
    assert best == [in_title, in_text, in_comment]
    # Pages of one ticket each, following the cursor, give the same order.
    walked, cursor = [], None
    while True:
        extra = {"cursor": cursor} if cursor else {}
        guids, cursor = await page(client, h, q="сканеры", sort="relevance", limit=1, **extra)
        walked += guids
        if cursor is None:
            break
        assert len(walked) < 10
    assert walked == best


async def test_relevance_pages_with_equal_ranks_miss_nothing(client, people):
    h = people.author.headers
    made = [(await open_ticket(client, h, f"Клавиатура {i}"))["guid_ticket"] for i in range(5)]
    walked, cursor = [], None
    for _ in range(10):
        extra = {"cursor": cursor} if cursor else {}
        guids, cursor = await page(client, h, q="клавиатура", sort="relevance", limit=2, **extra)
        walked += guids
        if cursor is None:
            break
    assert walked == made[::-1], "equal ranks: newest first, each exactly once"


def _raw(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


async def test_a_cursor_of_another_sort_or_a_forged_one_is_400(client, people):
    h = people.author.headers
    for i in range(3):
        await open_ticket(client, h, f"Клавиатура {i}")
    _, newest = await page(client, h, q="клавиатура", limit=1)
    _, relevant = await page(client, h, q="клавиатура", sort="relevance", limit=1)
    assert newest
    assert relevant
    cases = [
        {"q": "клавиатура", "sort": "relevance", "cursor": newest},
        {"q": "клавиатура", "cursor": relevant},
        {"cursor": _raw(["relevance", 0.5, 3])},
        {"cursor": _raw(["newest", "3"])},
        {"cursor": _raw(["newest", True])},
        {"cursor": _raw(["newest", -1])},
        {"cursor": _raw(["newest", 2**70])},
        {"cursor": _raw(["newest", 3, 4])},
        {"cursor": _raw({"newest": 3})},
        {"q": "x", "sort": "relevance", "cursor": _raw(["relevance", "NaN", 3])},
        {"q": "x", "sort": "relevance", "cursor": _raw(["relevance", [1], 3])},
        {"q": "x", "sort": "relevance", "cursor": "eyJ"},
        {"cursor": "A" * 401},
    ]
    for params in cases:
        response = await client.get("/api/v1/tickets", params=params, headers=h)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["error"]["code"] == "invalid_cursor"
    nan = await client.get(
        "/api/v1/tickets",
        params={"q": "x", "sort": "relevance", "cursor": _raw(["relevance", 1e308 * 10, 3])},
        headers=h,
    )
    assert nan.status_code == 400


async def test_relevance_needs_q_and_sort_is_checked(client, people):
    h = people.author.headers
    response = await client.get("/api/v1/tickets", params={"sort": "relevance"}, headers=h)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "sort_needs_q")
    response = await client.get("/api/v1/tickets", params={"sort": "oldest"}, headers=h)
    assert response.status_code == 422


@pytest.mark.parametrize(
    "q", ["!!!", "и", "не и или", '"', "-", "a & b | !c", "(((", "'", ":*", "<->", "\\"]
)
async def test_punctuation_and_stop_words_are_no_error(client, people, q):
    await open_ticket(client, people.author.headers, "Не работает VPN")
    for sort in ("newest", "relevance"):
        response = await client.get(
            "/api/v1/tickets", params={"q": q, "sort": sort}, headers=people.author.headers
        )
        assert response.status_code == 200, (q, response.text)


async def test_q_longer_than_200_characters_is_422(client, people):
    h = people.author.headers
    at_limit = await client.get("/api/v1/tickets", params={"q": "а" * 200}, headers=h)
    assert at_limit.status_code == 200
    too_long = await client.get("/api/v1/tickets", params={"q": "а" * 201}, headers=h)
    assert too_long.status_code == 422


@APIS
async def test_a_ticket_number_finds_that_ticket_within_visibility(client, people, api):
    mine = await open_ticket(client, people.author.headers, "Не работает VPN")
    theirs = await open_ticket(client, people.other_employee.headers, "Мышь")
    n = mine["number"]
    code = await open_ticket(client, people.author.headers, f"Ошибка {n} при входе")
    h = people.author.headers
    assert await found(client, h, f"#{n}", api) == [mine["guid_ticket"]], "#N: that ticket only"
    assert await found(client, h, f" #{n} ", api) == [mine["guid_ticket"]]
    assert set(await found(client, h, str(n), api)) == {mine["guid_ticket"], code["guid_ticket"]}
    best = await found(client, h, str(n), api, sort="relevance")
    assert best == [mine["guid_ticket"], code["guid_ticket"]], "N: the ticket numbered N first"
    # Someone else's ticket stays invisible by number, as by anything else.
    assert await found(client, h, f"#{theirs['number']}", api) == []
    assert await found(client, h, str(theirs["number"]), api) == []
    assert await found(client, people.admin.headers, f"#{theirs['number']}", api) == [
        theirs["guid_ticket"]
    ]
    assert await found(client, h, "#999999999", api) == []


async def test_search_combines_with_filters(client, people):
    h = people.author.headers
    await make_service(client, people)
    first = await open_ticket(client, h, "Принтер")
    await open_ticket(client, h, "Принтер", service="it")
    response = await client.post(
        f"/api/v1/tickets/{first['guid_ticket']}/status",
        json={"status": "closed_fail"},
        headers=h,
    )
    assert response.status_code == 200, response.text
    assert await found(client, h, "принтер", status="closed_fail") == [first["guid_ticket"]]
    assert len(await found(client, h, "принтер", service="it")) == 1


ZIPF_TICKETS = """
    INSERT INTO tickets (id, title, text, status, priority, service_id, author_id, version)
    SELECT gen_random_uuid(), 'Заявка ' || g,
           'Код E-' || g || ' ' || (
               SELECT string_agg('w' || floor(exp(random() * ln(5000)))::int, ' ')
               FROM generate_series(1, 8 + g % 2)),
           'open', 'normal', (SELECT min(id) FROM services),
           (SELECT id FROM users WHERE discord_id = '555'), 1
    FROM generate_series(1, 20000) AS g
"""

RARE_CODE = """
    SELECT number FROM tickets
    WHERE search @@ (websearch_to_tsquery('russian', 'E-4242')
                     || websearch_to_tsquery('simple', 'E-4242'))
    ORDER BY number DESC LIMIT 51
"""


async def seed_zipf_tickets(session) -> None:
    """20,000 tickets whose words follow a Zipf-like law, as real text does, and one
    error code each (`E-<n>`)."""
    await session.execute(
        text(
            """
            INSERT INTO users (discord_id, username, email_verified, role, role_set_by_admin)
            VALUES ('555', 'seed', false, 'employee', false)
            """
        )
    )
    await session.execute(text(ZIPF_TICKETS))


async def test_the_gin_index_serves_a_search(app):
    """On a seeded table the planner reads the GIN index, not every row, for a rare
    token. The words follow a Zipf-like law: the planner's statistics (the most common
    lexemes) then tell a rare token from a common one; with a handful of distinct words
    it would guess 0.5 % of the rows for any token and scan by number."""
    async with app.state.sessionmaker() as session:
        await seed_zipf_tickets(session)
        await session.execute(text("ANALYZE tickets"))
        plan = "\n".join((await session.execute(text("EXPLAIN " + RARE_CODE))).scalars())
        await session.rollback()
    assert "ix_tickets_search" in plan, plan


async def test_a_rare_code_reads_a_few_pages_right_after_many_tickets_opened(app):
    """Just-written tickets are in the index proper, not in a pending list that every
    search would read through until a vacuum merged it (GIN `fastupdate`): the same rare
    code read about 450 pages after 8,000 changed tickets at a million, and 10x the time."""
    async with app.state.sessionmaker() as session:
        await seed_zipf_tickets(session)
        await session.execute(text("SET LOCAL enable_seqscan = off"))  # the index, always
        plan = "\n".join(
            (await session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + RARE_CODE))).scalars()
        )
        await session.rollback()
    # The index scan's own line "Buffers: shared hit=13" (245 with a pending list).
    scan = plan[plan.index("Bitmap Index Scan on ix_tickets_search") :]
    buffers = next(line for line in scan.splitlines() if "Buffers:" in line)
    pages = sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", buffers))
    assert 0 < pages < 50, plan
