"""Full-text search over tickets: what `q` means, as SQL over the `tickets` table.

Every ticket stores `search`, a tsvector of its title (weight A), text (B) and public
comments (C), and `note_words`, its internal notes (C); both GIN-indexed and kept by
PostgreSQL itself (a generated column and a trigger on comments, migration 0009_search),
so a search reads one table through its indexes whatever the number of tickets.

Each text is indexed twice: with the `russian` configuration (stems: "принтеры",
"принтера" → принтер; English words stemmed too) and with `simple` (every token as
written: e-mails, error codes such as 0x80070005 or E-1234, id fragments). A query is
parsed the same two ways (`websearch_to_tsquery`: quoted phrases, `or`, `-word`) and a
ticket matches either, so a word form and a verbatim token both find it. A query of
punctuation or stop words only parses to nothing and finds nothing (no error).

Ticket numbers: `#123` is that ticket only; a bare `123` is that ticket plus the
tickets whose words contain the token 123 (an error code, an amount), the ticket of
that number first when sorted by relevance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Float, case, cast, func, literal, or_
from sqlalchemy.dialects.postgresql import REGCONFIG

from ticket_service.tickets.models import Ticket

_columns = Ticket.__table__.c
_NUMBER = re.compile(r"\s*(#?)(\d{1,18})\s*")
# A query with a digit or an @ names a code, an id, an amount or an address: few tickets.
_VERBATIM = re.compile(r"[\d@]")
# The ticket asked for by its number outranks any text match (ts_rank stays far below).
_NUMBER_RANK = 1000.0


@dataclass(frozen=True)
class TextQuery:
    text: str
    # A ticket number asked for (`#123` or `123`); with `only_number` nothing else.
    number: int | None = None
    only_number: bool = False
    # Likely to match few tickets (see `Match.rare`).
    rare: bool = False


def parse(q: str) -> TextQuery:
    found = _NUMBER.fullmatch(q)
    rare = _VERBATIM.search(q) is not None
    if found is None:
        return TextQuery(q, rare=rare)
    return TextQuery(q, number=int(found.group(2)), only_number=bool(found.group(1)), rare=rare)


def _tsquery(text: str) -> ColumnElement[str]:
    def parsed(config: str) -> ColumnElement[str]:
        return func.websearch_to_tsquery(literal(config, REGCONFIG), text)

    return parsed("russian").op("||")(parsed("simple"))


@dataclass(frozen=True)
class Match:
    """`where`: the tickets a query finds; `rank`: how well (higher first), a double so
    a cursor carries it exactly."""

    where: ColumnElement[bool]
    rank: ColumnElement[float]
    # The query names a code, an id, an address: read its few matches from the GIN index
    # and sort them, never walk the newest tickets hoping to meet them. PostgreSQL guesses
    # any token outside its most common lexemes at 0.5 % of the rows; a code matching 4
    # tickets in a million was then searched by reading all of them (1.2 s).
    rare: bool = False


def match(query: TextQuery, staff: ColumnElement[bool] | None) -> Match:
    """`staff`: where the caller is the ticket's staff (tickets.access.staff_clause), who
    may find a ticket by its internal notes; None for a caller who never is."""
    by_number = _columns.number == query.number if query.number is not None else None
    if query.only_number and by_number is not None:
        return Match(by_number, cast(literal(_NUMBER_RANK), Float(53)))
    tsq = _tsquery(query.text)
    found: list[ColumnElement[bool]] = [_columns.search.bool_op("@@")(tsq)]
    rank: ColumnElement[float] = func.ts_rank(_columns.search, tsq)
    if staff is not None:
        in_notes = _columns.note_words.bool_op("@@")(tsq)
        found.append(in_notes & staff)
        rank = rank + case((staff, func.ts_rank(_columns.note_words, tsq)), else_=0.0)
    if by_number is not None:
        found.append(by_number)
        rank = rank + case((by_number, _NUMBER_RANK), else_=0.0)
    return Match(or_(*found), cast(rank, Float(53)), rare=query.rare)
