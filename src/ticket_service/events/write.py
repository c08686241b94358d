"""A ticket's change, its events and their deliveries in ONE statement, instead of a
unit-of-work flush and a statement per event's deliveries.

Opening a ticket or moving it flushed the ticket's INSERT or UPDATE, then each event's
INSERT, then each event's delivery rows: a round trip each, and the ORM's flush
bookkeeping cost more CPU than the rest of the request's domain work (`make bench-cpu`:
1.5 ms of an open's 4.2). Here the events and the deliveries go in data-modifying CTEs of
the ticket's own statement, which returns the ticket's row; the entities are then marked
as written, exactly as a flush leaves them (persistent, no pending history, the server's
values loaded). PostgreSQL checks the foreign keys at the end of the statement, so a new
ticket and its first event can go together.

Only the common shape takes this path: the ticket (new, or loaded and changed in its
columns or its assignee) and its staged events, with nothing else waiting in the session.
Anything else (an edited comment, a follower, a changed service) is left to the ORM's
flush, which writes the same rows (`prepare` answers None).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Table,
    bindparam,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState, make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError

from ticket_service.db import write_last
from ticket_service.kit.driver_sql import DriverStatement
from ticket_service.notifications.recipients import Target
from ticket_service.notifications.repository import new_deliveries, target_params, wake
from ticket_service.tickets.models import Ticket, TicketEvent

# The tables, not the entities: a statement on a table is plain Core, without the ORM's
# bulk-write handling.
_TICKETS = cast(Table, Ticket.__table__)
_EVENTS = cast(Table, TicketEvent.__table__)
# Attribute key -> column, for every mapped column of a ticket (all come back from a write).
_TICKET_COLUMNS = {prop.key: prop.columns[0] for prop in inspect(Ticket).column_attrs}
# What a flush puts in a column the ticket left unset (status, priority, counters).
_SCALAR_DEFAULTS = {
    key: column.default.arg
    for key, column in _TICKET_COLUMNS.items()
    if column.default is not None and column.default.is_scalar
}
# What an UPDATE sets besides the changed columns.
_SET_BY_UPDATE = ("version", "updated_at")
# The relationships a change may touch without a flush: the assignee, through its key.
_RELATIONSHIP_KEYS = {"assignee": "assignee_id"}
_EVENT_KEYS = ("ticket_id", "kind", "actor_id", "from_status", "to_status", "guid_action", "data")


@dataclass(frozen=True)
class Change:
    """What `prepare` found to write: the ticket's changed columns (all of a new one's),
    and its staged events."""

    ticket: Ticket
    state: InstanceState[Ticket]
    changed: dict[str, Any]
    events: Sequence[TicketEvent]

    async def write(
        self, session: AsyncSession, targets: Sequence[Sequence[Target]], *, last: bool = False
    ) -> None:
        """Write it, each event with its deliveries (`targets`, one list per event) and, if
        there are any, the senders' wake-up at COMMIT (as `insert_deliveries` does). A
        stale version raises StaleDataError and writes nothing, as a flush does. `last`:
        the request writes nothing after it (`db.write_last`)."""
        state, ticket = self.state, self.ticket
        params = {f"v_{key}": value for key, value in self.changed.items()}
        for i, (event, sent_to) in enumerate(zip(self.events, targets, strict=True)):
            params.update(_event_params(i, ticket, event))
            if sent_to:
                params.update(target_params(f"d{i}_", sent_to))
        deliveries = tuple(bool(sent_to) for sent_to in targets)
        if self.changed:
            if state.persistent:
                params.update(t_id=ticket.id, t_version=state.dict["version"])
            keys = tuple(sorted(self.changed))
            statement = _statement(state.pending, keys, deliveries)
        elif self.events:
            # Events alone (a reply's, a note's) leave the ticket's row and version alone.
            statement = _events_statement(deliveries)
        else:
            return
        fields = await (
            write_last(session, statement, params)
            if last
            else statement.fetch_mapping(session, params)
        )
        if fields is None:
            raise StaleDataError(f"ticket {ticket.id} changed since it was read")
        if self.changed:
            _mark_written(session, ticket, state, fields)
        for i, event in enumerate(self.events):
            at = fields[f"event_{i}_at"]
            _mark_event_written(session, ticket, event, fields[f"event_{i}_id"], at)


def prepare(session: AsyncSession, ticket: Ticket, events: Sequence[TicketEvent]) -> Change | None:
    """The ticket's pending change and `events` (staged with `stage_event`) as one
    statement's work; None when the session holds more than that (flush it instead)."""
    state: InstanceState[Ticket] = inspect(ticket)
    own = {ticket, *events}
    if any(obj not in own for obj in session.new) or any(obj not in own for obj in session.dirty):
        return None
    if any(inspect(event).key is not None for event in events):
        return None  # an event written already: not a staged one
    if state.pending:
        return Change(ticket, state, _new_values(state), events)
    if state.persistent and (changed := _changed_values(state)) is not None:
        return Change(ticket, state, changed, events)
    return None


@functools.lru_cache(maxsize=128)
def _statement(new: bool, keys: tuple[str, ...], deliveries: tuple[bool, ...]) -> DriverStatement:
    """The statement for a new ticket (`new`) or a change of `keys`, with an event for
    each of `deliveries` (True: with delivery rows); built and compiled once per shape
    (building one cost more CPU than running it), run on the driver (kit/driver_sql.py)."""
    values: dict[str, Any] = {
        key: bindparam(f"v_{key}", type_=_TICKET_COLUMNS[key].type) for key in keys
    }
    written: Any
    if new:
        written = insert(_TICKETS).values(values)
    else:
        version = bindparam("t_version", type_=_TICKETS.c.version.type)
        written = (
            update(_TICKETS)
            .where(_TICKETS.c.id == bindparam("t_id", type_=_TICKETS.c.id.type))
            .where(_TICKETS.c.version == version)
            .values({**values, "version": version + 1, "updated_at": func.now()})
        )
    # A new ticket comes back whole (the number, the defaults); a change brings back what it
    # wrote and what the server set, as a flush's RETURNING does.
    back = _TICKET_COLUMNS if new else {k: _TICKET_COLUMNS[k] for k in (*keys, *_SET_BY_UPDATE)}
    ticket = written.returning(*back.values()).cte("ticket")
    returned: list[Any] = [ticket.c[column.name].label(key) for key, column in back.items()]
    columns, ctes = _event_chain(deliveries, ticket)
    return DriverStatement(
        select(*returned, *columns).select_from(ticket).add_cte(ticket, *ctes), writes=True
    )


@functools.lru_cache(maxsize=16)
def _events_statement(deliveries: tuple[bool, ...]) -> DriverStatement:
    """Only events (one for each of `deliveries`), the ticket unchanged."""
    columns, ctes = _event_chain(deliveries, None)
    return DriverStatement(select(*columns).add_cte(*ctes), writes=True)


def _event_chain(deliveries: tuple[bool, ...], ticket: Any) -> tuple[list[Any], list[Any]]:
    """One CTE per event (a multi-row VALUES would not be cached as a compiled statement),
    each reading the one before (the first reads the ticket's change, if any): an event is
    written only with its ticket's change (none on a stale version), and the ids (the
    events', their deliveries') are drawn in the order the events were staged. Each event's
    deliveries read the event's row.
    Returns the columns to select (each event's id and time, the wake-up) and the CTEs."""
    columns: list[Any] = []
    ctes: list[Any] = []
    previous, sent = ticket, None
    for i, delivered in enumerate(deliveries):
        row = [bindparam(f"e{i}_{key}", type_=_EVENTS.c[key].type) for key in _EVENT_KEYS]
        written: Any
        if previous is None:
            written = insert(_EVENTS).values(dict(zip(_EVENT_KEYS, row, strict=True)))
        else:
            after = select(*row).select_from(previous)
            if sent is not None:
                # After the previous event's deliveries too: the senders send one
                # recipient's messages of a ticket in the order of the deliveries' ids.
                after = after.where(select(func.count()).select_from(sent).scalar_subquery() >= 0)
            written = insert(_EVENTS).from_select(_EVENT_KEYS, after)
        event = written.returning(_EVENTS.c.id, _EVENTS.c.created_at).cte(f"event_{i}")
        columns += [
            select(event.c.id).scalar_subquery().label(f"event_{i}_id"),
            select(event.c.created_at).scalar_subquery().label(f"event_{i}_at"),
        ]
        ctes.append(event)
        sent = (
            new_deliveries(event.c.id, event, f"d{i}_").cte(f"deliveries_{i}")
            if delivered
            else None
        )
        if sent is not None:
            ctes.append(sent)
        previous = event
    if any(deliveries):
        # NOTIFY is delivered at COMMIT, once per transaction (notifications.repository).
        columns.append(wake().label("woken"))
    return columns, ctes


def _new_values(state: InstanceState[Ticket]) -> dict[str, Any]:
    # An attribute read before the write holds None: the column's default applies to it,
    # as in a flush, and any other column without a value is NULL anyway.
    values = dict(_SCALAR_DEFAULTS)
    values.update(
        (key, value) for key in _TICKET_COLUMNS if (value := state.dict.get(key)) is not None
    )
    for relation, key in _RELATIONSHIP_KEYS.items():
        related = state.dict.get(relation)
        if related is not None:
            values[key] = related.id
    values["version"] = 1
    return values


def _changed_values(state: InstanceState[Ticket]) -> dict[str, Any] | None:
    """The changed columns of a loaded ticket; None when a change is not one of columns or
    the assignee (left to the flush)."""
    values: dict[str, Any] = {}
    for key in state.committed_state:
        if key in _TICKET_COLUMNS:
            values[key] = state.dict[key]
        elif key in _RELATIONSHIP_KEYS:
            related = state.dict.get(key)
            values[_RELATIONSHIP_KEYS[key]] = related.id if related is not None else None
        else:
            return None
    if values.keys() & _SET_BY_UPDATE:
        return None  # set by hand: the flush writes what was set
    return values


def _mark_written(
    session: AsyncSession, ticket: Ticket, state: InstanceState[Ticket], fields: Any
) -> None:
    """Leave the ticket as a flush would: its row's values loaded, no pending change."""
    # What the statement returned (a new ticket's every column, a change's own and what the
    # UPDATE set) goes into the ticket's dict as a load puts it (as db.revive does); then
    # all is committed at once, the assignee's change too. set_committed_value did that one
    # attribute at a time: 36 of them for an open.
    state.dict.update({key: fields[key] for key in fields.keys() & _TICKET_COLUMNS.keys()})
    if state.pending:
        session.expunge(ticket)
        make_transient_to_detached(ticket)
        session.add(ticket)
    else:
        # What a flush does after its UPDATE (SQLAlchemy has no public call for it): the
        # ticket is clean, so the commit's flush finds nothing of it to write.
        state._commit_all(state.dict, session.sync_session.identity_map)


def _event_params(i: int, ticket: Ticket, event: TicketEvent) -> dict[str, Any]:
    params = {f"e{i}_{key}": getattr(event, key) for key in _EVENT_KEYS[1:]}
    params[f"e{i}_ticket_id"] = ticket.id
    if params[f"e{i}_data"] is None:
        params[f"e{i}_data"] = {}
    return params


def _mark_event_written(
    session: AsyncSession, ticket: Ticket, event: TicketEvent, event_id: int, at: Any
) -> None:
    session.expunge(event)
    # As `_mark_written`: into the dict, then all committed (make_transient_to_detached).
    event.__dict__.update(id=event_id, ticket_id=ticket.id, created_at=at, data=event.data or {})
    make_transient_to_detached(event)
    session.add(event)
