"""A ticket's change and its events in ONE statement, instead of a unit-of-work flush.

Opening a ticket or moving it flushed the ticket's INSERT or UPDATE and then each event's
INSERT: a round trip each, and the ORM's flush bookkeeping cost more CPU than the rest of
the request's domain work (`make bench-cpu`: 1.5 ms of an open's 4.2). Here the events go
in a data-modifying CTE of the ticket's own statement, which returns the ticket's row; the
entities are then marked as written, exactly as a flush leaves them (persistent, no
pending history, the server's values loaded). PostgreSQL checks the events' foreign key at
the end of the statement, so a new ticket and its first event can go together.

Only the common shape takes this path: the ticket (new, or loaded and changed in its
columns or its assignee) and its staged events, with nothing else waiting in the session.
Anything else (a comment, a follower, a changed service) is left to the ORM's flush, which
writes the same rows.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

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
# The relationships a change may touch without a flush: the assignee, through its key.
_RELATIONSHIP_KEYS = {"assignee": "assignee_id"}
_EVENT_KEYS = ("kind", "actor_id", "from_status", "to_status", "guid_action", "data")


async def write_together(
    session: AsyncSession, ticket: Ticket, events: Sequence[TicketEvent]
) -> bool:
    """Write the ticket's pending change and `events` (staged with `stage_event`) in one
    statement; False (nothing written) when the session holds more than that, for the
    caller to flush instead. A stale version raises StaleDataError, as a flush does."""
    state: InstanceState[Ticket] = inspect(ticket)
    own = {ticket, *events}
    if any(obj not in own for obj in session.new) or any(obj not in own for obj in session.dirty):
        return False
    if any(inspect(event).key is not None for event in events):
        return False  # an event written already: not a staged one
    if state.pending:
        changed = _new_values(state)
    elif state.persistent:
        found = _changed_values(state)
        if found is None:
            return False
        changed = found
    else:
        return False
    params = {f"v_{key}": value for key, value in changed.items()}
    for i, event in enumerate(events):
        params.update(_event_params(i, ticket, event))
    if changed:
        if state.persistent:
            params.update(t_id=ticket.id, t_version=state.dict["version"])
        statement = _statement(state.pending, tuple(sorted(changed)), len(events))
    elif events:
        # Events alone (a comment's, a note's) leave the ticket's row and version as they are.
        statement = _events_statement(len(events))
    else:
        return True  # nothing to write
    row = (await session.execute(statement, params)).one_or_none()
    if row is None:
        raise StaleDataError(f"ticket {ticket.id} changed since it was read")
    fields = row._mapping
    if changed:
        _mark_written(session, state, fields)
    for i, event in enumerate(events):
        _mark_event_written(
            session, ticket, event, fields[f"event_{i}_id"], fields[f"event_{i}_at"]
        )
    return True


@functools.lru_cache(maxsize=128)
def _statement(new: bool, keys: tuple[str, ...], events: int) -> Any:
    """The statement for a new ticket (`new`) or a change of `keys`, with `events` events;
    built once per shape (building one cost more CPU than running it)."""
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
    ticket = written.returning(*_TICKET_COLUMNS.values()).cte("ticket")
    returned: list[Any] = [
        ticket.c[column.name].label(key) for key, column in _TICKET_COLUMNS.items()
    ]
    event_columns, event_ctes = _event_chain(events, ticket)
    return select(*returned, *event_columns).select_from(ticket).add_cte(ticket, *event_ctes)


@functools.lru_cache(maxsize=8)
def _events_statement(events: int) -> Any:
    """Only `events` events, the ticket unchanged."""
    event_columns, event_ctes = _event_chain(events, None)
    return select(*event_columns).add_cte(*event_ctes)


def _event_chain(events: int, ticket: Any) -> tuple[list[Any], list[Any]]:
    """One CTE per event (a multi-row VALUES would not be cached as a compiled statement),
    each reading the one before (the first reads the ticket's change, if any): an event is
    written only with its ticket's change (none on a stale version), and the ids are drawn
    in the order the events were staged. Returns the id and time columns, and the CTEs."""
    columns: list[Any] = []
    ctes: list[Any] = []
    previous = ticket
    fields = ("ticket_id", *_EVENT_KEYS)
    for i in range(events):
        row = [bindparam(f"e{i}_{key}", type_=_EVENTS.c[key].type) for key in fields]
        written = (
            insert(_EVENTS).values(dict(zip(fields, row, strict=True)))
            if previous is None
            else insert(_EVENTS).from_select(fields, select(*row).select_from(previous))
        )
        event = written.returning(_EVENTS.c.id, _EVENTS.c.created_at).cte(f"event_{i}")
        columns += [
            select(event.c.id).scalar_subquery().label(f"event_{i}_id"),
            select(event.c.created_at).scalar_subquery().label(f"event_{i}_at"),
        ]
        ctes.append(event)
        previous = event
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
    if "version" in values:
        return None  # set by hand: not ours to bump
    return values


def _mark_written(session: AsyncSession, state: InstanceState[Ticket], fields: Any) -> None:
    """Leave the ticket as a flush would: its row's values loaded, no pending change."""
    ticket = state.obj()
    for relation in _RELATIONSHIP_KEYS:
        if relation in state.committed_state:
            set_committed_value(ticket, relation, state.dict.get(relation))
    for key in _TICKET_COLUMNS:
        set_committed_value(ticket, key, fields[key])
    if state.pending:
        session.expunge(ticket)
        make_transient_to_detached(ticket)
        session.add(ticket)
    else:
        # What a flush does after its UPDATE (SQLAlchemy has no public call for it): the
        # ticket is clean, so the commit's flush finds nothing of it to write.
        state._commit_all(state.dict, session.sync_session.identity_map)


def _event_params(i: int, ticket: Ticket, event: TicketEvent) -> dict[str, Any]:
    params = {f"e{i}_{key}": getattr(event, key) for key in _EVENT_KEYS}
    params[f"e{i}_ticket_id"] = ticket.id
    if params[f"e{i}_data"] is None:
        params[f"e{i}_data"] = {}
    return params


def _mark_event_written(
    session: AsyncSession, ticket: Ticket, event: TicketEvent, event_id: int, at: Any
) -> None:
    session.expunge(event)
    set_committed_value(event, "id", event_id)
    set_committed_value(event, "ticket_id", ticket.id)
    set_committed_value(event, "created_at", at)
    set_committed_value(event, "data", event.data or {})
    make_transient_to_detached(event)
    session.add(event)
