"""create_app(): lifespan, middleware, error handlers, routers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import ticket_service.sla.metrics  # noqa: F401 - adds the SLA gauges to /metrics
from ticket_service.actions.router import router as actions_router
from ticket_service.assignment.router import router as assignment_router
from ticket_service.auth.discord import DiscordClient
from ticket_service.auth.router import router as auth_router
from ticket_service.auth.token_cache import SESSION_KEY as TOKEN_CACHE
from ticket_service.auth.token_cache import TokenCache
from ticket_service.catalog.cache import SESSION_KEY as CATALOG_CACHE
from ticket_service.catalog.cache import ServiceCache
from ticket_service.catalog.router import router as catalog_router
from ticket_service.config import Settings, get_settings
from ticket_service.conversation.router import router as conversation_router
from ticket_service.db import create_engine, create_sessionmaker
from ticket_service.errors import install_error_handlers
from ticket_service.integrations.discord.router import router as discord_router
from ticket_service.kit import crypto
from ticket_service.kit.heap import freeze_heap
from ticket_service.kit.routing import skip_foreign_paths
from ticket_service.notifications.router import router as notifications_router
from ticket_service.ops.action_log import ActionLogWriter
from ticket_service.ops.db_retry import DbRetryMiddleware
from ticket_service.ops.edge import EdgeMiddleware
from ticket_service.ops.health import router as health_router
from ticket_service.ops.logging import SERVER_PROCESS, configure_logging
from ticket_service.ops.metrics import install_metrics
from ticket_service.ops.tracing import configure_tracing
from ticket_service.ratings.router import router as ratings_router
from ticket_service.redis import create_redis
from ticket_service.sla.router import router as sla_router
from ticket_service.stats.router import router as stats_router
from ticket_service.tickets.compat import router as seed_router
from ticket_service.tickets.router import router as tickets_router
from ticket_service.users.router import router as users_router
from ticket_service.web import install_web

DESCRIPTION = """
Employee requests ("заявки") of 1440.test: sign in with Discord, open a request to an
internal service (IT, HR, office, ...), follow it as agents work and close it.

**Auth**: get a link from `GET /api/discord/auth_link`, finish at `GET /api/discord/auth`,
then send the access token as `Authorization: Bearer <token>` (or the seed's
`access_token: <token>` header).

**Two API styles** over the same rules: the seed paths under `/api/tickets/*` answer
`{"response": ...}`; the v1 API under `/api/v1/*` answers resources directly.
Every response carries `X-Action-Id`: the `guid_action` whose record lives at Redis key
`logs:actions:<guid_action>`. Errors are always `{"error": {"code", "message", "details"}}`.

**Asynchronous requests**: send `Prefer: respond-async` to `POST /api/tickets/open`,
`POST /api/tickets/change_status` or `POST /api/v1/tickets` to get 202 at once and follow
`Location: /api/v1/actions/{guid_action}`. **Notifications** (e-mail, Slack, Discord,
webhooks) go out from the worker for every ticket event. **Rate limits** (per token, per
client IP without one, per client IP on sign-in and after repeated 401s to tokens) answer
429 with `Retry-After` and `RateLimit-*` headers; `/health/*` and `/metrics` are not limited.

**Safe concurrent edits**: ticket resources carry an `ETag` (the version, quoted); send it
as `If-Match` on a status change, claim or assignment (412 when stale), or as
`If-None-Match` on `GET /api/v1/tickets/{guid}` (304). Comments carry their own tag.
**Idempotency-Key** on the requests that create something: a repeat within 24 h answers the
first response again (`Idempotent-Replayed: true`); another request with the key: 422.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    serving = bool(os.environ.get(SERVER_PROCESS))
    if serving:
        configure_logging(settings.log_format == "json", settings.log_level)
    tracing = configure_tracing(settings, "ticket-service-api")  # a no-op unless configured
    crypto.configure(settings.data_key_list, settings.secret_key.get_secret_value())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        tracing.instrument_engine(engine)
        app.state.engine = engine
        app.state.redis = create_redis(settings)
        app.state.action_log = ActionLogWriter(
            app.state.redis, settings.action_log_ttl_days * 86400
        )
        app.state.token_cache = TokenCache(settings.auth_cache_seconds, app.state.redis)
        caches = {
            TOKEN_CACHE: app.state.token_cache,
            CATALOG_CACHE: ServiceCache(settings.catalog_cache_seconds),
        }
        app.state.sessionmaker = create_sessionmaker(engine, settings, **caches)
        app.state.read_sessionmaker = create_sessionmaker(
            engine, settings, read_only=True, **caches
        )
        app.state.token_cache.start()
        app.state.discord = DiscordClient(settings)
        if serving:
            freeze_heap()
        try:
            yield
        finally:
            await app.state.token_cache.stop()
            await app.state.discord.aclose()
            await app.state.redis.aclose()
            await engine.dispose()
            tracing.shutdown()  # sends the spans still queued

    app = FastAPI(
        title="ticket-service",
        version="1.0.0",
        summary="Employee request service of 1440.test",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    tracing.instrument_app(app)
    install_error_handlers(app)
    # Two layers: the edge (ids, security headers, rate limit, body limit, metrics, logs;
    # ops/edge.py) and, inside it, the replay of a transaction that failed transiently.
    app.add_middleware(DbRetryMiddleware, attempts=settings.db_retry_attempts)
    app.add_middleware(EdgeMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "access_token",
                "Content-Type",
                "Prefer",
                "X-Request-ID",
                "If-Match",
                "If-None-Match",
                "Idempotency-Key",
            ],
            expose_headers=[
                "X-Action-Id",
                "X-Request-ID",
                "Location",
                "ETag",
                "Idempotent-Replayed",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
        )
    for router in (
        auth_router,
        discord_router,
        seed_router,
        tickets_router,
        conversation_router,
        ratings_router,
        stats_router,
        actions_router,
        users_router,
        catalog_router,
        assignment_router,
        sla_router,
        notifications_router,
        health_router,
    ):
        skip_foreign_paths(router)
        app.include_router(router)
    install_web(app)
    install_metrics(app, settings)
    return app
