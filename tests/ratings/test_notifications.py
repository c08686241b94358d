"""The closing e-mail invites the author to rate (a link to the ticket's web page); the
rating tells the assignee and the team, with its stars and comment."""

from __future__ import annotations

from tests.conversation.test_notifications import AGENT, AUTHOR, TEAM
from tests.factories import open_ticket
from tests.notifications.conftest import deliveries
from tests.notifications.receivers import all_sent_once, changed, parts

INVITE_RU = "Оцените, как решили вашу заявку: http://testserver/tickets/{guid}"


async def test_the_closing_email_invites_the_author_to_rate(world, database_url):
    w = await world(public_url="http://testserver")
    ticket = await open_ticket(w.client, w.h["author"])
    guid = ticket["guid_ticket"]
    await changed(w.client, w.h["agent"], guid, "processing")
    await w.quiet()

    await changed(w.client, w.h["agent"], guid, "closed_success")
    await w.delivered()

    invite = INVITE_RU.format(guid=guid)
    [(_, to_author)] = w.heard.mail()[AUTHOR]
    assert invite in to_author
    [(_, to_team)] = w.heard.mail()[TEAM]
    assert "Оцените" not in to_team  # the team is told of the close, not invited
    html = parts(w.heard.sink.to(AUTHOR)[-1])["text/html"]
    assert f'<a href="http://testserver/tickets/{guid}">Оцените' in html
    assert AGENT not in w.heard.mail()  # the agent closed it: not told of their own act


async def test_no_invitation_once_rated_or_for_other_changes(world):
    w = await world(public_url="http://testserver")
    ticket = await open_ticket(w.client, w.h["author"])
    guid = ticket["guid_ticket"]
    await changed(w.client, w.h["agent"], guid, "processing")
    await w.delivered()
    [(_, taken)] = w.heard.mail()[AUTHOR]
    assert "Оцените" not in taken
    await w.quiet()
    # Closed and rated before the worker sent the closing e-mail: nothing left to invite.
    await changed(w.client, w.h["agent"], guid, "closed_fail")
    rated = await w.client.post(
        f"/api/v1/tickets/{guid}/rating", json={"score": 3}, headers=w.h["author"]
    )
    assert rated.status_code == 201
    await w.delivered()
    [(_, closing)] = w.heard.mail()[AUTHOR]
    assert "Оцените" not in closing


async def test_the_rating_reaches_the_assignee_and_team_with_stars(world, database_url):
    w = await world(public_url="http://testserver")
    ticket = await open_ticket(w.client, w.h["author"])
    guid = ticket["guid_ticket"]
    await changed(w.client, w.h["agent"], guid, "processing")
    await changed(w.client, w.h["agent"], guid, "closed_success")
    await w.quiet()

    response = await w.client.post(
        f"/api/v1/tickets/{guid}/rating",
        json={"score": 4, "comment": "Спасибо!"},
        headers=w.h["author"],
    )
    assert response.status_code == 201
    await w.delivered()

    headline = f"Заявка #{ticket['number']}: Алиса оценил(а) решение"
    mail = w.heard.mail()
    assert set(mail) == {AGENT, TEAM}  # not the author, who did it
    for address in (AGENT, TEAM):
        [(subject, text)] = mail[address]
        assert subject == headline
        assert "★★★★☆\nСпасибо!" in text
    assert all_sent_once(deliveries(database_url))
