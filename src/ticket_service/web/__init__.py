"""The web UI: server-rendered pages (Jinja2 + htmx) outside `/api`, for employees, agents
and admins. A front door like the API: it calls the same domain services."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ticket_service.kit.routing import skip_foreign_paths

STATIC = Path(__file__).parent / "static"


def install_web(app: FastAPI) -> None:
    from ticket_service.web import admin_routes, auth_routes, ticket_routes, work_routes
    from ticket_service.web.errors import install_error_pages

    for router in (
        auth_routes.router,
        ticket_routes.router,
        work_routes.router,
        admin_routes.router,
    ):
        skip_foreign_paths(router)
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_error_pages(app)
