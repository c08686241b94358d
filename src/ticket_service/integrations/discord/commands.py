"""The application's commands, registered in the company guild by
`ticket-service discord sync-commands` (never at start-up): a bulk overwrite, so the
guild has exactly these afterwards."""

from __future__ import annotations

from typing import Any

import httpx

from ticket_service.config import Settings
from ticket_service.kit.discord_rest import DiscordRest
from ticket_service.vocabulary import Priority

TICKET = "ticket"
TICKETS = "tickets"
MESSAGE_COMMAND = "Create ticket"
CHAT_INPUT, MESSAGE = 1, 3
STRING = 3


def definitions() -> list[dict[str, Any]]:
    """Names and descriptions in English with Russian localizations."""
    return [
        {
            "type": CHAT_INPUT,
            "name": TICKET,
            "name_localizations": {"ru": "заявка"},
            "description": "Open a ticket to a service",
            "description_localizations": {"ru": "Открыть заявку в службу"},
            "options": [
                {
                    "type": STRING,
                    "name": "service",
                    "name_localizations": {"ru": "сервис"},
                    "description": "Which service (default: general)",
                    "description_localizations": {"ru": "Какой сервис (по умолчанию general)"},
                    "required": False,
                    "autocomplete": True,
                },
                {
                    "type": STRING,
                    "name": "priority",
                    "name_localizations": {"ru": "приоритет"},
                    "description": "How urgent it is",
                    "description_localizations": {"ru": "Насколько срочно"},
                    "required": False,
                    "choices": [
                        {
                            "name": p.label("en"),
                            "name_localizations": {"ru": p.label("ru")},
                            "value": p.value,
                        }
                        for p in Priority
                    ],
                },
            ],
        },
        {
            "type": CHAT_INPUT,
            "name": TICKETS,
            "name_localizations": {"ru": "заявки"},
            "description": "Your open tickets",
            "description_localizations": {"ru": "Ваши открытые заявки"},
        },
        {
            "type": MESSAGE,
            "name": MESSAGE_COMMAND,
            "name_localizations": {"ru": "Создать заявку"},
        },
    ]


class NotConfigured(Exception):
    pass


async def sync_commands(settings: Settings) -> list[dict[str, Any]]:
    """PUT the definitions to the guild; what Discord registered."""
    missing = [
        name
        for name, value in (
            ("DISCORD_APPLICATION_ID", settings.discord_application_id),
            ("DISCORD_GUILD_ID", settings.discord_guild_id),
            ("DISCORD_BOT_TOKEN", settings.discord_bot_token),
        )
        if not value
    ]
    if missing:
        raise NotConfigured(f"set {', '.join(missing)} first")
    assert settings.discord_bot_token is not None  # noqa: S101 - checked above
    assert settings.discord_guild_id is not None  # noqa: S101
    async with httpx.AsyncClient(timeout=settings.discord_timeout_seconds) as http:
        rest = DiscordRest(
            http, settings.discord_api_base_url, settings.discord_bot_token.get_secret_value()
        )
        return await rest.overwrite_guild_commands(
            settings.discord_application_id, settings.discord_guild_id, definitions()
        )
