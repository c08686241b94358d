"""The status machine and who may move a ticket along it."""

from __future__ import annotations

from ticket_service.errors import BadRequest, Forbidden
from ticket_service.vocabulary import Status

__all__ = ["Status", "allowed_moves", "check_transition", "parse_status"]

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.open: frozenset({Status.processing, Status.closed_success, Status.closed_fail}),
    Status.processing: frozenset(
        {Status.open, Status.waiting, Status.closed_success, Status.closed_fail}
    ),
    # Back to processing by hand, or by itself when the author replies (conversation).
    Status.waiting: frozenset({Status.processing, Status.closed_success, Status.closed_fail}),
    Status.closed_success: frozenset({Status.open}),
    Status.closed_fail: frozenset({Status.open}),
}

# What the author of a ticket may do without being its staff: withdraw it, or reopen it.
AUTHOR_TRANSITIONS: frozenset[tuple[Status, Status]] = frozenset(
    {
        (Status.open, Status.closed_fail),
        (Status.processing, Status.closed_fail),
        (Status.waiting, Status.closed_fail),
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


def allowed_moves(current: Status, staff: bool, is_author: bool) -> list[Status]:
    """The statuses this person may move a ticket to now, in the workflow's order: what a
    front end offers as buttons."""
    return [
        new
        for new in Status
        if new in TRANSITIONS[current]
        and (staff or (is_author and (current, new) in AUTHOR_TRANSITIONS))
    ]


def check_transition(current: Status, new: Status, staff: bool, is_author: bool) -> None:
    """Raise unless this person (the ticket's staff, its author, or neither) may move a
    ticket from `current` to `new`."""
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
    if staff:
        return
    if is_author and (current, new) in AUTHOR_TRANSITIONS:
        return
    raise Forbidden(
        "Only agents may make this change; an author may withdraw or reopen own ticket",
        code="transition_not_allowed",
    )
