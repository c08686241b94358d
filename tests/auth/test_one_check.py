"""The token check is one dependency: an endpoint asking for the session and the person
gets the one person the token names, checked once (auth/dependencies.py)."""

from __future__ import annotations

from tests.api.conftest import assert_error
from tests.factories import auth_headers
from ticket_service.auth.dependencies import AdminUser, CurrentSession, CurrentUser
from ticket_service.users.models import Role


async def test_session_and_person_of_one_request_are_one_check(app, client):
    async def both(auth_session: CurrentSession, user: CurrentUser) -> dict[str, object]:
        return {"same": auth_session.user is user, "discord_id": user.discord_id}

    app.add_api_route("/api/v1/test-one-check", both, methods=["GET"])
    headers = await auth_headers(app, "1001")
    answer = await client.get("/api/v1/test-one-check", headers=headers)
    assert answer.json() == {"same": True, "discord_id": "1001"}
    assert_error(await client.get("/api/v1/test-one-check"), 401, "missing_token")


async def test_admins_only_after_the_check(app, client):
    async def admins(user: AdminUser) -> dict[str, str]:
        return {"discord_id": user.discord_id}

    app.add_api_route("/api/v1/test-admins", admins, methods=["GET"])
    employee = await auth_headers(app, "1001")
    admin = await auth_headers(app, "3001", Role.admin)
    assert_error(await client.get("/api/v1/test-admins", headers=employee), 403, "admins_only")
    answer = await client.get(
        "/api/v1/test-admins", headers={"access_token": admin["Authorization"][7:]}
    )
    assert answer.json() == {"discord_id": "3001"}
