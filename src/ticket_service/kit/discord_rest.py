"""The bot's one REST client for Discord: every call of ours (ticket cards, direct messages,
command registration) goes through it, so it alone keeps Discord's rate limits.

Discord's rules (docs: topics/rate-limits): each route belongs to a bucket named by the
`X-RateLimit-Bucket` header, per major parameter (channel, guild, webhook); a bucket has
`X-RateLimit-Remaining` calls left until `X-RateLimit-Reset-After` seconds from now. A 429
carries `retry_after` (seconds) and `global: true` when the whole bot must wait. We wait
before a call when its bucket is empty, and after a 429 for `retry_after`, at most
`max_wait` seconds in all; a longer wait is raised as `RateLimited` so a job can be tried
again later instead of holding a worker. The state is per process, as in every Discord
library: several workers each learn the buckets from the answers they get.

Why not a library: the maintained HTTP-only clients (hikari's RESTApp, discord.py's
HTTPClient) bring aiohttp and a connection stack of their own, which would bypass the
outbound policy our httpx client enforces (kit/outbound.py) and the local Discord stand-in
the tests use; we need six endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import httpx

USER_AGENT = "DiscordBot (https://1440.test, 1.0)"
# Major parameters: their id stays in the bucket key; every other id is a placeholder.
_MAJOR = re.compile(r"^/(channels|guilds|webhooks)/(\d+)")
_ID = re.compile(r"/\d+")


class DiscordError(Exception):
    """Discord answered an error (or could not be reached)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def temporary(self) -> bool:
        return self.status is None or self.status >= 500 or self.status in (408, 429)


class RateLimited(DiscordError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited by Discord for {retry_after:.1f} s", 429)
        self.retry_after = retry_after


@dataclass
class _Bucket:
    remaining: int | None = None
    reset_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def route_key(method: str, path: str) -> str:
    """`PATCH /channels/1/messages/2` → `PATCH /channels/1/messages/:id`."""
    major = _MAJOR.match(path)
    head = major.group(0) if major else ""
    return f"{method} {head}{_ID.sub('/:id', path[len(head) :])}"


class DiscordRest:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        bot_token: str,
        *,
        max_wait: float = 10.0,
        max_attempts: int = 4,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._auth = f"Bot {bot_token}"
        self.max_wait = max_wait
        self.max_attempts = max_attempts
        self._bucket_of_route: dict[str, str] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._global_until = 0.0

    def _bucket(self, route: str, path: str) -> _Bucket:
        major = _MAJOR.match(path)
        name = self._bucket_of_route.get(route, route)
        key = f"{name}:{major.group(0) if major else ''}"
        return self._buckets.setdefault(key, _Bucket())

    async def request(self, method: str, path: str, json: Any = None) -> Any:
        """One call, waiting as Discord asks; the decoded JSON answer (None for 204)."""
        route = route_key(method, path)
        waited = 0.0
        for _ in range(self.max_attempts):
            bucket = self._bucket(route, path)
            async with bucket.lock:  # calls of one bucket go one at a time
                now = time.monotonic()
                delay = max(self._global_until - now, 0.0)
                if bucket.remaining == 0 and bucket.reset_at > now:
                    delay = max(delay, bucket.reset_at - now)
                if delay:
                    if waited + delay > self.max_wait:
                        raise RateLimited(delay)
                    waited += delay
                    await asyncio.sleep(delay)
                response = await self._send(method, path, json)
                self._learn(route, path, bucket, response)
            if response.status_code != 429:
                return self._result(response)
            retry_after = self._retry_after(response)
            if waited + retry_after > self.max_wait:
                raise RateLimited(retry_after)
            waited += retry_after
            await asyncio.sleep(retry_after)
        raise RateLimited(self.max_wait)

    async def _send(self, method: str, path: str, json: Any) -> httpx.Response:
        headers = {"Authorization": self._auth, "User-Agent": USER_AGENT}
        try:
            return await self.http.request(
                method, self.base_url + path, json=json, headers=headers, follow_redirects=False
            )
        except httpx.HTTPError as exc:
            # The type says what happened; the message may quote the URL.
            raise DiscordError(f"{type(exc).__name__} calling Discord") from exc

    def _learn(self, route: str, path: str, bucket: _Bucket, response: httpx.Response) -> None:
        headers = response.headers
        name = headers.get("X-RateLimit-Bucket")
        if name and self._bucket_of_route.get(route) != name:
            self._bucket_of_route[route] = name
            bucket = self._bucket(route, path)  # later calls share the named bucket's state
        try:
            if "X-RateLimit-Remaining" in headers:
                bucket.remaining = int(headers["X-RateLimit-Remaining"])
            if "X-RateLimit-Reset-After" in headers:
                reset_after = float(headers["X-RateLimit-Reset-After"])
                bucket.reset_at = time.monotonic() + reset_after
        except ValueError:
            pass  # a header we cannot read: wait on the next 429 instead

    def _retry_after(self, response: httpx.Response) -> float:
        body: dict[str, Any] = {}
        try:
            parsed = response.json()
            if isinstance(parsed, dict):
                body = parsed
        except ValueError:
            pass
        try:
            retry_after = float(
                body.get("retry_after") or response.headers.get("Retry-After") or 1.0
            )
        except (TypeError, ValueError):
            retry_after = 1.0
        retry_after = max(retry_after, 0.0)
        if body.get("global") or response.headers.get("X-RateLimit-Global"):
            self._global_until = time.monotonic() + retry_after
        return retry_after

    @staticmethod
    def _result(response: httpx.Response) -> Any:
        if response.status_code == 204:
            return None
        if not response.is_success:
            # Discord's body may echo what we sent: only the status and its error code.
            code = None
            with contextlib.suppress(ValueError, AttributeError):
                code = response.json().get("code")
            raise DiscordError(
                f"HTTP {response.status_code} from Discord (code {code})", response.status_code
            )
        try:
            return response.json()
        except ValueError as exc:
            raise DiscordError("Discord answered something that is not JSON") from exc

    # The endpoints we use.
    async def create_message(self, channel_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", f"/channels/{channel_id}/messages", payload
        )
        return result

    async def edit_message(
        self, channel_id: str, message_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "PATCH", f"/channels/{channel_id}/messages/{message_id}", payload
        )
        return result

    async def open_dm(self, user_id: str) -> str:
        channel = await self.request("POST", "/users/@me/channels", {"recipient_id": user_id})
        channel_id = channel.get("id") if isinstance(channel, dict) else None
        if not channel_id:
            raise DiscordError("Discord did not open a DM channel", 400)
        return str(channel_id)

    async def guild_member(self, guild_id: str, user_id: str) -> dict[str, Any] | None:
        """The person's guild member object (`roles`, ...), None when not a member."""
        try:
            result: dict[str, Any] = await self.request(
                "GET", f"/guilds/{guild_id}/members/{user_id}"
            )
        except DiscordError as exc:
            if exc.status == 404:  # Unknown Member (10007) or Unknown User
                return None
            raise
        return result

    async def overwrite_guild_commands(
        self, application_id: str, guild_id: str, commands: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request(
            "PUT", f"/applications/{application_id}/guilds/{guild_id}/commands", commands
        )
        return result


_clients: weakref.WeakKeyDictionary[httpx.AsyncClient, dict[tuple[str, str], DiscordRest]] = (
    weakref.WeakKeyDictionary()
)


def bot_client(http: httpx.AsyncClient, base_url: str, bot_token: str) -> DiscordRest:
    """The process's one client for this bot over `http`: its rate-limit state is shared by
    every job the process runs."""
    per_http = _clients.setdefault(http, {})
    key = (base_url, bot_token)
    if key not in per_http:
        per_http[key] = DiscordRest(http, base_url, bot_token)
    return per_http[key]
