"""Discord's bot REST API on 127.0.0.1 (pytest-httpserver), as far as we use it: DM
channels, channel messages (post, edit), guild members, guild command overwrite. It
records every call, sends rate-limit headers, and can answer 429 to the next calls."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API = "/api/v10"
BOT_TOKEN = "bot-token-0123"
APPLICATION_ID = "800100"


@dataclass
class Call:
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    at: float


@dataclass
class DiscordApi:
    server: HTTPServer
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> last payload
    throttled: list[tuple[float, bool]] = field(default_factory=list)  # next 429s to answer
    remaining: int | None = None  # X-RateLimit-Remaining to announce, None = plenty
    reset_after: float = 1.0
    # Guild members: everyone is one, with no roles, unless they left or have roles here.
    left: set[str] = field(default_factory=set)
    member_roles: dict[str, list[str]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(990000000000000001))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        routes = [
            ("POST", rf"^{API}/users/@me/channels$", self._open_dm),
            ("POST", rf"^{API}/channels/(\d+)/messages$", self._post),
            ("PATCH", rf"^{API}/channels/(\d+)/messages/(\d+)$", self._edit),
            ("PUT", rf"^{API}/applications/(\d+)/guilds/(\d+)/commands$", self._commands),
            ("GET", rf"^{API}/guilds/(\d+)/members/(\d+)$", self._member),
        ]
        for method, pattern, handler in routes:
            self.server.expect_request(re.compile(pattern), method=method).respond_with_handler(
                self._recorded(handler)
            )

    @property
    def base_url(self) -> str:
        return self.server.url_for(API)

    def throttle(self, retry_after: float, times: int = 1, *, global_: bool = False) -> None:
        self.throttled += [(retry_after, global_)] * times

    def of(self, method: str, pattern: str = "") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]

    def _recorded(self, handler: Any) -> Any:
        def handle(request: Request) -> Response:
            body = json.loads(request.get_data() or b"null")
            with self._lock:
                self.calls.append(
                    Call(request.method, request.path, body, dict(request.headers), time.time())
                )
                if self.throttled:
                    retry_after, global_ = self.throttled.pop(0)
                    return _json(
                        429,
                        {
                            "message": "You are being rate limited.",
                            "retry_after": retry_after,
                            "global": global_,
                        },
                        {"Retry-After": str(retry_after), "X-RateLimit-Scope": "user"},
                    )
                if request.headers.get("Authorization") != f"Bot {BOT_TOKEN}":
                    return _json(401, {"message": "401: Unauthorized", "code": 0})
                status, answer = handler(request, body)
            headers = {"X-RateLimit-Bucket": "b-" + request.method}
            if self.remaining is not None:
                headers["X-RateLimit-Remaining"] = str(self.remaining)
                headers["X-RateLimit-Reset-After"] = str(self.reset_after)
            return _json(status, answer, headers)

        return handle

    def _open_dm(self, request: Request, body: Any) -> tuple[int, Any]:
        return 200, {"id": "5" + str(body["recipient_id"]), "type": 1}

    def _post(self, request: Request, body: Any) -> tuple[int, Any]:
        channel = request.path.split("/")[-2]
        message_id = str(next(self._ids))
        self.messages[message_id] = body
        return 200, {"id": message_id, "channel_id": channel}

    def _edit(self, request: Request, body: Any) -> tuple[int, Any]:
        message_id = request.path.split("/")[-1]
        if message_id not in self.messages:
            return 404, {"message": "Unknown Message", "code": 10008}
        self.messages[message_id] = body
        return 200, {"id": message_id}

    def _member(self, request: Request, body: Any) -> tuple[int, Any]:
        user_id = request.path.split("/")[-1]
        if user_id in self.left:
            return 404, {"message": "Unknown Member", "code": 10007}
        roles = self.member_roles.get(user_id, [])
        return 200, {"user": {"id": user_id, "username": f"user{user_id}"}, "roles": roles}

    def _commands(self, request: Request, body: Any) -> tuple[int, Any]:
        return 200, [{**c, "id": str(next(self._ids))} for c in body]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, content_type="application/json", headers=headers
    )
