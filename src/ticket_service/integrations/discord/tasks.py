"""The `discord_card` job: post a ticket's card, or edit it to show the ticket now.

Deferred by notifications/service.py in the transaction of every change of a ticket whose
service has a Discord channel; several changes while one job waits make one edit. It reads
the ticket when it runs, so it always shows the latest state."""

from __future__ import annotations

import uuid

import procrastinate
import structlog
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from ticket_service.integrations.discord import repository
from ticket_service.integrations.discord.cards import card, payload_hash
from ticket_service.kit.discord_rest import DiscordError, RateLimited, bot_client
from ticket_service.notifications.service import CARD_TASK
from ticket_service.sla.repository import db_now
from ticket_service.worker.registry import jobs
from ticket_service.worker.resources import Resources, resources_of

log = structlog.get_logger(__name__)
MAX_ATTEMPTS = 10


class AsDiscordSays(BaseRetryStrategy):
    """After a long rate limit, when Discord says; after a failure, 2, 4, 8... s."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if job.attempts >= MAX_ATTEMPTS:
            return None
        if isinstance(exception, RateLimited):
            return RetryDecision(retry_in={"seconds": int(exception.retry_after) + 1})
        return RetryDecision(retry_in={"seconds": min(300, 2 ** (job.attempts + 1))})


async def refresh_card(resources: Resources, guid: uuid.UUID) -> str:
    settings = resources.settings
    if not settings.discord_bot_token:
        return "no_bot"
    async with resources.sessionmaker() as session, session.begin():
        ticket = await repository.ticket_for_card(session, guid)
        if ticket is None:
            log.info("card_ticket_gone", guid_ticket=str(guid))
            return "gone"
        existing = await repository.card_of(session, guid)
        channel_id = existing.channel_id if existing else ticket.service.discord_channel_id
        message_id = existing.message_id if existing else None
        if not channel_id:
            return "no_channel"
        payload = card(settings, ticket, await db_now(session))
        digest = payload_hash(payload)
        if existing is not None and message_id and existing.payload_hash == digest:
            return "unchanged"
    # No transaction is open while Discord takes its time; jobs of one card never overlap
    # (their `lock`), so nobody else writes this card meanwhile.
    rest = bot_client(
        resources.http, settings.discord_api_base_url, settings.discord_bot_token.get_secret_value()
    )
    outcome = "edited"
    try:
        if message_id:
            try:
                await rest.edit_message(channel_id, message_id, payload)
            except DiscordError as exc:
                if exc.status != 404:
                    raise
                message_id = None  # somebody deleted the card: post it again
        if not message_id:
            message = await rest.create_message(channel_id, payload)
            message_id, outcome = str(message["id"]), "posted"
    except DiscordError as exc:
        if exc.temporary:
            raise
        # Missing access, unknown channel...: trying again cannot help; an admin fixes it.
        log.warning("card_failed", guid_ticket=str(guid), channel_id=channel_id, error=str(exc))
        return "failed"
    async with resources.sessionmaker() as session, session.begin():
        await repository.save_card(session, guid, channel_id, message_id, digest)
    log.info("card_" + outcome, guid_ticket=str(guid), channel_id=channel_id)
    return outcome


@jobs.task(name=CARD_TASK, queue="notifications", pass_context=True, retry=AsDiscordSays())
async def discord_card(context: procrastinate.JobContext, guid_ticket: str) -> str:
    """Post or edit one ticket's card in its service's Discord channel."""
    return await refresh_card(resources_of(context), uuid.UUID(guid_ticket))


__all__ = ["discord_card", "refresh_card"]
