"""The status machine and who may move a ticket along it."""

from __future__ import annotations

import enum

from ticket_service.errors import BadRequest, Forbidden
from ticket_service.users.models import Role


class Status(enum.StrEnum):
    open = "open"
    processing = "processing"
    closed_success = "closed_success"
    closed_fail = "closed_fail"

    @property
    def is_closed(self) -> bool:
        return self in (Status.closed_success, Status.closed_fail)


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.open: frozenset({Status.processing, Status.closed_success, Status.closed_fail}),
    Status.processing: frozenset({Status.open, Status.closed_success, Status.closed_fail}),
    Status.closed_success: frozenset({Status.open}),
    Status.closed_fail: frozenset({Status.open}),
}

# What the author of a ticket may do without being an agent: withdraw it, or reopen it.
AUTHOR_TRANSITIONS: frozenset[tuple[Status, Status]] = frozenset(
    {
        (Status.open, Status.closed_fail),
        (Status.processing, Status.closed_fail),
        (Status.closed_success, Status.open),
        (Status.closed_fail, Status.open),
    }
)


class InvalidStatus(BadRequest):
    code = "invalid_status"


class SameStatus(BadRequest):
    code = "same_status"


class InvalidTransition(BadRequest):
    code = "invalid_transition"


def parse_status(value: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise InvalidStatus(
            f"Unknown status {value[:40]!r}; expected one of: {allowed}",
            details={"allowed": [s.value for s in Status]},
        ) from None


def check_transition(current: Status, new: Status, role: Role, is_author: bool) -> None:
    """Raise unless `role` (the author or not) may move a ticket from `current` to `new`."""
    if new is current:
        raise SameStatus(f"The ticket is already {current.value}")
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"A ticket cannot go from {current.value} to {new.value}",
            details={
                "from": current.value,
                "allowed": sorted(s.value for s in TRANSITIONS[current]),
            },
        )
    if role.is_staff:
        return
    if is_author and (current, new) in AUTHOR_TRANSITIONS:
        return
    raise Forbidden(
        "Only agents may make this change; an author may withdraw or reopen own ticket",
        code="transition_not_allowed",
    )
