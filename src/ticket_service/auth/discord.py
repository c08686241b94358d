"""Discord OAuth2: httpx-oauth does the code exchange; we read the user and guild member.

Every endpoint is derived from DISCORD_API_BASE_URL / DISCORD_AUTHORIZE_URL so a local
stand-in (tests, staging) can take Discord's place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from httpx_oauth.oauth2 import BaseOAuth2, GetAccessTokenError, RefreshTokenError
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from ticket_service.config import Settings
from ticket_service.errors import AppError, Forbidden, ServiceUnavailable, Unauthorized


class DiscordUnavailable(ServiceUnavailable):
    code = "discord_unavailable"
    message = "Discord is unreachable right now; please try signing in again in a minute"


class DiscordMisconfigured(ServiceUnavailable):
    code = "discord_misconfigured"
    message = (
        "Sign-in with Discord is not configured correctly on this server "
        "(DISCORD_CLIENT_ID / DISCORD_CLIENT_SECRET); please tell the administrators"
    )


class InvalidGrant(Unauthorized):
    code = "invalid_code"
    message = "The authorization code is invalid, expired or already used"


class NotGuildMember(Forbidden):
    code = "not_guild_member"
    message = "Only members of the company Discord server may sign in"


class DiscordUnavailableForRefresh(ServiceUnavailable):
    code = "discord_unavailable"
    message = (
        "Discord is unreachable, so your membership cannot be checked right now; your "
        "access token stays valid until it expires, refresh again in a minute"
    )


@dataclass(frozen=True)
class DiscordGrant:
    """What Discord's token endpoint gave us for one person: read again at each refresh."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime | None

    @classmethod
    def from_token(cls, token: dict[str, Any]) -> DiscordGrant:
        expires = token.get("expires_at")  # httpx-oauth computes it from expires_in
        return cls(
            str(token["access_token"]),
            token.get("refresh_token"),
            datetime.fromtimestamp(expires, UTC) if expires else None,
        )

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= datetime.now(UTC)


@dataclass(frozen=True)
class DiscordProfile:
    id: str
    username: str
    global_name: str | None
    email: str | None
    verified: bool
    avatar: str | None
    guild_roles: list[str] = field(default_factory=list)
    locale: str | None = None  # the language chosen in Discord: `ru`, `en-US`, ...
    grant: DiscordGrant | None = None


@dataclass(frozen=True)
class Membership:
    """A person's guild roles now (None: not a member, or Discord no longer vouches for
    them), and the grant to keep (renewed if it had expired)."""

    roles: list[str] | None
    grant: DiscordGrant | None


def _transient(exc: BaseException) -> bool:
    """Worth one more try: the network failed or Discord answered 5xx / 429."""
    if isinstance(exc, (GetAccessTokenError, RefreshTokenError)):
        response = exc.response
        return response is None or response.status_code >= 500 or response.status_code == 429
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, httpx.TransportError)


class _OAuthClient(BaseOAuth2[dict[str, Any]]):
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings.discord_client_id,
            settings.discord_client_secret.get_secret_value(),
            settings.discord_authorize_url,
            f"{settings.discord_api_base_url}/oauth2/token",
            name="discord",
            base_scopes=settings.discord_scopes,
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
            refresh_token_endpoint=f"{settings.discord_api_base_url}/oauth2/token",
        )
        self._timeout = settings.discord_timeout_seconds

    def get_httpx_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self._timeout)


class DiscordClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.oauth = _OAuthClient(settings)
        self.http = httpx.AsyncClient(
            base_url=settings.discord_api_base_url, timeout=settings.discord_timeout_seconds
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def authorization_url(self, state: str, redirect_uri: str | None = None) -> str:
        """Discord's sign-in page for `state`; it sends the browser back to `redirect_uri`
        (DISCORD_REDIRECT_URI for the API, PUBLIC_URL/auth/callback for the web UI)."""
        if not self.settings.discord_client_id:
            raise DiscordMisconfigured(
                "Sign-in with Discord is not configured: DISCORD_CLIENT_ID is empty"
            )
        return await self.oauth.get_authorization_url(
            redirect_uri or self.settings.discord_redirect_uri, state
        )

    async def profile_for_code(self, code: str, redirect_uri: str | None = None) -> DiscordProfile:
        """Exchange the code and read who signed in (and their guild roles when required).
        `redirect_uri` must be the one the authorization step used."""
        try:
            return await self._profile_for_code(
                code, redirect_uri or self.settings.discord_redirect_uri
            )
        except AppError:
            raise
        except (GetAccessTokenError, httpx.HTTPError, ValueError, KeyError) as exc:
            status = (
                exc.response.status_code
                if isinstance(exc, GetAccessTokenError) and exc.response is not None
                else None
            )
            if status == 400:  # Discord's answer to a wrong, expired or used code
                raise InvalidGrant() from exc
            if status == 401:  # invalid_client: our credentials, not the user's fault
                raise DiscordMisconfigured() from exc
            raise DiscordUnavailable() from exc

    @staticmethod
    def _retrying() -> AsyncRetrying:
        # Each call is retried on its own: the code is single use at Discord, so a failure
        # after the exchange must not send the (already spent) code again.
        return AsyncRetrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(3),
            wait=wait_exponential(multiplier=0.2, max=1),
            reraise=True,
        )

    async def _get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        response = await self.http.get(path, headers=headers)
        if response.status_code >= 500 or response.status_code == 429:
            response.raise_for_status()
        return response

    async def _profile_for_code(self, code: str, redirect_uri: str) -> DiscordProfile:
        token: dict[str, Any] = await self._retrying()(
            self.oauth.get_access_token, code, redirect_uri
        )
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        me: httpx.Response = await self._retrying()(self._get, "/users/@me", headers)
        me.raise_for_status()
        user = me.json()
        roles: list[str] = []
        if self.settings.discord_guild_id:
            member: httpx.Response = await self._retrying()(
                self._get, f"/users/@me/guilds/{self.settings.discord_guild_id}/member", headers
            )
            if member.status_code in (403, 404):
                raise NotGuildMember()
            member.raise_for_status()
            roles = [str(role) for role in member.json().get("roles", [])]
        return DiscordProfile(
            id=str(user["id"]),
            username=str(user["username"]),
            global_name=user.get("global_name"),
            email=user.get("email"),
            verified=bool(user.get("verified", False)),
            avatar=user.get("avatar"),
            guild_roles=roles,
            locale=user.get("locale"),
            grant=DiscordGrant.from_token(token),
        )

    async def membership(self, discord_id: str, grant: DiscordGrant | None) -> Membership:
        """Who the person is in the guild now: through the bot when DISCORD_BOT_TOKEN is set,
        else with the grant they gave us at sign-in. DiscordUnavailableForRefresh when
        Discord cannot answer (network, 5xx, 429 after the retries)."""
        guild = self.settings.discord_guild_id
        try:
            if self.settings.discord_bot_token:
                bot = self.settings.discord_bot_token.get_secret_value()
                headers = {"Authorization": f"Bot {bot}"}
                path = f"/guilds/{guild}/members/{discord_id}"
            else:
                if grant is None:
                    return Membership(None, None)
                if grant.expired:
                    if not grant.refresh_token:
                        return Membership(None, None)
                    token: dict[str, Any] = await self._retrying()(
                        self.oauth.refresh_token, grant.refresh_token
                    )
                    grant = DiscordGrant.from_token(token)
                headers = {"Authorization": f"Bearer {grant.access_token}"}
                path = f"/users/@me/guilds/{guild}/member"
            response: httpx.Response = await self._retrying()(self._get, path, headers)
        except RefreshTokenError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (400, 401):  # the person took back our access at Discord
                return Membership(None, None)
            raise DiscordUnavailableForRefresh() from exc
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise DiscordUnavailableForRefresh() from exc
        if response.status_code in (401, 403) and self.settings.discord_bot_token:
            raise DiscordMisconfigured(
                "DISCORD_BOT_TOKEN is not accepted by Discord, or the bot is not in the guild"
            )
        if response.status_code in (401, 403, 404):
            return Membership(None, grant)
        if not response.is_success:
            raise DiscordUnavailableForRefresh()
        try:
            roles = [str(role) for role in response.json().get("roles", [])]
        except ValueError as exc:
            raise DiscordUnavailableForRefresh() from exc
        return Membership(roles, grant)
