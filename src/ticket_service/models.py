"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from ticket_service.actions.models import AsyncAction
from ticket_service.assignment.models import Follower, TeamMember
from ticket_service.auth.models import AuthSession, OAuthState
from ticket_service.catalog.models import Service
from ticket_service.conversation.models import Comment
from ticket_service.db import Base
from ticket_service.idempotency.models import IdempotencyKey
from ticket_service.integrations.discord.models import DiscordCard
from ticket_service.notifications.models import Delivery
from ticket_service.ratings.models import TicketRating
from ticket_service.sla.models import CalendarRow, SlaPolicy
from ticket_service.tickets.models import Ticket, TicketEvent
from ticket_service.users.models import User

metadata = Base.metadata

__all__ = [
    "AsyncAction",
    "AuthSession",
    "CalendarRow",
    "Comment",
    "Delivery",
    "DiscordCard",
    "Follower",
    "IdempotencyKey",
    "OAuthState",
    "Service",
    "SlaPolicy",
    "TeamMember",
    "Ticket",
    "TicketEvent",
    "TicketRating",
    "User",
    "metadata",
]
