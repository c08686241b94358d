"""The reader's language: an author who signed in with Discord in English reads the staff
reply in English; the team channel speaks the service's NOTIFY_LOCALE (ru)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from werkzeug import Request, Response

from tests.auth.discord_stub import DiscordStub, login
from tests.conversation.conftest import commented, on_team
from tests.conversation.listeners import Heard, listen
from tests.factories import open_ticket
from tests.notifications.conftest import run_worker_until_idle
from tests.notifications.receivers import MailSink, changed, person, smtp_server, smtp_settings
from ticket_service.users.models import Role

AUTHOR = "jane@1440.test"


@dataclass
class DiscordWithLocales(DiscordStub):
    """The stand-in, answering /users/@me with the language each person chose in Discord."""

    locales: dict[str, str] = field(default_factory=dict)

    def _me(self, request: Request) -> Response:
        response = super()._me(request)
        caller = self._caller(request)
        if response.status_code != 200 or caller is None or caller.id not in self.locales:
            return response
        profile = {**json.loads(response.get_data()), "locale": self.locales[caller.id]}
        return Response(json.dumps(profile), content_type="application/json")


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    with smtp_server() as server:
        yield server


@pytest.mark.parametrize(
    ("discord_locale", "stored", "subject"),
    [
        ("en-US", "en", "Ticket #{n}: reply from Boris"),
        ("ru", "ru", "Заявка #{n}: ответ от Boris"),
        ("de", "ru", "Заявка #{n}: ответ от Boris"),  # a language we do not write: the default
    ],
)
async def test_the_author_reads_the_staff_reply_in_their_discord_language(
    build, database_url, httpserver, smtp, discord_locale, stored, subject
):
    sink, port = smtp
    stub = DiscordWithLocales(httpserver, locales={"4242": discord_locale})
    app, client, settings = await build(**smtp_settings(port), **listen(httpserver))
    signed_in = await login(client, stub.user("4242", "jane", global_name="Jane", email=AUTHOR))
    author = {"Authorization": f"Bearer {signed_in['access_token']}"}
    me = await client.get("/api/v1/me", headers=author)
    assert me.json()["locale"] == stored
    agent = await person(app, database_url, "2001", Role.agent, display_name="Boris")
    on_team(database_url, "2001")
    heard = Heard(httpserver, sink)

    ticket = await open_ticket(client, author, "VPN is down")
    await changed(client, agent, ticket["guid_ticket"], "processing")
    await commented(client, agent, ticket["guid_ticket"], "Please restart the router")
    await run_worker_until_idle(settings)

    n = ticket["number"]
    mail = heard.mail()
    assert set(mail) == {AUTHOR}
    (taken, _), (replied, text) = mail[AUTHOR]  # the take into work, then the reply
    assert replied == subject.format(n=n)
    assert taken.split()[0] == replied.split()[0]  # "Ticket" / "Заявка": one language
    assert "Please restart the router" in text
    assert text.startswith(replied)
    assert ("Service:" in text) == (stored == "en")
    # The team channel speaks NOTIFY_LOCALE whatever the author reads.
    assert heard.slack() == [
        f"Новая заявка #{n}: VPN is down",
        f"Заявка #{n}: Открыта → В работе",
    ]
