"""A router that says "not mine" from its paths' literal beginnings.

FastAPI (0.165) finds a request's route by asking every included router, in order, to
try each of its routes in turn, at 2–3 µs a route: `/api/v1/me` was matched after some
fifty others (~0.1 ms), `/health/live` and the web pages after all of them (0.3 ms).
Every route's path begins with a literal (its template up to the first `{`), and no path
that does not begin with one of a router's literals can match any of its routes, fully
or partially (a wrong method). `skip_foreign_paths` lets a router answer such a path at
once; the order of the routers, and so which route wins, is unchanged.

The literals are a route's own path as the router holds it: a router included with a
prefix of its own (`include_router(r, prefix=...)`) must not be guarded
(tests/api/test_routing.py holds every route of the app to its router's literals).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

Matcher = Callable[[Scope], tuple[Match, Scope]]


def literals(router: APIRouter) -> tuple[frozenset[str], tuple[str, ...]]:
    """The exact paths of a router's routes without parameters, and the literal beginnings
    of those with parameters."""
    exact: set[str] = set()
    beginnings: set[str] = set()
    for route in router.routes:
        path: str = getattr(route, "path", "")
        head, brace, _ = path.partition("{")
        if brace:
            beginnings.add(head)
        else:
            exact.add(path)
    return frozenset(exact), tuple(sorted(beginnings))


# Marks a router already guarded. Routers are module-level objects and every create_app
# (each test builds one) guards them again: wrapping a wrapper each time, a thousand apps
# made `matches` a chain too deep to call.
_GUARDED = "_ticket_service_skips_foreign_paths"


def skip_foreign_paths(router: APIRouter) -> None:
    """Make `router.matches` answer NONE at once for a path none of its routes can match.
    Guarding a router twice changes nothing."""
    if getattr(router, _GUARDED, False):
        return
    original: Matcher = router.matches
    known = -1
    exact: frozenset[str] = frozenset()
    beginnings: tuple[str, ...] = ()

    def matches(scope: Scope) -> tuple[Match, Scope]:
        nonlocal known, exact, beginnings
        if known != len(router.routes):  # routes added since (tests do): look again
            exact, beginnings = literals(router)
            known = len(router.routes)
        path = get_route_path(scope)  # what Starlette's routes match against
        if path in exact or path.startswith(beginnings):
            return original(scope)
        return Match.NONE, {}

    guarded: Any = router
    guarded.matches = matches
    setattr(guarded, _GUARDED, True)
