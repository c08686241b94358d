from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from ticket_service.catalog.models import AssignmentMode
from ticket_service.kit.schemas import CleanText, RequestModel, StorableStr

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
# May be empty, but PostgreSQL refuses NUL in text: a 422 here, not a 500 at INSERT.
Description = Annotated[StorableStr, Field(max_length=2000)]


Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)]
# Webhook URLs are credentials: accepted here, never shown back.
WebhookUrl = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2000)]
# A Discord id: 17 to 20 digits.
Snowflake = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{16,19}$")]


ASSIGNMENT_HELP = (
    "Who gets a new ticket: `manual` (nobody; the team claims or assigns), `round_robin` "
    "(the available team member assigned longest ago), `least_loaded` (the available team "
    "member with the fewest open, processing or waiting tickets; ties in round-robin order)"
)


class ServiceOut(BaseModel):
    slug: str
    name: str
    description: str
    is_active: bool
    notify_emails: list[str] = Field(description="Who else is e-mailed about its tickets")
    has_slack_webhook: bool = Field(description="Its own Slack webhook replaces the global one")
    has_discord_webhook: bool = Field(description="Its own Discord webhook replaces the global one")
    assignment: AssignmentMode = Field(description=ASSIGNMENT_HELP)
    discord_channel_id: str | None = Field(
        default=None, description="Discord channel where the bot posts a card of each ticket"
    )
    created_at: datetime
    updated_at: datetime


def service_out(service: Any) -> ServiceOut:
    return ServiceOut(
        slug=service.slug,
        name=service.name,
        description=service.description,
        is_active=service.is_active,
        notify_emails=list(service.notify_emails or []),
        has_slack_webhook=bool(service.slack_webhook_url),
        has_discord_webhook=bool(service.discord_webhook_url),
        assignment=AssignmentMode(service.assignment),
        discord_channel_id=service.discord_channel_id,
        created_at=service.created_at,
        updated_at=service.updated_at,
    )


class ServiceList(BaseModel):
    items: list[ServiceOut]


class ServiceCreate(RequestModel):
    slug: Slug = Field(description="Lower-case id used in tickets, e.g. `it`, `hr`, `office`")
    name: Annotated[CleanText, Field(min_length=1, max_length=200)]
    description: Description = ""
    assignment: AssignmentMode = Field(default=AssignmentMode.manual, description=ASSIGNMENT_HELP)

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"slug": "it", "name": "IT-поддержка"}]},
    }


class ServiceUpdate(RequestModel):
    name: Annotated[CleanText, Field(min_length=1, max_length=200)] | None = None
    description: Description | None = None
    # Strict: the schema says boolean; `0` or `"no"` must not deactivate a service.
    is_active: StrictBool | None = None
    assignment: AssignmentMode | None = Field(default=None, description=ASSIGNMENT_HELP)
    notify_emails: Annotated[list[Email], Field(max_length=20)] | None = None
    slack_webhook_url: WebhookUrl | None = Field(
        default=None, description="The service's own Slack incoming webhook; null removes it"
    )
    discord_webhook_url: WebhookUrl | None = Field(
        default=None, description="The service's own Discord channel webhook; null removes it"
    )
    discord_channel_id: Snowflake | None = Field(
        default=None,
        description="Discord channel (id) for ticket cards with buttons, posted by the bot "
        "(DISCORD_BOT_TOKEN); null removes it",
    )

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "notify_emails": ["it-team@1440.test"],
                    "slack_webhook_url": "https://hooks.slack.com/services/T/B/X",
                }
            ]
        },
    }


# Fields where an explicit null means "remove"; for the others null means "leave as is".
NULLABLE_FIELDS = frozenset({"slack_webhook_url", "discord_webhook_url", "discord_channel_id"})
# Of those, the ones that are URLs (checked by the outbound policy, masked in the log).
URL_FIELDS = frozenset({"slack_webhook_url", "discord_webhook_url"})
