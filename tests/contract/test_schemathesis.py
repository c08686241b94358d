"""The API keeps its own published contract, checked by schemathesis against /openapi.json.

Every operation in the document gets generated requests (its examples, boundary values of
every parameter, unexpected methods, then random valid and invalid inputs), sent in-process
to an app on the session's PostgreSQL and Redis, as an admin (the caller who may reach
every operation). A response fails the test when it is a 5xx, carries a status the operation
does not document, a body or content type other than documented, misses documented headers,
or accepts what the schema forbids (e.g. `{"discord": 0}` for a boolean).

No operation is excluded: sign-in (`/api/discord/auth`) is fuzzed too; a generated `state`
is never one we handed out, so it answers 401/422 without reaching Discord. Routes kept out
of the document (`/metrics`, `/openapi.json`, `/docs`, `/redoc`) are not fuzzed; the
authorization matrix covers every route, those included.

The big run has the rate limits off (the suite's default). A second, smaller run turns them
on with a budget of one request a minute, so every operation's 429 is produced and checked
against the document too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import make_settings
from tests.factories import auth_headers
from ticket_service.config import Settings
from ticket_service.main import create_app
from ticket_service.ops.rate_limit import exempt
from ticket_service.users.models import Role

# Generated requests per operation in the random phase, on top of the examples and the
# boundary values (about 2,000 requests in all; ~50 s on two cores, more under --cov).
MAX_EXAMPLES = 25

# Checks left out, with the reason; every other check schemathesis runs by default stays on.
EXCLUDED_CHECKS = [
    # "Schema-valid input must be accepted" cannot hold for rules no schema expresses: a
    # service slug nobody created, a cursor we never handed out, a name of blanks, a status
    # outside the workflow (the seed contract answers those 400/422 on purpose).
    positive_data_acceptance,
    # Replays every 2xx without and with a forged token (three requests for one). Who may
    # call what, anonymous included, is asserted cell by cell in test_authorization_matrix.
    ignored_auth,
]


class AppUnderTest:
    """The ASGI app schemathesis sends to. The schema is loaded at import, before the test
    servers exist; each test points this at an app on that test's database and Redis."""

    target: FastAPI | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.target is not None, "use the `app_under_test` fixture"
        await self.target(scope, receive, send)


APP = AppUnderTest()
# The document only: create_app builds it without touching PostgreSQL, Redis or Discord.
_NOWHERE = make_settings(
    "postgresql://nobody@127.0.0.1:9/none", "redis://127.0.0.1:9/0", "http://127.0.0.1:9"
)
SPEC = create_app(_NOWHERE).openapi()
# schemathesis' statuses that reject invalid input, plus 413: an invalid body over
# MAX_BODY_BYTES is refused before anything parses it. Which cases are generated also
# depends on literals found in the app's modules, so an oversized one comes and goes.
NEGATIVE_DATA_STATUSES = [
    *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"),
    "5xx",
]
schema = schemathesis.openapi.from_dict(
    SPEC,
    config=SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": NEGATIVE_DATA_STATUSES}}}
    ),
)
schema.app = APP


def _array_query_parameters(spec: dict[str, Any]) -> set[str]:
    names = set()
    for item in spec["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                options = parameter["schema"].get("anyOf", [parameter["schema"]])
                if parameter["in"] == "query" and any(o.get("type") == "array" for o in options):
                    names.add(parameter["name"])
    return names


ARRAY_QUERY_PARAMETERS = _array_query_parameters(SPEC)


@schema.hook
def filter_query(context: schemathesis.HookContext, query: dict[str, Any] | None) -> bool:
    """Drop a scalar query parameter repeated (`?q=a&q=b`): like most frameworks FastAPI
    reads the last one, which we do not count as accepting invalid input."""
    return not any(
        isinstance(value, list) and name not in ARRAY_QUERY_PARAMETERS
        for name, value in (query or {}).items()
    )


@pytest.fixture
async def admin_headers(app: FastAPI) -> dict[str, str]:
    return await auth_headers(app, "9001", Role.admin)


def _serve(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    # The contract checked is the one this very app serves, whatever its settings.
    assert application.openapi() == SPEC
    APP.target = application
    yield application
    shutdown_lifespans()  # schemathesis started its lifespan: close its pools now
    APP.target = None


@pytest.fixture
def app_under_test(settings: Settings) -> Iterator[FastAPI]:
    yield from _serve(settings)


@pytest.fixture
def rate_limited_app_under_test(settings: Settings) -> Iterator[FastAPI]:
    # A generous Redis timeout: the limiter lets a request through when Redis is slow (by
    # design), and a CI machine busy with the rest of the suite must not look like that.
    limited = settings.model_copy(
        update={
            "rate_limit_per_minute": 1,
            "auth_rate_limit_per_minute": 1,
            "redis_timeout_seconds": 5.0,
        }
    )
    yield from _serve(limited)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    # The same cases every run: a failure in `make test` is one anybody can reproduce.
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_keeps_its_contract(
    case: schemathesis.Case, app_under_test: FastAPI, admin_headers: dict[str, str]
) -> None:
    case.call_and_validate(headers=admin_headers, excluded_checks=EXCLUDED_CHECKS)


# The rate-limited run: fewer generated requests (each case is sent twice), and only the
# checks about what a response looks like. Which input is accepted or rejected is the big
# run's business: here the limiter answers before any route reads the input.
RATE_LIMITED_EXAMPLES = 5
CONFORMANCE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# The document's examples and a few random cases per operation, without the coverage phase
# (its hundreds of boundary values all meet the same limiter). /health/* is never limited:
# test_every_limited_operation_documents_429 holds it to that.
LIMITED = schemathesis.openapi.from_dict(
    SPEC, config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
).exclude(func=lambda ctx: exempt(ctx.operation.path))
LIMITED.app = APP


@LIMITED.parametrize()
@settings(
    max_examples=RATE_LIMITED_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_rate_limited_answers_keep_the_contract(
    case: schemathesis.Case,
    rate_limited_app_under_test: FastAPI,
    admin_headers: dict[str, str],
) -> None:
    # A budget of one a minute (per token; per address on sign-in): the first call spends
    # it, or finds it spent by an earlier case; the second is refused either way.
    case.call(headers=admin_headers)
    response = case.call(headers=admin_headers)
    assert response.status_code == 429, response.text
    case.validate_response(response, checks=CONFORMANCE_CHECKS, headers=admin_headers)


def test_every_limited_operation_documents_429() -> None:
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            documented = operation["responses"].get("429")
            if exempt(path):
                assert documented is None, f"{method} {path} is never limited"
                continue
            assert documented is not None, f"{method} {path} does not document its 429"
            assert documented["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorResponse"
            }
            assert set(documented["headers"]) == {
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            }
