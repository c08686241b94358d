"""A Core statement compiled once and run on the session's own psycopg connection: a
change's read of its ticket and its write (tickets.repository, events.write), and a
list's page (compiled once per shape of filters, `by_shape`).

For these statements, the hot path's, SQLAlchemy's work around each execution cost
more CPU than psycopg's: an execution context, the greenlet hop, and the result's
metadata, which reads `cursor.description` on every execution even when it is cached
(psycopg then builds a Column object per column: 88 for a ticket with its people).
Measured on one read of a ticket to change (`make bench-cpu`'s seed, CPU per read with
its checkout and commit): 0.72–0.78 ms through the ORM, 0.58–0.66 as Core through the
session's connection, 0.42–0.46 on its psycopg connection. A list's page of 20 rows
also skips SQLAlchemy's processing of each row: `make bench-cpu` list 3.2–3.7 → 2.6–2.7 ms.

The statement is still built with SQLAlchemy (the same visibility rule, the same column
types); only its execution is psycopg's. It runs in the session's transaction, the
columns' result types still apply (an encrypted column comes back decrypted), and an
error comes out as SQLAlchemy's, with a broken connection invalidated first: the error
handlers (errors.py) and the replay of a request whose connection broke
(ops/db_retry.py) see what they always saw. In a traced request (ops/tracing.py) it is a
span of its own, as the SQLAlchemy instrumentation makes of every other statement.

Outside a transaction. A read run before the session has opened its transaction runs
outside one (psycopg's autocommit, for that statement): the BEGIN psycopg would send
first is a round trip, and at READ COMMITTED a transaction's first statement sees no more
than a statement of its own. Whatever runs after it through SQLAlchemy opens the
transaction as usual. A write runs outside a transaction only when asked (`alone`): it is
then committed when it returns, which only the request's last write may be
(`db.write_last`).
"""

from __future__ import annotations

import select
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NoReturn
from weakref import WeakKeyDictionary

import psycopg
from opentelemetry import trace
from sqlalchemy import Float
from sqlalchemy.dialects.postgresql.psycopg import PGDialectAsync_psycopg
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.cache_key import CacheKey

# The application's one driver (ARCHITECTURE.md): postgresql+psycopg, async.
_DIALECT = PGDialectAsync_psycopg()  # type: ignore[no-untyped-call]
_TRACER = trace.get_tracer(__name__)
# Who is told of each statement run here, by engine: what SQLAlchemy's
# `before_cursor_execute` event tells of the engine's own (tests count round trips).
Observer = Callable[[str, Mapping[str, Any]], None]
_OBSERVERS: WeakKeyDictionary[Engine, list[Observer]] = WeakKeyDictionary()


def observe(engine: Engine, observer: Observer) -> None:
    """Call `observer` with the SQL and the parameters (psycopg's) of every statement run
    here on `engine` from now on."""
    _OBSERVERS.setdefault(engine, []).append(observer)


Driver = psycopg.AsyncConnection[Any]
_IDLE = psycopg.pq.TransactionStatus.IDLE
_HELD = "driver_sql_connection"  # session.info: the connection of its transaction


async def connection_of(session: AsyncSession) -> tuple[AsyncConnection, Driver]:
    """The session's connection (checked out, the session's transaction begun) and its
    psycopg connection. Kept for the session's transaction: asking SQLAlchemy again is
    two greenlet hops (`connection()`, `get_raw_connection()`) for the same answer."""
    transaction = session.sync_session.get_transaction()
    held = session.info.get(_HELD)
    if held is not None and held[0] is transaction and transaction and transaction.is_active:
        return held[1], held[2]
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # noqa: S101 - the session's connection is open
    session.info[_HELD] = (session.sync_session.get_transaction(), connection, driver)
    return connection, driver


def outside_transaction(driver: Driver) -> bool:
    """Whether psycopg would send a BEGIN before the next statement: no transaction open
    (nothing written yet on this connection in the session) and not in autocommit."""
    return driver.info.transaction_status == _IDLE and not driver.autocommit


def quiet(driver: Driver) -> bool:
    """`outside_transaction`, and the server has said nothing since: an idle connection
    the server closed (a restart, a terminated backend) has its farewell or its EOF to
    read. Such a connection must fail on a statement whose failure is known to have
    written nothing, so that the request is replayed (ops/db_retry.py), not on one that
    commits itself. One non-blocking poll of the socket."""
    if not outside_transaction(driver):
        return False
    poller = select.poll()  # not select(): a descriptor may be numbered past 1024
    poller.register(driver.pgconn.socket, select.POLLIN)
    return not poller.poll(0)


class DriverStatement:
    """`statement` compiled for psycopg, with its parameters' and columns' type
    processing; `fetch_one`, `fetch_mapping` and `fetch_all` run it. A column whose
    processing depends on the server's type for it (Numeric other than a float) is refused
    when compiling. `writes`: it changes data (never run outside the transaction unless
    asked, `alone`)."""

    def __init__(
        self, statement: Select[Any], cache_key: CacheKey | None = None, *, writes: bool = False
    ) -> None:
        self.writes = writes
        # With its cache key, the compiled statement takes the values of another of the
        # same shape (`by_shape`).
        compiled = statement.compile(dialect=_DIALECT, cache_key=cache_key)
        self.compiled = compiled
        self.sql = str(compiled)
        # Values SQLAlchemy renders into the SQL itself at each run (`literal_execute`: a
        # literal that proves a partial index's predicate), or expands (IN).
        self._late = bool(compiled.literal_execute_params or compiled.post_compile_params)
        # The result's column names, in order (a label's, or the column's).
        self.keys = tuple(str(column.key) for column in statement.selected_columns)
        # The values the statement carries itself (literals SQLAlchemy made parameters);
        # the caller's named parameters are filled in on each run.
        self.fixed: dict[str, Any] = {
            name: value for name, value in compiled.params.items() if value is not None
        }
        self._binds: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
            if process is not None:
                self._binds[name] = process
        self._named: Any = None  # fetch_all's row class, made on first use
        self._results: list[tuple[int, Callable[[Any], Any]]] = []
        for i, column in enumerate(statement.selected_columns):
            if isinstance(column.type, Float) and not column.type.asdecimal:
                # psycopg returns a float, as SQLAlchemy would make it; its processor
                # would ask which server type the column has, known only from a result.
                continue
            process = column.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None)
            if process is not None:
                self._results.append((i, process))

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        params = {**self.fixed, **values}
        for name, process in self._binds.items():
            if name in params:
                params[name] = process(params[name])
        return params

    def row(self, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        if not self._results:
            return raw
        values = list(raw)
        for i, process in self._results:
            values[i] = process(values[i])
        return tuple(values)

    def mapping(self, rows: list[Any]) -> dict[str, Any] | None:
        """The first of `run`'s rows by column name (None: no row)."""
        return dict(zip(self.keys, self.row(rows[0]), strict=True)) if rows else None

    async def fetch_one(
        self, session: AsyncSession, values: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """The first row (None: no row), in the session's transaction (a read before it
        has one: outside it)."""
        rows = await self.run(*await connection_of(session), values)
        return self.row(rows[0]) if rows else None

    async def fetch_mapping(
        self, session: AsyncSession, values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The first row by column name (None: no row), as `fetch_one`."""
        return self.mapping(await self.run(*await connection_of(session), values))

    async def fetch_all(self, session: AsyncSession, values: Mapping[str, Any]) -> list[Any]:
        """Every row, with its columns as attributes (the statement's column names must be
        distinct), as `fetch_one`."""
        if self._named is None:
            self._named = namedtuple("Row", self.keys)  # type: ignore[misc]
        make = self._named._make
        rows = await self.run(*await connection_of(session), values)
        return [make(self.row(raw)) for raw in rows]

    async def run(
        self,
        connection: AsyncConnection,
        driver: Driver,
        values: Mapping[str, Any],
        *,
        alone: bool = False,
    ) -> list[Any]:
        """The raw rows (`row` processes one). A read before the session's transaction
        runs outside it; a write too with `alone`, and is then committed when it returns.
        """
        sql = self.sql
        if self._late:
            late = self.compiled.construct_expanded_state({**self.fixed, **values})
            sql, values = late.statement, late.parameters
        params = self.params(values)
        if _OBSERVERS:
            for observer in _OBSERVERS.get(connection.sync_engine, ()):
                observer(sql, params)
        outside = (alone or not self.writes) and outside_transaction(driver)
        try:
            if outside:
                await driver.set_autocommit(True)
            try:
                with _span(driver, sql):
                    rows: list[Any] = await (await driver.execute(sql, params)).fetchall()
            finally:
                # A connection that broke has no transaction status to leave, and is
                # invalidated below.
                if outside and driver.info.transaction_status == _IDLE:
                    await driver.set_autocommit(False)
        except psycopg.Error as error:
            await _raise_as_sqlalchemy(connection, sql, params, error)
        return rows


def _span(driver: Driver, sql: str) -> AbstractContextManager[Any]:
    """A client span for the statement in a traced request (none otherwise), as the
    SQLAlchemy instrumentation makes of every other statement."""
    if not trace.get_current_span().is_recording():
        return nullcontext()
    database = driver.info.dbname
    name = f"{sql.split(maxsplit=1)[0]} {database}"
    attributes = {"db.system": "postgresql", "db.name": database, "db.statement": sql}
    return _TRACER.start_as_current_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)


# Statements compiled by shape (SQLAlchemy's cache key: the statement without its values),
# for statements built per request (a list's filters and cursor): 1.3 ms to compile a
# list's, against its run's few tenths.
SHAPES = 256
_shapes: OrderedDict[Any, DriverStatement] = OrderedDict()


def by_shape(
    statement: Select[Any], values: Mapping[str, Any]
) -> tuple[DriverStatement, Mapping[str, Any]]:
    """`statement` as a DriverStatement compiled once for its shape, and the values of
    this one's parameters with `values` (those it leaves to the caller), as SQLAlchemy's
    own compiled cache does it."""
    key = statement._generate_cache_key()  # memoized on the statement
    assert key is not None  # noqa: S101 - a Select always has one
    found = _shapes.get(key.key)
    if found is None:
        found = _shapes[key.key] = DriverStatement(statement, key)
        if len(_shapes) > SHAPES:
            _shapes.popitem(last=False)
    else:
        _shapes.move_to_end(key.key)
    return found, found.compiled.construct_params(values, extracted_parameters=key.bindparams)


async def _raise_as_sqlalchemy(
    connection: AsyncConnection, sql: str, params: dict[str, Any], error: psycopg.Error
) -> NoReturn:
    """Raise what SQLAlchemy raises for a driver error in its own execute, by its own
    handling (a private method; SQLAlchemy is pinned): the DBAPIError subclass matching
    the driver's, the `handle_error` events, and on a lost connection the connection
    invalidated with every other the pool held before it (a restarted server's), so the
    request's replay gets a fresh one."""

    def handle(sync: Connection) -> None:
        sync._handle_dbapi_exception(error, sql, params, None, None)

    await connection.run_sync(handle)
    raise AssertionError("unreachable: SQLAlchemy's handler raises")  # pragma: no cover
