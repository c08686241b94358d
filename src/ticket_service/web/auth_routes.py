"""Browser sign-in with Discord, demo sign-in (development), sign-out, language switch.

The OAuth `state` is the API's (single use, stored hashed, auth/service.py) and is also
kept in a cookie: a callback whose state is not this browser's own is refused, so nobody
can sign a victim's browser into the attacker's account with a link.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ticket_service.auth import service as auth_service
from ticket_service.auth import tokens
from ticket_service.auth.discord import DiscordClient
from ticket_service.auth.service import InvalidState
from ticket_service.db import Session, writes_on_get
from ticket_service.errors import NotFound
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.users.models import Role
from ticket_service.vocabulary import LOCALES
from ticket_service.web.pages import AnyPage, Form, Page
from ticket_service.web.security import (
    LANG_COOKIE,
    OAUTH_COOKIE,
    SESSION_COOKIE,
    new_csrf_secret,
    safe_next,
)

router = APIRouter(include_in_schema=False)

# Demo people of `ticket-service dev` (DEMO_SIGN_IN): fixed ids, so the seeded tickets
# (devserver --demo) belong to them.
DEMO_PEOPLE: dict[Role, tuple[str, str]] = {
    Role.employee: ("100000000000000001", "Демо-сотрудник"),
    Role.agent: ("100000000000000002", "Демо-агент"),
    Role.admin: ("100000000000000003", "Демо-администратор"),
}


def demo_enabled(current: Page) -> bool:
    return current.settings.demo_sign_in and current.settings.environment != "production"


def _signed_in(current: Page, access_token: str, expires_in: int, target: str) -> Response:
    current.cookies.pop(SESSION_COOKIE, None)
    # A fresh CSRF secret with the new session: a token planted before sign-in is dead.
    current.csrf_secret, current.new_csrf = new_csrf_secret(), True
    response = current.redirect(target)
    response.set_cookie(
        SESSION_COOKIE,
        access_token,
        max_age=expires_in,
        httponly=True,
        samesite="lax",
        secure=current.settings.environment == "production",
        path="/",
    )
    return response


@router.get("/login")
async def login_page(
    current: AnyPage, next: str | None = None, error: str | None = None
) -> Response:
    target = safe_next(next)
    if current.user is not None:
        return current.redirect(target)
    return current.render(
        "login.html", next=target, demo=demo_enabled(current), error=error, roles=list(Role)
    )


@router.get("/login/discord")
@writes_on_get
async def login_discord(
    action: Annotated[ActionRecord, Depends(Action("web_login_start"))],
    current: AnyPage,
    session: Session,
    request: Request,
    next: str | None = None,
) -> Response:
    """Off to Discord, with the state in the database (single use) and in this browser."""
    discord: DiscordClient = request.app.state.discord
    state = tokens.new_token()
    url = await auth_service.start_login(
        session, current.settings, discord, current.settings.web_redirect_uri, state
    )
    response = current.finish(Response(status_code=303, headers={"Location": url}))
    response.set_cookie(
        OAUTH_COOKIE,
        f"{state} {safe_next(next)}",
        max_age=current.settings.oauth_state_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=current.settings.environment == "production",
        path="/auth/callback",
    )
    return response


@router.get("/auth/callback")
@writes_on_get
async def auth_callback(
    action: Annotated[ActionRecord, Depends(Action("web_login"))],
    current: AnyPage,
    session: Session,
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    """Discord sends the browser back here (PUBLIC_URL/auth/callback)."""
    kept_state, _, target = (request.cookies.get(OAUTH_COOKIE) or "").partition(" ")
    if error or not code:  # the person pressed "Cancel" at Discord
        return current.redirect(f"/login?error=cancelled&next={safe_next(target)}")
    if not state or not kept_state or not hmac.compare_digest(state, kept_state):
        raise InvalidState("This sign-in was not started in this browser; please try again")
    discord: DiscordClient = request.app.state.discord
    user, issued = await auth_service.finish_login(
        session, current.settings, discord, code, state, current.settings.web_redirect_uri
    )
    action.actor = user.discord_id
    response = _signed_in(current, issued.access_token, issued.expires_in, safe_next(target))
    response.delete_cookie(OAUTH_COOKIE, path="/auth/callback")
    return response


@router.post("/login/demo")
async def demo_login(
    action: Annotated[ActionRecord, Depends(Action("web_demo_login"))],
    fields: Form,
    current: AnyPage,
    session: Session,
) -> Response:
    """Development only: sign in as a demo employee, agent or admin without Discord."""
    if not demo_enabled(current):
        raise NotFound()
    try:
        role = Role(fields.get("role", ""))
    except ValueError:
        raise NotFound() from None
    discord_id, name = DEMO_PEOPLE[role]
    user, issued = await auth_service.mint_token(session, current.settings, discord_id, role)
    user.display_name = user.display_name or name
    action.actor = discord_id
    return _signed_in(
        current, issued.access_token, issued.expires_in, safe_next(fields.get("next"))
    )


@router.post("/logout")
async def logout(
    action: Annotated[ActionRecord, Depends(Action("web_logout"))],
    fields: Form,
    current: AnyPage,
    session: Session,
) -> Response:
    if current.auth_session is not None:
        await auth_service.logout(session, current.auth_session)
    current.cookies[SESSION_COOKIE] = None
    return current.redirect("/login")


@router.post("/lang")
async def switch_language(fields: Form, current: AnyPage) -> Response:
    """Remember the chosen language in a cookie and go back to the page."""
    lang = fields.get("lang", "")
    if lang in LOCALES:
        current.cookies[LANG_COOKIE] = lang
    return current.redirect(safe_next(fields.get("next")))
