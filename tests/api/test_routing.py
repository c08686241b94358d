"""Routers answer "not mine" from their paths' literals (kit/routing.py) without changing
which route a request reaches."""

from __future__ import annotations

from fastapi.routing import iter_route_contexts

from tests.api.conftest import assert_error
from tests.factories import auth_headers


async def test_every_route_begins_with_a_literal_of_its_router(app):
    # The guard's premise: a router included with a prefix of its own would break it.
    from ticket_service.kit.routing import literals

    guarded = 0
    for top in app.router.routes:
        router = getattr(top, "original_router", None)
        if router is None:
            continue
        exact, beginnings = literals(router)
        for context in iter_route_contexts([top]):
            path = context.path_format
            assert path in exact or path.startswith(beginnings), path
            guarded += 1
    assert guarded > 80  # every API and web route


async def test_requests_reach_the_routes_listed_last_and_foreign_paths_are_404(app, client):
    # /health and the web UI come after every API router; /api/v1/me after most of them.
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    me = await client.get("/api/v1/me", headers=await auth_headers(app, "1001"))
    assert me.status_code == 200
    page = await client.get("/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert_error(await client.get("/api/v1/no-such-thing"), 404, "not_found")
    # A path one router knows with another method: 405 naming the methods it has.
    wrong = await client.put("/api/v1/me")
    assert_error(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET"


def test_guarding_a_router_again_changes_nothing():
    # Routers are module-level objects, guarded by every create_app: a thousand apps in
    # one process (the test suite) must not stack a thousand wrappers (RecursionError).
    from fastapi import APIRouter

    from ticket_service.kit.routing import skip_foreign_paths

    router = APIRouter()

    @router.get("/things/{n}")
    async def thing(n: int) -> int:
        return n

    scope = {"type": "http", "path": "/things/1", "method": "GET", "root_path": ""}
    unguarded = router.matches(scope)
    skip_foreign_paths(router)
    once = router.matches
    for _ in range(3000):
        skip_foreign_paths(router)
    assert router.matches is once
    assert router.matches(scope) == unguarded  # its own paths: as before
    assert router.matches({**scope, "path": "/other"})[0].name == "NONE"
