from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ticket_service.notifications.service import Notifier


async def _notifier(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


NotifierDep = Annotated[Notifier, Depends(_notifier)]
