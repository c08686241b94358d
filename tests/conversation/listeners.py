"""What each person and channel actually received, from the real local receivers: the
SMTP server, Discord's DM endpoints, Slack and a webhook on the pytest-httpserver."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.notifications.receivers import MailSink, bodies, parts, receive

API = "/api/v10"
_DM_PREFIX = "77"  # the DM channel of Discord user N is 77N here


def _open_dm(request: Request) -> Response:
    recipient = json.loads(request.get_data())["recipient_id"]
    return Response(json.dumps({"id": _DM_PREFIX + recipient}), content_type="application/json")


def listen(server: HTTPServer) -> dict[str, Any]:
    """Discord DMs, Slack and a webhook answer on `server`; the settings that point at them."""
    server.expect_request(f"{API}/users/@me/channels", method="POST").respond_with_handler(_open_dm)
    server.expect_request(
        re.compile(rf"^{API}/channels/\d+/messages$"), method="POST"
    ).respond_with_json({"id": "1"})
    return {
        "discord_bot_token": "bot-token",
        "slack_webhook_url": receive(server, "/slack"),
        "webhook_urls": [receive(server, "/hook")],
        "webhook_secret": "webhook-secret",
    }


@dataclass
class Heard:
    """Everything received since `mark()`, by recipient."""

    server: HTTPServer
    sink: MailSink
    _mails: int = field(default=0)

    def mark(self) -> None:
        self.server.clear_log()
        self._mails = len(self.sink.messages)

    def mail(self) -> dict[str, list[tuple[str, str]]]:
        """address -> [(subject, text body)]"""
        got: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for message in self.sink.messages[self._mails :]:
            got[str(message["To"]).lower()].append(
                (str(message["Subject"]), parts(message)["text/plain"])
            )
        return dict(got)

    def dms(self) -> dict[str, list[dict[str, Any]]]:
        """Discord id -> [embed]"""
        got: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for request, _ in self.server.log:
            match = re.fullmatch(rf"{API}/channels/{_DM_PREFIX}(\d+)/messages", request.path)
            if match:
                got[match.group(1)].append(json.loads(request.get_data())["embeds"][0])
        return dict(got)

    def slack(self) -> list[str]:
        """Each Slack message as its headline and, for a comment, what was said."""
        return [
            " | ".join(
                [b["text"]]
                + [
                    block["text"]["text"]
                    for block in b["blocks"]
                    if block["type"] == "section" and block["text"]["type"] == "plain_text"
                ]
            )
            for b in bodies(self.server, "/slack")
        ]

    def hooks(self) -> list[dict[str, Any]]:
        return bodies(self.server, "/hook")
