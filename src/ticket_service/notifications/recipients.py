"""Who hears about an event, on which channel, in which language: the one fan-out rule,
derived from the event registry's audience and visibility.

- People (the author, the assignee, followers) hear personally: e-mail when their address
  is verified and they did not opt out, a Discord direct message when a bot token is set.
  Nobody hears about what they did themselves.
- The team hears on the service's channels (its own Slack / Discord webhook, else the
  global ones, and its e-mail list); integrations on WEBHOOK_URLS.
- A staff-only event (an internal note) reaches only staff, and only the channels listed
  in INTERNAL_SAFE_CHANNELS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from ticket_service.catalog.models import Service
from ticket_service.config import Settings
from ticket_service.events.registry import Audience, EventKind
from ticket_service.notifications.channels import PermanentFailure
from ticket_service.notifications.models import Channel
from ticket_service.users.models import User

DEFAULT = "default"
SERVICE_PREFIX = "service:"
URL_PREFIX = "url:"


@dataclass(frozen=True)
class Target:
    channel: Channel
    recipient: str
    locale: str | None = None  # None: the service's NOTIFY_LOCALE

    @property
    def key(self) -> tuple[Channel, str]:
        """A delivery's identity beside its event (the idempotency key's other half)."""
        return self.channel, self.recipient


@dataclass(frozen=True)
class Concerned:
    """The people and places an event on one ticket may concern."""

    service: Service
    author: User
    assignee: User | None
    followers: list[User]
    actor_id: int | None
    admins: list[User] = field(default_factory=list)  # loaded only for an `admins` audience


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
    if settings.smtp_host:
        targets += [Target(Channel.email, address.lower()) for address in service.notify_emails]
    return targets


def _webhook_targets(settings: Settings) -> list[Target]:
    return [Target(Channel.webhook, url_key(url)) for url in settings.webhook_urls]


def personal_targets(settings: Settings, person: User) -> list[Target]:
    targets: list[Target] = []
    if settings.smtp_host and person.email and person.email_verified and person.notify_email:
        targets.append(Target(Channel.email, person.email.lower(), person.locale))
    if settings.discord_bot_token and person.notify_discord:
        targets.append(Target(Channel.discord_dm, person.discord_id, person.locale))
    return targets


def reaches_people(settings: Settings) -> bool:
    """Whether any personal channel is configured: without one, who the people concerned
    are (the followers, say) changes nothing, and need not be read."""
    return bool(settings.smtp_host or settings.discord_bot_token)


def _people(spec: EventKind, who: Concerned) -> Iterable[User]:
    if Audience.author in spec.audience:
        yield who.author
    if Audience.assignee in spec.audience and who.assignee is not None:
        yield who.assignee
    if Audience.followers in spec.audience:
        yield from who.followers
    if Audience.admins in spec.audience:
        yield from who.admins


def fan_out(settings: Settings, spec: EventKind, who: Concerned) -> list[Target]:
    """Every delivery an event calls for, each (channel, recipient) once."""
    targets: list[Target] = []
    for person in _people(spec, who):
        if person.id == who.actor_id:
            continue
        if spec.staff_only and not person.role_enum.is_staff:
            continue
        targets += personal_targets(settings, person)
    shared: list[Target] = []
    unowned_and_author_spoke = who.assignee is None and who.actor_id == who.author.id
    if Audience.team in spec.audience or (
        Audience.team_if_unowned in spec.audience and unowned_and_author_spoke
    ):
        shared += _team_targets(settings, who.service)
    if Audience.webhooks in spec.audience:
        shared += _webhook_targets(settings)
    if spec.staff_only:
        shared = [t for t in shared if t.channel.value in settings.internal_safe_channels]
    # A person may also be on the service's list: one e-mail, in their own language.
    unique: dict[tuple[Channel, str], Target] = {}
    for target in targets + shared:
        unique.setdefault(target.key, target)
    return list(unique.values())


def webhook_url(settings: Settings, service: Service | None, target: Target) -> str:
    """The URL a stored target points at now; PermanentFailure if it is no longer set.
    `service` (the ticket's) is needed only by a target of the service's own channel."""
    url: str | None = None
    if target.channel is Channel.webhook:
        url = next((u for u in settings.webhook_urls if url_key(u) == target.recipient), None)
    elif target.recipient.startswith(SERVICE_PREFIX):
        url = (
            None
            if service is None
            else service.slack_webhook_url
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
