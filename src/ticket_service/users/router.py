from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ticket_service.auth.dependencies import AdminUser, CurrentUser
from ticket_service.db import Session
from ticket_service.errors import responses
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.users import service
from ticket_service.users.schemas import RoleChange, UserOut, user_out

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get("/me", summary="Who am I", responses=responses(401))
async def me(
    user: CurrentUser, action: Annotated[ActionRecord, Depends(Action("get_me"))]
) -> UserOut:
    return user_out(user)


@router.put(
    "/users/{discord_id}/role",
    summary="Set a user's role (admin)",
    responses=responses(400, 401, 403, 404, 422),
)
async def set_role(
    action: Annotated[ActionRecord, Depends(Action("set_role"))],
    discord_id: Annotated[str, Path(max_length=32, pattern=r"^\d+$")],
    body: RoleChange,
    admin: AdminUser,
    session: Session,
) -> UserOut:
    """Make a user an employee, agent or admin. A role set here sticks: Discord roles no
    longer change it at sign-in (bootstrap admins stay admins)."""
    action.set_params({"discord_id": discord_id, "role": body.role.value})
    return user_out(await service.set_role(session, discord_id, body.role))


@router.delete(
    "/users/{discord_id}/sessions",
    status_code=204,
    summary="Sign a user out everywhere (admin)",
    responses=responses(401, 403, 404, 422),
)
async def revoke_sessions(
    action: Annotated[ActionRecord, Depends(Action("revoke_sessions"))],
    discord_id: Annotated[str, Path(max_length=32, pattern=r"^\d+$")],
    admin: AdminUser,
    session: Session,
) -> Response:
    """Revoke every session of the person: their access tokens stop working at their next
    request and their refresh tokens are refused. Signing in with Discord again works (if
    they may): take their role away, or remove them from the guild, to keep them out."""
    action.set_params({"discord_id": discord_id})
    await service.revoke_sessions(session, discord_id)
    return Response(status_code=204)
