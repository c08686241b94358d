"""Ticket events: the registry of kinds, and `record`, the one way a change is recorded."""

from ticket_service.events.record import record
from ticket_service.events.registry import Kind

__all__ = ["Kind", "record"]
