"""What every page needs: who is signed in (from the session cookie), the language, the
time zone, the CSRF token, and the Jinja environment that renders it all."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl, quote
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from ticket_service.auth import tokens
from ticket_service.auth.models import AuthSession
from ticket_service.config import Settings
from ticket_service.db import Session
from ticket_service.errors import AppError, Forbidden, Unauthorized
from ticket_service.ops.action_log import current_action
from ticket_service.sla.schemas import SlaOut
from ticket_service.users.models import Role, User, display_name
from ticket_service.vocabulary import Priority, SlaTarget, Status
from ticket_service.web import i18n
from ticket_service.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    LANG_COOKIE,
    SESSION_COOKIE,
    TZ_COOKIE,
    check_csrf,
    cookie_options,
    csrf_token,
    new_csrf_secret,
)

R = TypeVar("R", bound=Response)
TEMPLATES = Path(__file__).parent / "templates"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
environment.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]


class LoginRequired(Unauthorized):
    """No live session: the error handler sends the browser to /login and back."""

    code = "login_required"
    message = "Please sign in"


class StaffOnly(Forbidden):
    code = "staff_only"
    message = "Only agents and admins may open this page"


class AdminsOnly(Forbidden):
    code = "admins_only"
    message = "Only admins may do this"


@dataclass
class Page:
    request: Request
    settings: Settings
    locale: str
    zone: ZoneInfo
    csrf_secret: str
    user: User | None = None
    auth_session: AuthSession | None = None
    new_csrf: bool = False
    # Read at sign-in check: an error page renders after the rollback expired the user.
    role: Role | None = None
    user_name: str = ""
    cookies: dict[str, str | None] = field(default_factory=dict)

    @property
    def csrf_token(self) -> str:
        return csrf_token(self.settings, self.csrf_secret)

    @property
    def staff(self) -> bool:
        return self.role is not None and self.role.is_staff

    @property
    def admin(self) -> bool:
        return self.role is Role.admin

    def date(self, value: datetime | None) -> str:
        return i18n.format_date(value, self.zone, self.locale)

    def duration(self, seconds: int) -> str:
        return i18n.format_duration(seconds)

    def sla_target(self, value: str) -> str:
        return SlaTarget(value).label(self.locale)

    def status_label(self, value: str) -> str:
        return Status(value).label(self.locale)

    # The pieces every ticket row shows, in Python rather than as Jinja macros: a macro
    # call cost about 50 µs a row, a tenth of a fifty-ticket queue page's CPU. Built as
    # f-strings of escaped values (Markup.format costs 5 µs a call); S704 is
    # silenced where every interpolated value is escaped or ours.
    def status_badge(self, value: str) -> Markup:
        label = escape(self.status_label(value))
        return Markup(f'<span class="status status-{escape(value)}">{label}</span>')  # noqa: S704

    def sla_mark(self, sla: SlaOut) -> Markup:
        """Breached, at risk or paused, the most urgent of them; nothing otherwise."""
        if sla.breached:
            text, tag, css = i18n.gettext("SLA breached"), "strong", "sla-breached"
        elif sla.at_risk:
            text, tag, css = i18n.gettext("SLA at risk"), "strong", "sla-at-risk"
        elif sla.paused:
            text, tag, css = i18n.gettext("paused"), "span", "sla-paused"
        else:
            return Markup("")
        return Markup(f'<{tag} class="sla {css}">{escape(text)}</{tag}>')  # noqa: S704

    def sla_left(self, sla: SlaOut) -> str:
        """The time left until the next target, or by how much it is overdue."""
        if sla.remaining_seconds is None:
            return ""
        span = {"span": self.duration(sla.remaining_seconds)}
        if sla.remaining_seconds >= 0:
            return i18n.gettext("%(span)s left") % span
        return i18n.gettext("overdue by %(span)s") % span

    def sla_due(self, sla: SlaOut) -> Markup:
        """A queue row's due cell: the resolution due instant, the time left, the mark."""
        due = sla.resolution_due_at
        when = (
            f'<time datetime="{due.isoformat()}">{escape(self.date(due))}</time><br>'
            if due is not None
            else ""
        )
        left = escape(self.sla_left(sla))
        return Markup(f'{when}<span class="hint">{left}</span> {self.sla_mark(sla)}')  # noqa: S704

    def priority_label(self, value: str) -> str:
        return Priority(value).label(self.locale)

    def here(self) -> str:
        """This page's path and query: where to come back to after signing in."""
        url = self.request.url
        return url.path + (f"?{url.query}" if url.query else "")

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        i18n.use_locale(self.locale)
        html = environment.get_template(template).render(
            page=self,
            user=self.user,
            name_of=display_name,
            Status=Status,
            Priority=Priority,
            **context,
        )
        return self.finish(HTMLResponse(html, status_code=status_code))

    def redirect(self, url: str) -> RedirectResponse:
        """After a POST: 303, so the browser GETs the next page (no resubmission)."""
        return self.finish(RedirectResponse(url, status_code=303))

    def finish(self, response: R) -> R:
        options = cookie_options(self.settings)
        if self.new_csrf:
            response.set_cookie(CSRF_COOKIE, self.csrf_secret, **options)  # type: ignore[arg-type]
        for name, value in self.cookies.items():
            if value is None:
                response.delete_cookie(name, path="/")
            else:
                response.set_cookie(name, value, **options)  # type: ignore[arg-type]
        return response


def login_url(target: str) -> str:
    return "/login?next=" + quote(target, safe="/")


async def page(request: Request, session: Session) -> Page:
    """The page's context; the signed-in person when the session cookie is live."""
    settings: Settings = request.app.state.settings
    secret = request.cookies.get(CSRF_COOKIE)
    current = Page(
        request=request,
        settings=settings,
        locale=i18n.negotiate(
            request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
        ),
        zone=i18n.time_zone(request.cookies.get(TZ_COOKIE), settings.web_time_zone),
        csrf_secret=secret or new_csrf_secret(),
        new_csrf=not secret,
    )
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            current.user, current.auth_session = await tokens.authenticate(session, settings, token)
        except AppError:
            current.cookies[SESSION_COOKIE] = None  # expired or revoked: forget it
        else:
            current.role, current.user_name = current.user.role_enum, display_name(current.user)
            current_action(request).actor = current.user.discord_id
    request.state.page = current  # the error pages render with it
    return current


AnyPage = Annotated[Page, Depends(page)]


async def signed_in(current: AnyPage) -> Page:
    if current.user is None:
        raise LoginRequired()
    return current


async def staff_page(current: Annotated[Page, Depends(signed_in)]) -> Page:
    if not current.staff:
        raise StaffOnly()
    return current


async def admin_page(current: Annotated[Page, Depends(signed_in)]) -> Page:
    if not current.admin:
        raise AdminsOnly()
    return current


UserPage = Annotated[Page, Depends(signed_in)]
StaffPage = Annotated[Page, Depends(staff_page)]
AdminPage = Annotated[Page, Depends(admin_page)]


def signed_user(current: Page) -> User:
    if current.user is None:  # signed_in made sure of it
        raise LoginRequired()
    return current.user


async def form(request: Request) -> dict[str, str]:
    """An HTML form's fields (urlencoded), after the CSRF check: 403 without a good token."""
    body = (await request.body()).decode("utf-8", "replace")
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        fields.setdefault(key, value)
    settings: Settings = request.app.state.settings
    sent = fields.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    check_csrf(settings, request.cookies.get(CSRF_COOKIE), sent)
    return fields


Form = Annotated[dict[str, str], Depends(form)]
