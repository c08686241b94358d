"""A Discord stand-in on the pytest-httpserver: OAuth2 token endpoint, /users/@me and the
guild member endpoint, behaving like Discord where it matters to us.

Like Discord, an authorization code works once, the token endpoint wants the client
credentials as HTTP Basic auth and the same redirect_uri as the authorize step, and the
member endpoint answers 404 for someone who is not in the guild.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API = "/api/v10"
# What tests/conftest.py:make_settings configures.
CLIENT_ID = "client-123"
CLIENT_SECRET = "discord-secret"
REDIRECT_URI = "http://testserver/api/discord/auth"
# The web UI's: PUBLIC_URL + /auth/callback (tests/web/conftest.py sets PUBLIC_URL).
WEB_REDIRECT_URI = "http://testserver/auth/callback"
GUILD_ID = "900100"
BOT_TOKEN = "bot-token-0123"


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


@dataclass
class DiscordUser:
    id: str
    username: str
    global_name: str | None
    email: str | None
    # Guild roles; None = not a member of the guild.
    roles: list[str] | None


@dataclass
class DiscordStub:
    server: HTTPServer
    guild_id: str = GUILD_ID
    users: dict[str, DiscordUser] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # live code -> user id
    used_codes: set[str] = field(default_factory=set)
    tokens: dict[str, str] = field(default_factory=dict)  # Discord access token -> user id
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # live refresh -> user id
    # Seconds a Discord access token lives (Discord: a week); 0 makes a refresh need a new one.
    token_lifetime: int = 604800
    bot_token: str = BOT_TOKEN
    # Redirect URIs registered in the Discord application.
    redirect_uris: set[str] = field(default_factory=lambda: {REDIRECT_URI, WEB_REDIRECT_URI})
    # Who "clicks Authorize" on the authorization page (browser tests), by Discord id.
    signing_in: str | None = None

    def __post_init__(self) -> None:
        self.server.expect_request(f"{API}/oauth2/token", method="POST").respond_with_handler(
            self._token
        )
        self.server.expect_request("/oauth2/authorize", method="GET").respond_with_handler(
            self._authorize
        )
        self.server.expect_request(f"{API}/users/@me", method="GET").respond_with_handler(self._me)
        self.server.expect_request(
            re.compile(rf"^{API}/users/@me/guilds/\d+/member$"), method="GET"
        ).respond_with_handler(self._member)
        self.server.expect_request(
            re.compile(rf"^{API}/guilds/\d+/members/\d+$"), method="GET"
        ).respond_with_handler(self._bot_member)

    @property
    def base_url(self) -> str:
        return self.server.url_for(API)

    @property
    def authorize_url(self) -> str:
        return self.server.url_for("/oauth2/authorize")

    def user(
        self,
        id: str = "42",
        username: str = "alice",
        *,
        global_name: str | None = "Alice",
        email: str | None = "alice@1440.test",
        roles: list[str] | None = None,
    ) -> str:
        """Register (or change) a Discord account and return a fresh authorization code."""
        self.users[id] = DiscordUser(id, username, global_name, email, roles)
        return self.code_for(id)

    def code_for(self, user_id: str) -> str:
        code = "code-" + secrets.token_hex(8)
        self.codes[code] = user_id
        return code

    def leave_guild(self, user_id: str) -> None:
        """The person is removed from (or leaves) the company server."""
        self.users[user_id].roles = None

    def set_roles(self, user_id: str, roles: list[str]) -> None:
        self.users[user_id].roles = roles

    def requests_to(self, suffix: str) -> list[Request]:
        return [req for req, _ in self.server.log if req.path == f"{API}{suffix}"]

    # --- handlers -----------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
            return _json(401, {"error": "invalid_client"})
        form = request.form
        if form.get("grant_type") == "refresh_token":
            user_id = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if user_id is None:  # used already (Discord rotates them), or never issued
                return _json(400, {"error": "invalid_grant"})
            return self._grant(user_id)
        code = form.get("code", "")
        if (
            form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") not in self.redirect_uris
            or code not in self.codes
            or code in self.used_codes
        ):
            return _json(400, {"error": "invalid_grant", "error_description": 'Invalid "code"'})
        self.used_codes.add(code)
        return self._grant(self.codes[code])

    def _grant(self, user_id: str) -> Response:
        access = "discord-at-" + secrets.token_hex(8)
        refresh = "discord-rt-" + secrets.token_hex(8)
        self.tokens[access] = user_id
        self.refresh_tokens[refresh] = user_id
        return _json(
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "refresh_token": refresh,
                "scope": "identify email guilds.members.read",
            },
        )

    def _authorize(self, request: Request) -> Response:
        """Discord's consent page, with `signing_in` pressing "Authorize" at once."""
        redirect_uri = request.args.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris or request.args.get("client_id") != CLIENT_ID:
            return Response("Invalid OAuth2 redirect_uri", status=400)
        if self.signing_in is None:
            target = f"{redirect_uri}?error=access_denied&state={request.args.get('state', '')}"
        else:
            code = self.code_for(self.signing_in)
            target = f"{redirect_uri}?code={code}&state={request.args.get('state', '')}"
        return Response(status=302, headers={"Location": target})

    def _caller(self, request: Request) -> DiscordUser | None:
        header = request.headers.get("Authorization", "")
        user_id = self.tokens.get(header.removeprefix("Bearer "))
        return self.users.get(user_id) if user_id else None

    def _me(self, request: Request) -> Response:
        user = self._caller(request)
        if user is None:
            return _json(401, {"message": "401: Unauthorized", "code": 0})
        return _json(
            200,
            {
                "id": user.id,
                "username": user.username,
                "global_name": user.global_name,
                "email": user.email,
                "verified": user.email is not None,
                "avatar": None,
            },
        )

    def _member(self, request: Request) -> Response:
        user = self._caller(request)
        if user is None:
            return _json(401, {"message": "401: Unauthorized", "code": 0})
        guild = request.path.split("/")[-2]
        if guild != self.guild_id or user.roles is None:
            return _json(404, {"message": "Unknown Guild", "code": 10004})
        return _json(200, {"roles": user.roles, "user": {"id": user.id}, "nick": None})

    def _bot_member(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bot {self.bot_token}":
            return _json(401, {"message": "401: Unauthorized", "code": 0})
        *_, guild, _members, user_id = request.path.split("/")
        user = self.users.get(user_id)
        if guild != self.guild_id:
            return _json(403, {"message": "Missing Access", "code": 50001})
        if user is None or user.roles is None:
            return _json(404, {"message": "Unknown Member", "code": 10007})
        return _json(200, {"roles": user.roles, "user": {"id": user.id}, "nick": None})


def state_of(auth_link: str) -> str:
    return parse_qs(urlsplit(auth_link).query)["state"][0]


async def start(client: httpx.AsyncClient) -> str:
    """The `state` of a fresh sign-in link."""
    response = await client.get("/api/discord/auth_link")
    assert response.status_code == 200, response.text
    return state_of(response.json()["response"]["auth_link"])


async def sign_in(client: httpx.AsyncClient, code: str) -> httpx.Response:
    """The whole browser round trip: get a link, come back from Discord with code + state."""
    state = await start(client)
    return await client.get("/api/discord/auth", params={"code": code, "state": state})


async def login(client: httpx.AsyncClient, code: str) -> dict[str, Any]:
    """Sign in and return the token pair (with its user)."""
    response = await sign_in(client, code)
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()["response"]
    return pair
