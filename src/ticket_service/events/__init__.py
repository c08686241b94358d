"""Ticket events: `registry` (every kind: who may see it, who hears of it, what it is
called) and `record.record_event`, the one way a change is recorded.

Nothing is imported here: the registry is read from the lowest layers (notifications
derive their recipients from it), and importing the recorder with it would loop back
through notifications."""
