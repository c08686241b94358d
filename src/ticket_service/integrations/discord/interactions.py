"""What each interaction does: a thin adapter from Discord's payloads to the domain
services (tickets, catalog, users), answering in Discord's response format.

Who acts: in the company guild, the signed payload's `member` (id, roles) is trusted and
upserted with the role mapping of sign-in (users.service.upsert_from_member). In a direct
message (the buttons under a notification) only someone who is already a user may act,
with the role they have. A refusal is an ephemeral message in the person's language.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.auth.discord import DiscordProfile
from ticket_service.catalog import repository as catalog
from ticket_service.catalog.models import DEFAULT_SERVICE_SLUG
from ticket_service.config import Settings
from ticket_service.errors import AppError, BadRequest
from ticket_service.integrations.discord import repository
from ticket_service.integrations.discord.cards import web_link
from ticket_service.integrations.discord.commands import MESSAGE_COMMAND, TICKET, TICKETS
from ticket_service.integrations.discord.texts import say
from ticket_service.kit.discord_rest import DiscordError, DiscordRest
from ticket_service.ops.action_log import ActionRecord
from ticket_service.tickets import service as tickets
from ticket_service.tickets.repository import TicketFilters
from ticket_service.tickets.schemas import TicketCreate
from ticket_service.users import repository as users_repository
from ticket_service.users import service as users
from ticket_service.users.models import User
from ticket_service.vocabulary import Priority, Status, locale_or_default

# Interaction types (Discord: interactions/receiving-and-responding).
PING, COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
# Response types.
PONG, MESSAGE, DEFERRED_UPDATE, AUTOCOMPLETE_RESULT, MODAL = 1, 4, 6, 8, 9
EPHEMERAL = 64
MESSAGE_MAX = 2000
MODAL_TEXT_MAX = 4000


class Refused(AppError):
    """An answer the person sees as an ephemeral message (never an HTTP error)."""

    status_code = 400
    code = "refused"


@dataclass
class Context:
    payload: dict[str, Any]
    session: AsyncSession
    settings: Settings
    record: ActionRecord
    user: User | None = None
    # The bot's REST client (None without DISCORD_BOT_TOKEN): who is in the guild now.
    bot: DiscordRest | None = None

    @property
    def locale(self) -> str:
        return locale_or_default(self.payload.get("locale"))

    @property
    def data(self) -> dict[str, Any]:
        data = self.payload.get("data")
        return data if isinstance(data, dict) else {}

    def acting(self) -> User:
        if self.user is None:  # pragma: no cover - resolve_actor runs first
            raise Refused(say(self.locale, "unknown_user"))
        return self.user


def ephemeral(content: str) -> dict[str, Any]:
    return {
        "type": MESSAGE,
        "data": {
            "content": content[:MESSAGE_MAX],
            "flags": EPHEMERAL,
            "allowed_mentions": {"parse": []},
        },
    }


async def resolve_actor(ctx: Context) -> User:
    """The person behind the interaction (see the module docstring), or Refused."""
    member = ctx.payload.get("member")
    if isinstance(member, dict):
        guild = ctx.settings.discord_guild_id
        person = member.get("user")
        if (
            not guild
            or str(ctx.payload.get("guild_id")) != guild
            or not isinstance(person, dict)
            or not str(person.get("id", "")).isdigit()
        ):
            raise Refused(say(ctx.locale, "outsider"), code="not_guild_member")
        profile = DiscordProfile(
            id=str(person["id"]),
            username=str(person.get("username") or f"user{person['id']}"),
            global_name=person.get("global_name"),
            email=None,
            verified=False,
            avatar=person.get("avatar"),
            guild_roles=[str(role) for role in member.get("roles") or []],
            locale=ctx.payload.get("locale"),
        )
        return await users.upsert_from_member(ctx.session, ctx.settings, profile)
    person = ctx.payload.get("user")
    if isinstance(person, dict) and str(person.get("id", "")).isdigit():
        # Asked before the user's row is locked: no lock is held across the HTTP call.
        roles = await _guild_roles(ctx, str(person["id"]))
        user = await users_repository.by_discord_id_for_update(ctx.session, str(person["id"]))
        if user is not None:
            users.follow_discord(ctx.settings, user, roles, users.grant_of(user))
            return user
    raise Refused(say(ctx.locale, "unknown_user"), code="unknown_user")


async def _guild_roles(ctx: Context, discord_id: str) -> list[str]:
    """A direct message carries no `member`: ask Discord (the bot) whether the person is
    still in the guild, and with which roles, before they act. Gone → refused; their role
    then follows the roles, as at sign-in. Discord unreachable → refused too: a button
    must not outlive the person's place in the company."""
    guild = ctx.settings.discord_guild_id
    if ctx.bot is None or not guild:
        raise Refused(say(ctx.locale, "membership_unknown"), code="membership_unknown")
    try:
        found = await ctx.bot.guild_member(guild, discord_id)
    except DiscordError:
        raise Refused(say(ctx.locale, "membership_unknown"), code="membership_unknown") from None
    if found is None:
        raise Refused(say(ctx.locale, "outsider"), code="not_guild_member")
    return [str(role) for role in found.get("roles") or []]


# --- commands ---------------------------------------------------------------------------


def _option(ctx: Context, name: str) -> str | None:
    for option in ctx.data.get("options") or []:
        if isinstance(option, dict) and option.get("name") == name:
            value = option.get("value")
            return None if value is None else str(value)
    return None


def ticket_modal(
    ctx: Context, custom_id: str, text: str = "", *, title_field: bool = True
) -> dict[str, Any]:
    words = ctx.locale
    inputs: list[dict[str, Any]] = []
    if title_field:
        inputs.append(
            {
                "type": 4,
                "custom_id": "title",
                "style": 1,
                "label": say(words, "title"),
                "placeholder": say(words, "title_hint")[:100],
                "required": False,
                "max_length": tickets.TITLE_MAX,
            }
        )
    text_input: dict[str, Any] = {
        "type": 4,
        "custom_id": "text",
        "style": 2,
        "label": say(words, "text"),
        "required": True,
        "max_length": MODAL_TEXT_MAX,
    }
    if text:
        text_input["value"] = text[:MODAL_TEXT_MAX]
    inputs.append(text_input)
    return {
        "type": MODAL,
        "data": {
            "custom_id": custom_id,
            "title": say(words, "modal_title"),
            "components": [{"type": 1, "components": [i]} for i in inputs],
        },
    }


async def command(ctx: Context) -> dict[str, Any]:
    name = ctx.data.get("name")
    if name == TICKET:
        priority = _option(ctx, "priority") or Priority.normal.value
        service = _option(ctx, "service") or DEFAULT_SERVICE_SLUG
        ctx.record.type = "discord_ticket"
        ctx.record.params = {"service": service, "priority": priority}
        return ticket_modal(ctx, f"open:{priority}:{service}"[:100])
    if name == TICKETS:
        ctx.record.type = "discord_tickets"
        return await my_tickets(ctx)
    if name == MESSAGE_COMMAND:
        ctx.record.type = "discord_create_ticket"
        target = str(ctx.data.get("target_id") or "")
        messages = (ctx.data.get("resolved") or {}).get("messages") or {}
        message = messages.get(target) or {}
        channel = str(message.get("channel_id") or ctx.payload.get("channel_id") or "")
        if not (target.isdigit() and channel.isdigit()):
            raise Refused(say(ctx.locale, "unknown"), code="unknown_message")
        text = str(message.get("content") or "")
        return ticket_modal(ctx, f"open_msg:{channel}:{target}", text)
    ctx.record.type = "discord_unknown"
    raise Refused(say(ctx.locale, "unknown"), code="unknown_command")


async def my_tickets(ctx: Context) -> dict[str, Any]:
    user = ctx.acting()
    found, _ = await tickets.list_tickets(
        ctx.session, user, TicketFilters(author=user.discord_id, limit=100)
    )
    still_open = [t for t in found if not Status(t.status).is_closed]
    if not still_open:
        return ephemeral(say(ctx.locale, "no_open"))
    lines = [say(ctx.locale, "your_open")]
    for t in still_open:
        line = (
            f"#{t.number} · {Status(t.status).label(ctx.locale)} · {t.title} — "
            f"<{web_link(ctx.settings, t.guid_ticket)}>"
        )
        if sum(len(x) + 1 for x in lines) + len(line) > MESSAGE_MAX:
            break
        lines.append(line)
    return ephemeral("\n".join(lines))


async def autocomplete(ctx: Context) -> dict[str, Any]:
    ctx.record.type = "discord_autocomplete"
    typed = ""
    for option in ctx.data.get("options") or []:
        if isinstance(option, dict) and option.get("focused"):
            typed = str(option.get("value") or "").casefold()
    services = await catalog.all_services(ctx.session, include_inactive=False)
    choices = [
        {"name": s.name[:100], "value": s.slug}
        for s in services
        if typed in s.slug.casefold() or typed in s.name.casefold()
    ][:25]
    return {"type": AUTOCOMPLETE_RESULT, "data": {"choices": choices}}


# --- modals -----------------------------------------------------------------------------


def modal_values(components: Any) -> dict[str, str]:
    """custom_id → value of every text input, in action rows or labels."""
    values: dict[str, str] = {}
    stack = list(components or [])
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        if item.get("type") == 4 and "custom_id" in item:
            values[str(item["custom_id"])] = str(item.get("value") or "")
        stack += item.get("components") or []
        if isinstance(item.get("component"), dict):
            stack.append(item["component"])
    return values


async def open_from_modal(ctx: Context, parts: list[str]) -> dict[str, Any]:
    values = modal_values(ctx.data.get("components"))
    source_url = None
    if parts[0] == "open":
        ctx.record.type = "discord_open_ticket"
        priority, service = parts[1], parts[2] if len(parts) > 2 else DEFAULT_SERVICE_SLUG
    else:  # open_msg:<channel>:<message>
        ctx.record.type = "discord_open_ticket_from_message"
        channel, message = parts[1], parts[2]
        guild = ctx.settings.discord_guild_id
        source_url = f"https://discord.com/channels/{guild}/{channel}/{message}"
        found = await repository.service_of_channel(ctx.session, channel)
        priority, service = Priority.normal.value, found.slug if found else DEFAULT_SERVICE_SLUG
    ctx.record.params = {"service": service, "priority": priority}
    try:
        data = TicketCreate(
            text=values.get("text", ""),
            title=values.get("title") or None,
            service=service,
            priority=priority,
        )
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BadRequest(problem, code="invalid_ticket") from exc
    ticket = await tickets.open_ticket(
        ctx.session, ctx.acting(), data, ctx.record.guid_action, source_url=source_url
    )
    ctx.record.guid_ticket = ticket.id
    link = web_link(ctx.settings, ticket.id)
    return ephemeral(say(ctx.locale, "opened", number=ticket.number, link=link))


async def reason_submitted(ctx: Context, parts: list[str]) -> dict[str, Any]:
    """`reason:close_fail:<guid>`: close without success, saying why."""
    ctx.record.type = "discord_close_fail"
    guid = parse_guid(ctx, parts[2])
    reason = modal_values(ctx.data.get("components")).get("reason", "").strip() or None
    await tickets.change_status(
        ctx.session,
        ctx.acting(),
        guid,
        Status.closed_fail.value,
        ctx.record.guid_action,
        reason=reason[:1000] if reason else None,
    )
    return {"type": DEFERRED_UPDATE}


# Modal handlers added by other modules (conversation: `reply:<guid>`, `note:<guid>`).
ModalHandler = Callable[[Context, list[str]], Awaitable[dict[str, Any]]]
MODALS: dict[str, ModalHandler] = {
    "open": open_from_modal,
    "open_msg": open_from_modal,
    "reason": reason_submitted,
}


async def modal_submit(ctx: Context) -> dict[str, Any]:
    parts = str(ctx.data.get("custom_id") or "").split(":")
    handler = MODALS.get(parts[0])
    if handler is None or len(parts) < 2:
        ctx.record.type = "discord_unknown"
        raise Refused(say(ctx.locale, "unknown"), code="unknown_modal")
    return await handler(ctx, parts)


def parse_guid(ctx: Context, value: str) -> uuid.UUID:
    try:
        guid = uuid.UUID(value)
    except ValueError:
        raise Refused(say(ctx.locale, "unknown"), code="unknown_ticket") from None
    ctx.record.guid_ticket = guid
    return guid


__all__ = [
    "AUTOCOMPLETE",
    "COMMAND",
    "COMPONENT",
    "MODALS",
    "MODAL_SUBMIT",
    "PING",
    "PONG",
    "Context",
    "Refused",
    "autocomplete",
    "command",
    "ephemeral",
    "modal_submit",
    "parse_guid",
    "resolve_actor",
]
