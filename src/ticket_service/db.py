"""Engine, sessions and the declarative base. The request owns the transaction: the
session is committed when the endpoint returns, or, when the request's only write is one
statement sent before anything else was written, that statement commits itself
(`write_last`) and the commit checks nothing followed it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event, func, inspect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, make_transient_to_detached, mapped_column
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm.instrumentation import manager_of_class

from ticket_service.config import Settings
from ticket_service.errors import COMMIT_DONE, COMMIT_SENT, DB_COMMIT, AppError
from ticket_service.kit import driver_sql

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.sqlalchemy_url,
        # Overflow connections are closed when returned: a pool smaller than the usual
        # concurrency churns PostgreSQL connections (a connect and a close per request).
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # No pre-ping (a SELECT 1 round trip per checkout): a dead pooled connection fails
        # on the transaction's first statement, before COMMIT, and the API replays the
        # request (ops/db_retry.py); the worker's jobs are retried by procrastinate.
        pool_timeout=2,
        # A request must not hang on a dead server: fail fast, answer 503.
        connect_args={"connect_timeout": 1},
    )


def create_sessionmaker(
    engine: AsyncEngine, settings: Settings, *, read_only: bool = False, **info: Any
) -> async_sessionmaker[AsyncSession]:
    """Sessions for the request path. `read_only`: on autocommit connections (same pool),
    so a read sends its statements and no BEGIN/COMMIT pair around them."""
    # The settings (and, in the api, the token cache) ride along with every session: what
    # a change sets off is decided deep in the domain, without threading them through
    # every call.
    bind = engine.execution_options(isolation_level="AUTOCOMMIT") if read_only else engine
    return async_sessionmaker(
        bind,
        expire_on_commit=False,
        autoflush=False,
        info={"settings": settings, **info},
        sync_session_class=ReadOnlySession if read_only else OrmSession,
    )


class ReadOnlySession(OrmSession):
    """The session of a read: a GET endpoint that writes must say so (@writes_on_get), or
    its writes would each commit alone."""


@event.listens_for(ReadOnlySession, "before_flush")
def _refuse_writes(session: OrmSession, flush_context: Any, instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a read-only request tried to write: mark it @writes_on_get")


READ_METHODS = frozenset({"GET", "HEAD"})
WRITES_ON_GET = "_ticket_service_writes_on_get"
E = TypeVar("E", bound=Callable[..., Any])


def writes_on_get(endpoint: E) -> E:
    """Mark a GET endpoint that changes data (the seed's GET forms, sign-in): it gets a
    transaction like any POST."""
    setattr(endpoint, WRITES_ON_GET, True)
    return endpoint


def _read_only(request: Request) -> bool:
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    return request.method in READ_METHODS and not getattr(endpoint, WRITES_ON_GET, False)


AFTER_COMMIT = "after_commit"
# A request's session: the request's state (db_retry's marks about COMMIT), and the psycopg
# connection its last write committed on, alone (`write_last`).
REQUEST_STATE = "request_state"
COMMITTED_ALONE = "committed_alone"
AfterCommit = Callable[[], Awaitable[None]]


def after_commit(session: AsyncSession | OrmSession, callback: AfterCommit) -> None:
    """Run `callback` once the request's transaction has committed (never if it rolls
    back): telling other processes about a change they must not see before it is true."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


def snapshot(obj: object) -> dict[str, Any]:
    """A mapped object's column values, to keep beyond its session (an in-process cache)."""
    return {attr.key: getattr(obj, attr.key) for attr in inspect(obj).mapper.column_attrs}


def revive(model: type[Any], values: dict[str, Any]) -> Any:
    """A persistent-looking copy of a `snapshot`, detached: adding it to a session costs
    no SELECT, and changes to it are flushed as usual."""
    # The values go into the instance's dict as a load puts them, not through the
    # constructor's instrumented setters (each recording a change that is then discarded):
    # a fifth of the CPU, and the same object.
    obj = manager_of_class(model).new_instance()
    obj.__dict__.update(values)
    make_transient_to_detached(obj)
    return obj


def settings_of(session: AsyncSession) -> Settings:
    settings: Settings = session.info["settings"]
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the endpoint returns, rolled back if it raises.
    A GET or HEAD reads without a transaction unless its endpoint is @writes_on_get.

    Declared with scope="function" so the commit happens before the response is sent:
    a client never sees a 2xx for a change that did not commit.
    """
    read_only = _read_only(request)
    sessionmaker: async_sessionmaker[AsyncSession] = (
        request.app.state.read_sessionmaker if read_only else request.app.state.sessionmaker
    )
    session = sessionmaker()
    state = request.scope.setdefault("state", {})
    if not read_only:
        session.info[REQUEST_STATE] = state
    try:
        yield session
    except AppError as exc:
        await (_commit(state, session) if exc.keeps_changes else _rollback(session))
        raise
    except BaseException:
        await _rollback(session)
        raise
    else:
        # A read has nothing to commit (autocommit connections, no flush): closing the
        # session gives its connection back.
        if not read_only or AFTER_COMMIT in session.info:
            await _commit(state, session)
    finally:
        await _close(session)


async def write_last(
    session: AsyncSession, statement: driver_sql.DriverStatement, values: dict[str, Any]
) -> dict[str, Any] | None:
    """Run the request's last write (the caller writes nothing after it) and return its
    first row. On a request's session with no transaction open yet (nothing written so
    far; reads run outside one, kit/driver_sql.py), it runs alone and is committed when
    it returns: no BEGIN and COMMIT round trips around one statement, which is atomic by
    itself. Otherwise (a job's session, an Idempotency-Key claimed first, a lock taken) it
    runs in the transaction, committed with the rest.

    Alone, the statement is the COMMIT as far as a replay is concerned: lost in flight,
    its outcome is unknown (errors.replay_reason). And the request's commit then checks
    that nothing wrote after it (a second write would have been a transaction of its own).
    """
    connection, driver = await driver_sql.connection_of(session)
    state = session.info.get(REQUEST_STATE)
    if state is None or not driver_sql.quiet(driver):
        return statement.mapping(await statement.run(connection, driver, values))
    state[DB_COMMIT] = COMMIT_SENT
    rows = await statement.run(connection, driver, values, alone=True)
    state[DB_COMMIT] = COMMIT_DONE
    session.info[COMMITTED_ALONE] = driver
    return statement.mapping(rows)


async def _commit(state: dict[str, Any], session: AsyncSession) -> None:
    # A connection lost while COMMIT is in flight leaves its outcome unknown: the error
    # handler must not offer such a request for replay (errors.replay_reason), nor one
    # whose changes are committed already.
    alone: driver_sql.Driver | None = session.info.get(COMMITTED_ALONE)
    if alone is None:
        state[DB_COMMIT] = COMMIT_SENT
    elif not driver_sql.outside_transaction(alone):
        # Programming error: `write_last` was not the last write; what followed it is
        # rolled back, the last write stands.
        raise RuntimeError("the request wrote after its last write (db.write_last)")
    await session.commit()
    state[DB_COMMIT] = COMMIT_DONE
    for callback in session.info.pop(AFTER_COMMIT, []):
        await callback()


async def _close(session: AsyncSession) -> None:
    """As `async with session` ends, without its cost when there is nothing to give back.
    SQLAlchemy closes in a task of its own, shielded from cancellation, through a greenlet
    (30 µs); a session with no transaction (committed, rolled back, or a read that never
    needed the database) holds no connection, and closing it is forgetting its objects."""
    if session.in_transaction():
        await session.__aexit__(None, None, None)
    else:
        session.sync_session.close()


async def _rollback(session: AsyncSession) -> None:
    session.info.pop(AFTER_COMMIT, None)
    await session.rollback()


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
