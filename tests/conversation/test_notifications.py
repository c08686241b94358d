"""Who hears about a reply, a note and an edit: exactly the registry's audience, as the
real receivers got it (SMTP server, Discord DM endpoints, Slack, a webhook), delivered by
the real worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conversation.conftest import commented, follow, on_team
from tests.conversation.listeners import Heard, listen
from tests.factories import open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.receivers import (
    MailSink,
    all_sent_once,
    changed,
    person,
    smtp_server,
    smtp_settings,
)
from ticket_service.users.models import Role

AUTHOR, AGENT, AGENT2, OTHER, ADMIN = (
    "author@1440.test",
    "agent@1440.test",
    "agent2@1440.test",
    "other@1440.test",
    "admin@1440.test",
)
TEAM = "general-team@1440.test"
REPLY = "Перезагрузите роутер и попробуйте снова"
ANSWER = "Перезагрузил, не помогло"
NOTE = "Сертификат VPN истёк, перевыпускаю"


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    with smtp_server() as server:
        yield server


class World:
    def __init__(self, app, client, settings, heard: Heard, people: dict[str, dict[str, str]]):
        self.app, self.client, self.settings, self.heard = app, client, settings, heard
        self.h = people

    async def quiet(self) -> None:
        """Deliver what is pending, then listen afresh."""
        await run_worker_until_idle(self.settings)
        self.heard.mark()

    async def delivered(self) -> None:
        await run_worker_until_idle(self.settings)


@pytest.fixture
async def world(build, database_url, httpserver, smtp):
    async def make(**overrides: Any) -> World:
        sink, port = smtp
        app, client, settings = await build(
            **smtp_settings(port), **listen(httpserver), **overrides
        )
        people = {
            "admin": await person(app, database_url, "3001", Role.admin, email_address=ADMIN),
            "author": await person(
                app, database_url, "1001", email_address=AUTHOR, display_name="Алиса"
            ),
            "other": await person(app, database_url, "1002", email_address=OTHER),
            "agent": await person(
                app, database_url, "2001", Role.agent, email_address=AGENT, display_name="Борис"
            ),
            "agent2": await person(app, database_url, "2002", Role.agent, email_address=AGENT2),
        }
        on_team(database_url, "2001")
        on_team(database_url, "2002")
        team = await client.patch(
            "/api/v1/services/general", json={"notify_emails": [TEAM]}, headers=people["admin"]
        )
        assert team.status_code == 200, team.text
        return World(app, client, settings, Heard(httpserver, sink), people)

    return make


async def test_a_staff_reply_reaches_the_author_with_its_text(world, database_url):
    w = await world()
    ticket = await open_ticket(w.client, w.h["author"])
    guid = ticket["guid_ticket"]
    await w.quiet()

    reply = await commented(w.client, w.h["agent"], guid, REPLY)
    await w.delivered()

    headline = f"Заявка #{ticket['number']}: ответ от Борис"
    [(subject, text)] = w.heard.mail()[AUTHOR]
    assert subject == headline
    assert REPLY in text
    assert set(w.heard.mail()) == {AUTHOR}  # not the team list, not the other agent
    [dm] = w.heard.dms()["1001"]
    assert (dm["title"], dm["description"]) == (headline, REPLY)
    assert set(w.heard.dms()) == {"1001"}
    assert w.heard.slack() == []  # a staff reply is no news for the team channel
    [hook] = w.heard.hooks()
    assert hook["type"] == "comment.created"
    assert hook["comment"] == {"id": reply["id"], "body": REPLY, "internal": False}
    assert all_sent_once(deliveries(database_url))


async def test_the_authors_reply_goes_to_the_team_while_nobody_has_the_ticket(world):
    w = await world()
    ticket = await open_ticket(w.client, w.h["author"])
    await w.quiet()

    await commented(w.client, w.h["author"], ticket["guid_ticket"], ANSWER)
    await w.delivered()

    headline = f"Заявка #{ticket['number']}: ответ от Алиса"
    assert w.heard.slack() == [f"{headline} | {ANSWER}"]
    [(subject, text)] = w.heard.mail()[TEAM]
    assert subject == headline
    assert ANSWER in text
    assert set(w.heard.mail()) == {TEAM}
    assert w.heard.dms() == {}  # the author is not told of their own reply
    assert [h["comment"]["body"] for h in w.heard.hooks()] == [ANSWER]


async def test_the_authors_reply_goes_to_the_assignee_and_followers_once_someone_has_it(
    world, database_url
):
    w = await world()
    ticket = await open_ticket(w.client, w.h["author"])
    guid = ticket["guid_ticket"]
    await changed(w.client, w.h["agent"], guid, "processing")
    follow(database_url, guid, "2002")
    await w.quiet()

    await commented(w.client, w.h["author"], guid, ANSWER)
    await w.delivered()

    assert set(w.heard.mail()) == {AGENT, AGENT2}
    for address in (AGENT, AGENT2):
        [(_, text)] = w.heard.mail()[address]
        assert ANSWER in text
    assert sorted(w.heard.dms()) == ["2001", "2002"]
    assert w.heard.slack() == []  # somebody owns it: the team channel stays quiet
    assert len(w.heard.hooks()) == 1


async def test_an_internal_note_reaches_only_the_assignee_and_staff_followers(world, database_url):
    w = await world()
    ticket = await open_ticket(w.client, w.h["author"])
    guid = ticket["guid_ticket"]
    await changed(w.client, w.h["agent"], guid, "processing")
    follow(database_url, guid, "2002")
    follow(database_url, guid, "1002")  # an employee among the followers: never staff
    follow(database_url, guid, "1001")
    await w.quiet()

    await commented(w.client, w.h["admin"], guid, NOTE, internal=True)
    await w.delivered()

    headline = f"Заявка #{ticket['number']}: внутренняя заметка от user3001"
    mail = w.heard.mail()
    assert set(mail) == {AGENT, AGENT2}
    assert all(m == [(headline, m[0][1])] and NOTE in m[0][1] for m in mail.values())
    assert sorted(w.heard.dms()) == ["2001", "2002"]
    assert all(d[0]["description"] == NOTE for d in w.heard.dms().values())
    assert w.heard.slack() == []
    assert w.heard.hooks() == []  # no channel is marked safe for internal notes
    noted = [r for r in deliveries(database_url) if r["event_id"] == _last_event(database_url)]
    assert {(r["channel"], r["recipient"]) for r in noted} == {
        ("discord_dm", "2001"),
        ("discord_dm", "2002"),
        ("email", AGENT),
        ("email", AGENT2),
    }
    assert len(noted) == 4


async def test_the_note_writer_is_not_told_of_their_own_note(world):
    w = await world()
    ticket = await open_ticket(w.client, w.h["author"])
    await changed(w.client, w.h["agent"], ticket["guid_ticket"], "processing")
    await w.quiet()

    await commented(w.client, w.h["agent"], ticket["guid_ticket"], NOTE, internal=True)
    await w.delivered()

    assert (w.heard.mail(), w.heard.dms(), w.heard.hooks()) == ({}, {}, [])


async def test_a_channel_marked_safe_gets_notes_and_edits(world, database_url):
    w = await world(internal_safe_channels=["webhook"])
    ticket = await open_ticket(w.client, w.h["author"])
    guid = ticket["guid_ticket"]
    await w.quiet()

    note = await commented(w.client, w.h["agent"], guid, NOTE, internal=True)
    await w.delivered()
    edited = await w.client.patch(
        f"/api/v1/tickets/{guid}/comments/{note['id']}",
        json={"body": NOTE + " (готово)"},
        headers=w.h["agent"],
    )
    assert edited.status_code == 200
    await w.delivered()

    created, changed_note = w.heard.hooks()
    assert created["type"] == "comment.created"
    assert created["comment"]["internal"] is True
    assert created["actor"] == "2001"
    assert changed_note["type"] == "comment.edited"
    assert changed_note["comment"] == {
        "id": note["id"],
        "body": NOTE + " (готово)",
        "internal": True,
    }
    # Still nobody else: the author least of all.
    assert (w.heard.mail(), w.heard.dms(), w.heard.slack()) == ({}, {}, [])


async def test_an_edit_of_a_public_reply_is_not_news_for_the_author(world):
    w = await world()
    ticket = await open_ticket(w.client, w.h["author"])
    guid = ticket["guid_ticket"]
    reply = await commented(w.client, w.h["agent"], guid, REPLY)
    await w.quiet()

    edited = await w.client.patch(
        f"/api/v1/tickets/{guid}/comments/{reply['id']}", json={"body": "x"}, headers=w.h["agent"]
    )
    assert edited.status_code == 200
    await w.delivered()

    assert (w.heard.mail(), w.heard.dms(), w.heard.slack(), w.heard.hooks()) == ({}, {}, [], [])


def _last_event(database_url: str) -> int:
    from tests.conversation.conftest import run_sql

    [(event_id,)] = run_sql(database_url, "SELECT max(id) FROM ticket_events")
    return int(event_id)


async def test_an_employee_and_two_agents_work_a_ticket_end_to_end(world):
    """Issue 10's whole story through the API: question, answer, internal note, hand-over,
    close; after each step, who heard about it (personally, and on the team's channels)."""
    w = await world()
    ticket = await open_ticket(w.client, w.h["author"], "Не работает VPN")
    guid, n = ticket["guid_ticket"], ticket["number"]
    await w.quiet()

    # Борис takes it: an `assigned` event he caused himself, so nobody is told.
    claimed = await w.client.post(f"/api/v1/tickets/{guid}/claim", headers=w.h["agent"])
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee"] == "2001"
    await w.delivered()
    assert (w.heard.mail(), w.heard.dms(), w.heard.slack()) == ({}, {}, [])
    await w.quiet()
    # He takes it into work: the author and the team's channels hear.
    await changed(w.client, w.h["agent"], guid, "processing")
    await w.delivered()
    assert [subject for subject, _ in w.heard.mail()[AUTHOR]] == [
        f"Заявка #{n}: Открыта → В работе"
    ]
    assert set(w.heard.mail()) == {AUTHOR, TEAM}
    await w.quiet()

    # The question, and the ticket waits for its author.
    await commented(w.client, w.h["agent"], guid, "Какой VPN-клиент у вас стоит?")
    await changed(w.client, w.h["agent"], guid, "waiting")
    await w.delivered()
    author_heard = sorted(subject for subject, _ in w.heard.mail()[AUTHOR])
    assert author_heard == [
        f"Заявка #{n}: В работе → Ждёт ответа автора",
        f"Заявка #{n}: ответ от Борис",
    ]
    assert set(w.heard.mail()) == {AUTHOR, TEAM}  # the team list hears of status changes
    assert set(w.heard.dms()) == {"1001"}
    await w.quiet()

    # The answer brings it back into work by itself; the assignee hears both.
    await commented(w.client, w.h["author"], guid, "Cisco AnyConnect")
    shown = (await w.client.get(f"/api/v1/tickets/{guid}", headers=w.h["author"])).json()
    assert shown["status"] == "processing"
    await w.delivered()
    assert sorted(subject for subject, _ in w.heard.mail()[AGENT]) == [
        f"Заявка #{n}: Ждёт ответа автора → В работе",
        f"Заявка #{n}: ответ от Алиса",
    ]
    assert AUTHOR not in w.heard.mail()  # not told of their own reply or its effect
    await w.quiet()

    # An internal note: its writer is the assignee, nobody follows: nobody is told, and
    # the author never sees it anywhere.
    await commented(w.client, w.h["agent"], guid, NOTE, internal=True)
    await w.delivered()
    assert (w.heard.mail(), w.heard.dms(), w.heard.slack()) == ({}, {}, [])
    await w.quiet()

    # Hand-over to the second agent: he hears that it is his now.
    handed = await w.client.post(
        f"/api/v1/tickets/{guid}/assign", json={"assignee": "2002"}, headers=w.h["agent"]
    )
    assert handed.status_code == 200, handed.text
    await w.delivered()
    assert set(w.heard.mail()) == {AGENT2}
    assert w.heard.mail()[AGENT2][0][0].startswith(f"Заявка #{n} назначена")
    await w.quiet()

    # He closes it: the author and the team hear, he (who did it) does not.
    await changed(w.client, w.h["agent2"], guid, "closed_success")
    await w.delivered()
    assert [subject for subject, _ in w.heard.mail()[AUTHOR]] == [
        f"Заявка #{n}: В работе → Выполнена"
    ]
    assert set(w.heard.mail()) == {AUTHOR, TEAM}
    assert set(w.heard.dms()) == {"1001"}

    # What the author sees of the whole story: never the note.
    comments = await w.client.get(f"/api/v1/tickets/{guid}/comments", headers=w.h["author"])
    assert [c["body"] for c in comments.json()["items"]] == [
        "Какой VPN-клиент у вас стоит?",
        "Cisco AnyConnect",
    ]
    history = await w.client.get(f"/api/v1/tickets/{guid}/events", headers=w.h["author"])
    kinds = [e["kind"] for e in history.json()["items"]]
    assert "noted" not in kinds
    assert kinds.count("assigned") == 2
    staff_view = await w.client.get(f"/api/v1/tickets/{guid}/comments", headers=w.h["agent2"])
    assert NOTE in [c["body"] for c in staff_view.json()["items"]]
