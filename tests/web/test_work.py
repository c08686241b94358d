"""Working a ticket in the web UI without JavaScript: the conversation, claim / assign /
follow, the queue's views and counts, and an admin building a service's team."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from tests.conversation.conftest import age_comment
from tests.factories import auth_headers, join_team, open_ticket, token_for
from tests.statements import watch_sql
from tests.web.conftest import csrf_of, demo_sign_in, post_form
from ticket_service.kit import driver_sql
from ticket_service.tickets import service
from ticket_service.tickets.repository import COUNT_CAP
from ticket_service.users.models import Role, User
from ticket_service.web.auth_routes import DEMO_PEOPLE
from ticket_service.web.ticket_routes import queue_views

AGENT = DEMO_PEOPLE[Role.agent][0]
COUNT = re.compile(r'href="/queue\?view=(\w+)[^"]*"[^>]*>[^<]*<span class="count">(\d+)</span>')


@pytest.fixture
async def other_browser(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A second person's browser (its own cookies)."""
    transport = httpx.ASGITransport(app=web_app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"accept": "text/html", "accept-language": "ru"},
    ) as client:
        yield client


async def _agent_on_general(web_app: FastAPI) -> None:
    await token_for(web_app, AGENT, Role.agent)
    await join_team(web_app, AGENT, "general")


async def _employee_ticket(browser: httpx.AsyncClient, text: str) -> str:
    await demo_sign_in(browser, "employee")
    made = await post_form(
        browser, "/tickets/new", "/tickets/new", {"service": "general", "text": text}
    )
    assert made.status_code == 303, made.text
    return str(made.headers["location"])


async def test_reply_and_internal_note_the_author_never_sees(
    browser: httpx.AsyncClient, other_browser: httpx.AsyncClient, web_app: FastAPI
) -> None:
    await _agent_on_general(web_app)
    ticket = await _employee_ticket(browser, "Не печатает принтер")
    await demo_sign_in(other_browser, "agent")

    agent_page = (await other_browser.get(ticket)).text
    assert "Ответ или внутренняя заметка" in agent_page
    assert 'name="internal" value="1"' in agent_page  # "Внутренняя заметка" button
    replied = await post_form(
        other_browser, ticket, ticket + "/comments", {"body": "Проверьте бумагу", "internal": "0"}
    )
    assert replied.status_code == 303
    assert re.fullmatch(re.escape(ticket) + r"#comment-\d+", replied.headers["location"])
    noted = await post_form(
        other_browser, ticket, ticket + "/comments", {"body": "Картридж на складе", "internal": "1"}
    )
    assert noted.status_code == 303

    # The staff see the note, marked in words (not by colour alone).
    agent_page = (await other_browser.get(ticket)).text
    note = agent_page.split("Картридж на складе")[0].rsplit("<li", 1)[1]
    assert 'class="comment internal"' in note
    assert "Внутренняя заметка: автор её не видит" in note

    # The author: the reply, in the page and in the polled fragment; the note nowhere.
    for path in (ticket, ticket + "/conversation"):
        seen = await browser.get(path)
        assert seen.status_code == 200
        assert "Проверьте бумагу" in seen.text
        assert "Картридж на складе" not in seen.text
        assert "Внутренняя заметка: автор" not in seen.text
    employee_page = (await browser.get(ticket)).text
    assert 'hx-get="' + ticket + '/conversation"' in employee_page
    assert 'name="internal" value="1"' not in employee_page
    # An employee cannot write a note by forging the field.
    forged = await post_form(
        browser, ticket, ticket + "/comments", {"body": "Секрет", "internal": "1"}
    )
    assert forged.status_code == 403
    blank = await post_form(browser, ticket, ticket + "/comments", {"body": "   "})
    assert blank.status_code == 422
    assert 'id="body-error"' in blank.text
    assert "Заполните это поле." in blank.text
    answered = await post_form(browser, ticket, ticket + "/comments", {"body": "Бумага есть"})
    assert answered.status_code == 303
    assert "Бумага есть" in (await other_browser.get(ticket + "/conversation")).text


async def test_own_message_can_be_edited_within_the_window(
    browser: httpx.AsyncClient,
    other_browser: httpx.AsyncClient,
    web_app: FastAPI,
    database_url: str,
) -> None:
    await _agent_on_general(web_app)
    ticket = await _employee_ticket(browser, "Нет доступа к папке")
    sent = await post_form(browser, ticket, ticket + "/comments", {"body": "Папка Отчёты"})
    comment_id = int(sent.headers["location"].rsplit("-", 1)[1])
    edit = f"{ticket}/comments/{comment_id}/edit"
    page = (await browser.get(ticket)).text
    assert f'href="{edit}"' in page

    form = await browser.get(edit)
    assert form.status_code == 200
    assert "Папка Отчёты" in form.text
    blank = await browser.post(
        f"{ticket}/comments/{comment_id}", data={"csrf_token": csrf_of(form.text), "body": ""}
    )
    assert blank.status_code == 422
    assert 'id="body-error"' in blank.text
    saved = await browser.post(
        f"{ticket}/comments/{comment_id}",
        data={"csrf_token": csrf_of(form.text), "body": "Папка Отчёты-2026"},
    )
    assert saved.status_code == 303
    page = (await browser.get(ticket)).text
    assert "Папка Отчёты-2026" in page
    assert "(изменено)" in page

    # Somebody else's message: no link, and the form is refused.
    await demo_sign_in(other_browser, "agent")
    assert f'href="{edit}"' not in (await other_browser.get(ticket)).text
    assert (await other_browser.get(edit)).status_code == 403
    assert (await other_browser.get(f"{ticket}/comments/999999/edit")).status_code == 404

    # Eleven minutes later (by the database's clock): too late.
    age_comment(database_url, comment_id, 11)
    assert f'href="{edit}"' not in (await browser.get(ticket)).text
    late = await browser.get(edit)
    assert late.status_code == 409
    assert "Править уже поздно" in late.text
    refused = await browser.post(
        f"{ticket}/comments/{comment_id}",
        data={"csrf_token": csrf_of(form.text), "body": "Поздно"},
    )
    assert refused.status_code == 409
    assert "Поздно" not in (await browser.get(ticket)).text


async def test_agent_claims_hands_over_and_follows(
    browser: httpx.AsyncClient,
    other_browser: httpx.AsyncClient,
    web_app: FastAPI,
    client_for_api: httpx.AsyncClient,
) -> None:
    await _agent_on_general(web_app)
    colleague = await auth_headers(web_app, "2002", Role.agent)
    await join_team(web_app, "2002", "general")
    ticket = await _employee_ticket(browser, "Замените мышь")
    guid = ticket.rsplit("/", 1)[1]
    assert "Работа с заявкой" not in (await browser.get(ticket)).text  # the author: none

    await demo_sign_in(other_browser, "agent")
    page = (await other_browser.get(ticket)).text
    assert ">Взять</button>" in page
    assert 'action="' + ticket + '/assign"' in page
    assert 'value="2002"' in page  # the team in the select
    claimed = await post_form(other_browser, ticket, ticket + "/claim", {})
    assert claimed.status_code == 303
    page = (await other_browser.get(ticket)).text
    assert ">Взять</button>" not in page
    assert "Исполнитель: Демо-агент" in page

    handed = await post_form(other_browser, ticket, ticket + "/assign", {"assignee": "2002"})
    assert handed.status_code == 303
    api = await client_for_api.get(f"/api/v1/tickets/{guid}", headers=colleague)
    assert api.json()["assignee"] == "2002"
    stranger = await post_form(other_browser, ticket, ticket + "/assign", {"assignee": "1001"})
    assert stranger.status_code == 422  # not on the team: the service's refusal, as a page

    followed = await post_form(other_browser, ticket, ticket + "/follow", {})
    assert followed.status_code == 303
    page = (await other_browser.get(ticket)).text
    assert "Не следить" in page
    listed = await client_for_api.get(
        "/api/v1/tickets",
        params={"follower": "me"},
        headers=await auth_headers(web_app, AGENT, Role.agent),
    )
    assert [t["guid_ticket"] for t in listed.json()["items"]] == [guid]
    unfollowed = await post_form(other_browser, ticket, ticket + "/unfollow", {})
    assert unfollowed.headers["location"] == ticket  # still on the team: still visible
    assert ">Следить</button>" in (await other_browser.get(ticket)).text

    # The author cannot claim, assign or follow by posting the forms.
    for action, fields in (("claim", {}), ("assign", {"assignee": "2002"}), ("follow", {})):
        refused = await post_form(browser, ticket, f"{ticket}/{action}", fields)
        assert refused.status_code == 403, action


async def test_queue_views_with_their_counts(
    browser: httpx.AsyncClient, web_app: FastAPI, client_for_api: httpx.AsyncClient
) -> None:
    await _agent_on_general(web_app)
    agent = await auth_headers(web_app, AGENT, Role.agent)
    admin = await auth_headers(web_app, "3001", Role.admin)
    employee = await auth_headers(web_app, "1002")
    made = await client_for_api.post(
        "/api/v1/services", json={"slug": "elsewhere", "name": "Elsewhere"}, headers=admin
    )
    assert made.status_code == 201
    free = await open_ticket(client_for_api, employee, "Свободная заявка")
    taken = await open_ticket(client_for_api, employee, "Моя заявка")
    waiting = await open_ticket(client_for_api, employee, "Ждёт ответа")
    closed = await open_ticket(client_for_api, employee, "Закрытая заявка")
    await open_ticket(client_for_api, employee, "Чужой сервис", service="elsewhere")
    moves = (
        (taken, "processing"),
        (waiting, "processing"),
        (waiting, "waiting"),
        (closed, "closed_success"),
    )
    for t, status in moves:
        moved = await client_for_api.post(
            f"/api/v1/tickets/{t['guid_ticket']}/status", json={"status": status}, headers=agent
        )
        assert moved.status_code == 200, moved.text
    await demo_sign_in(browser, "agent")

    queue = await browser.get("/queue")
    counts = dict(COUNT.findall(queue.text))
    # Moving into work assigns it to the mover: taken, waiting and closed are the agent's.
    assert counts == {
        "my_services": "3",
        "unassigned": "1",
        "mine": "2",
        "at_risk": "0",  # no SLA on these services
        "breached": "0",
        "waiting": "1",
        "all": "4",
    }
    assert "Чужой сервис" not in queue.text
    assert "Закрытая заявка" not in queue.text  # the default view: my services, not closed
    unassigned = (await browser.get("/queue", params={"view": "unassigned"})).text
    assert "Свободная заявка" in unassigned
    assert "Моя заявка" not in unassigned
    assert "Закрытая заявка" in (await browser.get("/queue", params={"view": "all"})).text
    searched = await browser.get("/queue", params={"view": "all", "q": "Моя"})
    assert dict(COUNT.findall(searched.text))["all"] == "1"
    assert "Свободная заявка" not in searched.text
    assert free["guid_ticket"] in unassigned
    # The same views through the API.
    api = await client_for_api.get(
        "/api/v1/tickets", params={"team": "me", "active": "true"}, headers=agent
    )
    assert len(api.json()["items"]) == 3


async def test_the_counts_move_with_the_next_page_load(
    browser: httpx.AsyncClient, web_app: FastAPI, client_for_api: httpx.AsyncClient
) -> None:
    # The counts are read with the page, never from a copy kept aside: a ticket opened,
    # claimed or closed moves them on the very next load.
    await _agent_on_general(web_app)
    employee = await auth_headers(web_app, "1002")
    await open_ticket(client_for_api, employee, "Старая заявка")
    await demo_sign_in(browser, "agent")

    async def counts() -> dict[str, int]:
        page = (await browser.get("/queue")).text
        found = {view: int(n) for view, n in COUNT.findall(page)}
        return {v: found[v] for v in ("my_services", "unassigned", "mine", "all")}

    assert await counts() == {"my_services": 1, "unassigned": 1, "mine": 0, "all": 1}
    made = await open_ticket(client_for_api, employee, "Новая заявка")
    assert await counts() == {"my_services": 2, "unassigned": 2, "mine": 0, "all": 2}
    ticket = f"/tickets/{made['guid_ticket']}"
    claimed = await post_form(browser, ticket, ticket + "/claim", {})
    assert claimed.status_code == 303
    assert await counts() == {"my_services": 2, "unassigned": 1, "mine": 1, "all": 2}
    closed = await post_form(browser, ticket, ticket + "/status", {"status": "closed_success"})
    assert closed.status_code == 303
    assert await counts() == {"my_services": 1, "unassigned": 1, "mine": 0, "all": 2}


async def test_admin_builds_a_team_and_sets_the_assignment_mode(
    browser: httpx.AsyncClient, web_app: FastAPI, client_for_api: httpx.AsyncClient
) -> None:
    await token_for(web_app, "2002", Role.agent)
    await token_for(web_app, "1002", Role.employee)
    await demo_sign_in(browser, "admin")
    page = "/admin/services/general"
    added = await post_form(browser, page, page + "/team", {"discord_id": "2002"})
    assert added.status_code == 303
    html = (await browser.get(page)).text
    assert "(2002" in html
    assert 'action="/admin/services/general/team/2002/remove"' in html
    employee = await post_form(browser, page, page + "/team", {"discord_id": "1002"})
    assert employee.status_code == 422
    assert "сначала дайте человеку роль агента" in employee.text
    unknown = await post_form(browser, page, page + "/team", {"discord_id": "4040"})
    assert unknown.status_code == 422
    assert "С таким Discord id ещё никто не входил." in unknown.text
    assert (await post_form(browser, page, "/admin/services/nope/team", {})).status_code == 404

    saved = await post_form(
        browser,
        page,
        page,
        {"name": "Общие вопросы", "is_active": "on", "assignment": "round_robin"},
    )
    assert saved.status_code == 303
    assert 'value="round_robin" selected' in (await browser.get(page)).text
    opened = await open_ticket(
        client_for_api, await auth_headers(web_app, "1002"), "Автоназначение"
    )
    assert opened["assignee"] == "2002"

    removed = await post_form(browser, page, page + "/team/2002/remove", {})
    assert removed.status_code == 303
    assert "(2002" not in (await browser.get(page)).text


async def test_a_poll_after_the_session_ended_sends_the_whole_page_to_sign_in(
    browser: httpx.AsyncClient,
) -> None:
    ticket = await _employee_ticket(browser, "Сеанс истёк")
    page = (await browser.get(ticket)).text
    signed_out = await browser.post("/logout", data={"csrf_token": csrf_of(page)})
    assert signed_out.status_code == 303
    poll = await browser.get(
        ticket + "/conversation",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver" + ticket},
    )
    assert poll.status_code == 204  # nothing swapped into the page...
    assert poll.headers["hx-redirect"] == "/login?next=" + ticket  # ...the page goes instead
    plain = await browser.get(ticket + "/conversation")
    assert plain.status_code == 303
    assert plain.headers["location"].startswith("/login?next=")


async def test_unfollowing_the_last_way_in_goes_back_to_the_queue(
    browser: httpx.AsyncClient,
    other_browser: httpx.AsyncClient,
    web_app: FastAPI,
    client_for_api: httpx.AsyncClient,
) -> None:
    await _agent_on_general(web_app)
    ticket = await _employee_ticket(browser, "Следить и уйти")
    await demo_sign_in(other_browser, "agent")
    assert (await post_form(other_browser, ticket, ticket + "/follow", {})).status_code == 303
    admin = await auth_headers(web_app, "3001", Role.admin)
    left = await client_for_api.delete(f"/api/v1/services/general/agents/{AGENT}", headers=admin)
    assert left.status_code in (200, 204), left.text
    assert (await other_browser.get(ticket)).status_code == 200  # following still lets in
    gone = await post_form(other_browser, ticket, ticket + "/unfollow", {})
    assert gone.headers["location"] == "/queue"
    assert (await other_browser.get(ticket)).status_code == 404


async def test_the_counts_of_every_view_are_one_query(web_app: FastAPI) -> None:
    await _agent_on_general(web_app)
    async with web_app.state.sessionmaker() as session:
        agent = (await session.scalars(select(User).where(User.discord_id == AGENT))).one()
        statements = watch_sql(web_app)
        counts = await service.count_tickets(session, agent, queue_views(None, None))
    views = ("my_services", "unassigned", "mine", "at_risk", "breached", "waiting", "all")
    assert counts == dict.fromkeys(views, 0)
    assert len(statements) == 1
    # One capped count per view: a big queue reads at most COUNT_CAP rows per view. The
    # cap is written into the statement, not a parameter: psycopg prepares a statement run
    # five times, and PostgreSQL's generic plan of `LIMIT $1` would not know it is small.
    assert statements[0].count(f"LIMIT {COUNT_CAP}") == len(views)


async def test_two_agents_share_the_statement_not_the_counts(
    web_app: FastAPI, client_for_api: httpx.AsyncClient
) -> None:
    # The counts' statement is built once per role and reused with the caller as a
    # parameter: each agent still counts their own teams' tickets.
    admin = await auth_headers(web_app, "3001", Role.admin)
    made = await client_for_api.post(
        "/api/v1/services", json={"slug": "elsewhere", "name": "Elsewhere"}, headers=admin
    )
    assert made.status_code == 201
    employee = await auth_headers(web_app, "1002")
    for title in ("Первая", "Вторая"):
        await open_ticket(client_for_api, employee, title)
    await open_ticket(client_for_api, employee, "Третья", service="elsewhere")
    await _agent_on_general(web_app)
    await token_for(web_app, "2002", Role.agent)
    await join_team(web_app, "2002", "elsewhere")
    views = queue_views(None, None)
    async with web_app.state.sessionmaker() as session:
        people = {
            u.discord_id: u
            for u in await session.scalars(select(User).where(User.discord_id.in_([AGENT, "2002"])))
        }
        for _ in range(7):  # past psycopg's prepare threshold: the prepared statement too
            first = await service.count_tickets(session, people[AGENT], views)
            second = await service.count_tickets(session, people["2002"], views)
    assert (first["my_services"], first["all"]) == (2, 2)
    assert (second["my_services"], second["all"]) == (1, 1)


async def test_a_count_stops_at_its_cap(web_app: FastAPI, database_url: str) -> None:
    # A queue bigger than the cap shows "1000+", not an exact count it would have to read
    # every ticket for.
    await _agent_on_general(web_app)
    async with web_app.state.sessionmaker() as session:
        agent = (await session.scalars(select(User).where(User.discord_id == AGENT))).one()
        author_id = agent.id
        service_id = (
            await session.execute(text("SELECT id FROM services WHERE slug = 'general'"))
        ).scalar_one()
        await session.execute(
            text(
                "INSERT INTO tickets"
                " (id, title, text, status, priority, service_id, author_id, version)"
                " SELECT gen_random_uuid(), 'T', 'x', 'open', 'normal', :s, :a, 1"
                " FROM generate_series(1, :n)"
            ),
            {"s": service_id, "a": author_id, "n": COUNT_CAP + 5},
        )
        await session.commit()
        counts = await service.count_tickets(session, agent, queue_views(None, None))
    assert counts["all"] == COUNT_CAP
    assert counts["unassigned"] == COUNT_CAP
    assert counts["waiting"] == 0


@pytest.mark.parametrize(
    ("view", "index"),
    [
        ("my_services", "ix_tickets_active_service"),
        ("unassigned", "ix_tickets_active_unassigned"),
        ("all", "ix_tickets_service_number"),
    ],
)
async def test_a_big_count_reads_its_index_alone(web_app: FastAPI, view: str, index: str) -> None:
    # The three views that reach the cap in a big queue are counted from an index that
    # carries what the visibility rule reads (tickets.models.VISIBILITY_COLUMNS): 1,000
    # entries from a dozen index pages, not each ticket's heap page (migration
    # 0016_queuepage). Unassigned tickets are also a few of the active ones, scattered
    # through the table: their count must not walk the table to meet COUNT_CAP of them.
    await _agent_on_general(web_app)
    statements: list[tuple[str, Mapping[str, Any]]] = []
    async with web_app.state.sessionmaker() as session:
        agent = (await session.scalars(select(User).where(User.discord_id == AGENT))).one()
        await session.execute(
            text(
                "INSERT INTO tickets (id, title, text, status, priority, service_id, author_id,"
                " assignee_id, version)"
                " SELECT gen_random_uuid(), 'T', repeat(md5(g::text) || ' ', 12), 'open', 'normal',"
                " (SELECT id FROM services WHERE slug = 'general'), :a,"
                " CASE WHEN g % 20 = 0 THEN NULL ELSE :a END, 1"
                " FROM generate_series(1, 20000) AS g"
            ),
            {"a": agent.id},
        )
        await session.commit()
    # As autovacuum leaves a table: the visibility map says which pages need no visit.
    async with web_app.state.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM (ANALYZE) tickets, service_agents, ticket_followers"))
    async with web_app.state.sessionmaker() as session:
        one_view = {view: queue_views(None, None)[view]}
        # The counts run on the driver (kit/driver_sql.py): its statements are observed there.
        driver_sql.observe(
            web_app.state.engine.sync_engine,
            lambda sql, params: statements.append((sql, params)),
        )
        counts = await service.count_tickets(session, agent, one_view)
        statement, parameters = statements[0]
        # The statement as it was sent, on the same connection (its parameters in
        # psycopg's own style).
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        cursor = await raw.execute("EXPLAIN " + statement, parameters)
        plan = "\n".join(row[0] for row in await cursor.fetchall())
    assert counts == {view: COUNT_CAP}
    assert f"Index Only Scan using {index} " in plan, plan
