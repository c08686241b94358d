"""`POST /api/discord/interactions`: Discord's HTTP interactions (no gateway).

Every request is verified first (Ed25519, integrations/discord/verify.py); a repeated
interaction id is refused; then the interaction runs in the request's transaction and is
answered in Discord's format within its 3 seconds. The path is exempt from the sign-in
rate limit (Discord calls from a few addresses for the whole company) and never replayed
after a transient database failure (its id is spent in the replay guard); it is in the
metrics and the action log like any request, as `discord_<name>`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import redis.asyncio as aioredis
import structlog
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from ticket_service.db import Session
from ticket_service.errors import AppError, BadRequest, Conflict, NotFound, responses
from ticket_service.integrations.discord import (
    interactions,
    team_buttons,  # noqa: F401 - registers claim, reply, note
)
from ticket_service.integrations.discord.buttons import component
from ticket_service.integrations.discord.interactions import Context, Refused, ephemeral
from ticket_service.integrations.discord.texts import refusal
from ticket_service.integrations.discord.verify import MAX_SKEW_SECONDS, check_signature
from ticket_service.kit.discord_rest import DiscordRest
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.ops.metrics import REDIS_ERRORS

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/discord", tags=["discord"])
REPLAY_KEY = "discord:interaction:"


class InteractionsOff(NotFound):
    code = "discord_interactions_off"
    message = "Discord interactions are not enabled on this server (DISCORD_INTERACTIONS)"


class Replayed(Conflict):
    code = "interaction_replayed"
    message = "This interaction was received already"


async def first_time(redis: aioredis.Redis, interaction_id: str) -> bool:
    """SET NX on the id, kept a little longer than a timestamp is accepted. Redis down: the
    interaction is accepted (the API keeps working without Redis); a replay then still
    needs a request Discord signed within the last MAX_SKEW_SECONDS."""
    try:
        fresh = await redis.set(REPLAY_KEY + interaction_id, "1", nx=True, ex=2 * MAX_SKEW_SECONDS)
    except (RedisError, OSError) as exc:
        REDIS_ERRORS.labels("discord_replay_guard").inc()
        log.warning("discord_replay_guard_skipped", error=repr(exc))
        return True
    return bool(fresh)


@router.post(
    "/interactions",
    summary="Discord interactions endpoint (signed by Discord)",
    # Never rate limited (ops/rate_limit.py): no 429 documented.
    responses={k: v for k, v in responses(400, 401, 404, 409, 422).items() if k != 429},
)
async def discord_interactions(
    action: Annotated[ActionRecord, Depends(Action("discord_interaction"))],
    request: Request,
    session: Session,
    x_signature_ed25519: Annotated[str | None, Header()] = None,
    x_signature_timestamp: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Set this URL as the application's Interactions Endpoint URL. Requests must carry
    Discord's `X-Signature-Ed25519` over `X-Signature-Timestamp` + the body, made with the
    key of `DISCORD_PUBLIC_KEY`, and a timestamp within 5 minutes (else 401). PING is
    answered with PONG; slash commands, the message command, buttons and modals are
    answered as Discord expects; a refusal is an ephemeral message in the person's
    language (200)."""
    settings = request.app.state.settings
    if not settings.discord_interactions:
        raise InteractionsOff()
    body = await request.body()
    check_signature(settings.discord_public_key, x_signature_ed25519, x_signature_timestamp, body)
    try:
        payload = json.loads(body)
        kind = int(payload["type"])
    except (ValueError, KeyError, TypeError):
        raise BadRequest("Not an interaction", code="invalid_interaction") from None
    if kind == interactions.PING:
        action.type = "discord_ping"
        return JSONResponse({"type": interactions.PONG})
    if not await first_time(request.app.state.redis, str(payload.get("id"))):
        raise Replayed()
    ctx = Context(payload, session, settings, action, bot=_bot(request))
    try:
        ctx.user = await interactions.resolve_actor(ctx)
        action.actor = ctx.user.discord_id
        answer = await _dispatch(ctx, kind)
    except AppError as exc:
        # The person sees why; nothing of the attempt is kept.
        await session.rollback()
        action.params = {**action.params, "refused": exc.code}
        said = isinstance(exc, Refused)
        text = exc.message if said else refusal(ctx.locale, exc.code, exc.message)
        return JSONResponse(ephemeral(text))
    return JSONResponse(answer)


def _bot(request: Request) -> DiscordRest | None:
    """The api process's bot client: short waits, an interaction is answered within 3 s."""
    settings = request.app.state.settings
    if not settings.discord_bot_token:
        return None
    state = request.app.state
    if getattr(state, "discord_bot", None) is None:
        state.discord_bot = DiscordRest(
            state.discord.http,
            settings.discord_api_base_url,
            settings.discord_bot_token.get_secret_value(),
            max_wait=1.0,
            max_attempts=2,
        )
    bot: DiscordRest = state.discord_bot
    return bot


async def _dispatch(ctx: Context, kind: int) -> dict[str, Any]:
    if kind == interactions.COMMAND:
        return await interactions.command(ctx)
    if kind == interactions.AUTOCOMPLETE:
        return await interactions.autocomplete(ctx)
    if kind == interactions.COMPONENT:
        return await component(ctx)
    if kind == interactions.MODAL_SUBMIT:
        return await interactions.modal_submit(ctx)
    raise BadRequest("Unknown interaction type", code="invalid_interaction")
