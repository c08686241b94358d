from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ticket_service.auth.dependencies import CurrentUser
from ticket_service.errors import Forbidden
from ticket_service.users.models import User


async def staff_user(user: CurrentUser) -> User:
    if not user.role_enum.is_staff:
        raise Forbidden("Only agents and admins may do this", code="staff_only")
    return user


StaffUser = Annotated[User, Depends(staff_user)]
