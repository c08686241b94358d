"""Who hears about an event, on which channel: the one fan-out rule.

Every event (ticket opened, status changed, and later kinds registered in EVENT_AUDIENCE)
goes to the team channels: Slack, the Discord channel webhook, the configured webhooks
and the service's e-mail list. Changes to a ticket also reach its author personally
(e-mail when verified, a Discord direct message when a bot token is set) unless the
author made the change or opted out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ticket_service.catalog.models import Service
from ticket_service.config import Settings
from ticket_service.notifications.channels import PermanentFailure
from ticket_service.notifications.models import Channel
from ticket_service.users.models import User

# Event kind -> does the author hear about it personally?
EVENT_AUDIENCE: dict[str, bool] = {
    "opened": False,
    "status_changed": True,
}

DEFAULT = "default"
SERVICE_PREFIX = "service:"
URL_PREFIX = "url:"


@dataclass(frozen=True)
class Target:
    channel: Channel
    recipient: str


def url_key(url: str) -> str:
    """A stable name for a configured URL, safe to store and show (URLs carry secrets)."""
    return URL_PREFIX + hashlib.sha256(url.encode()).hexdigest()[:16]


def _team_targets(settings: Settings, service: Service) -> list[Target]:
    targets: list[Target] = []
    if service.slack_webhook_url:
        targets.append(Target(Channel.slack, SERVICE_PREFIX + service.slug))
    elif settings.slack_webhook_url:
        targets.append(Target(Channel.slack, DEFAULT))
    if service.discord_webhook_url:
        targets.append(Target(Channel.discord_webhook, SERVICE_PREFIX + service.slug))
    elif settings.discord_webhook_url:
        targets.append(Target(Channel.discord_webhook, DEFAULT))
    targets += [Target(Channel.webhook, url_key(url)) for url in settings.webhook_urls]
    if settings.smtp_host:
        targets += [Target(Channel.email, address.lower()) for address in service.notify_emails]
    return targets


def _author_targets(settings: Settings, author: User) -> list[Target]:
    targets: list[Target] = []
    if settings.smtp_host and author.email and author.email_verified and author.notify_email:
        targets.append(Target(Channel.email, author.email.lower()))
    if settings.discord_bot_token and author.notify_discord:
        targets.append(Target(Channel.discord_dm, author.discord_id))
    return targets


def fan_out(
    settings: Settings, kind: str, service: Service, author: User, actor_id: int | None
) -> list[Target]:
    targets = _team_targets(settings, service)
    if EVENT_AUDIENCE[kind] and actor_id != author.id:
        targets += _author_targets(settings, author)
    # The author may also be on the service's list: one e-mail, not two.
    return list(dict.fromkeys(targets))


def webhook_url(settings: Settings, service: Service, target: Target) -> str:
    """The URL a stored target points at now; PermanentFailure if it is no longer set."""
    url: str | None = None
    if target.channel is Channel.webhook:
        url = next((u for u in settings.webhook_urls if url_key(u) == target.recipient), None)
    elif target.recipient.startswith(SERVICE_PREFIX):
        url = (
            service.slack_webhook_url
            if target.channel is Channel.slack
            else service.discord_webhook_url
        )
    else:
        secret = (
            settings.slack_webhook_url
            if target.channel is Channel.slack
            else settings.discord_webhook_url
        )
        url = secret.get_secret_value() if secret else None
    if not url:
        raise PermanentFailure(
            f"{target.channel.value} target {target.recipient} is no longer configured"
        )
    return url
