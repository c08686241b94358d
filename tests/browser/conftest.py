"""Browser journeys: Playwright driving the system's Chromium (by executable path; the
Playwright browser download is not used) against a real `ticket-service api` on a free
port, signing in through the local Discord stand-in.

Skipped when no Chromium is installed, unless REQUIRE_BROWSER=1 (CI): then it fails.
Screenshots of each main page go to tests/browser/screenshots/ (gitignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.auth.discord_stub import CLIENT_ID, CLIENT_SECRET, DiscordStub
from tests.live_api import api_env, free_port, mint_token, running_api

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but no Chromium: apt-get install -y chromium")
        pytest.skip("no Chromium installed (apt-get install chromium); browser tests skipped")
    return path


@pytest.fixture(scope="module")
def playwright_browser(chromium: str) -> Iterator[Any]:
    # Module scope: sync Playwright runs an event loop of its own in this thread while it
    # is open, and the async tests of later modules need the thread's loop free.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Site:
    base: str
    stub: DiscordStub
    env: dict[str, str]
    workdir: Path

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def site(
    database_url: str, redis_url: str, httpserver: HTTPServer, tmp_path: Path
) -> Iterator[Site]:
    """`ticket-service api` with the demo sign-in on and Discord replaced by the stand-in."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stub = DiscordStub(httpserver)
    stub.redirect_uris.add(f"{base}/auth/callback")
    env = {
        **api_env(database_url, redis_url),
        "PUBLIC_URL": base,
        "DEMO_SIGN_IN": "true",
        "DISCORD_CLIENT_ID": CLIENT_ID,
        "DISCORD_CLIENT_SECRET": CLIENT_SECRET,
        "DISCORD_API_BASE_URL": stub.base_url,
        "DISCORD_AUTHORIZE_URL": stub.authorize_url,
        "WEB_TIME_ZONE": "Europe/Moscow",
    }
    with running_api(env, tmp_path, port):
        yield Site(base, stub, env, tmp_path)


@pytest.fixture
def new_page(playwright_browser: Any) -> Iterator[Any]:
    """Fresh browser contexts (separate cookie jars: one per person), phone-width optional."""
    contexts: list[Any] = []

    def make(width: int = 1280, locale: str = "ru-RU") -> Any:
        context = playwright_browser.new_context(
            viewport={"width": width, "height": 900}, locale=locale
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.csp_errors = []
        page.on(
            "console",
            lambda msg: (
                page.csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def check_axe(page: Any) -> None:
    """No serious or critical axe-core violation on the page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], serious


def demo_sign_in(page: Any, site: Site, button: str) -> None:
    page.goto(site.url("/login"))
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


def join_team(site: Site, discord_id: str, role: str = "agent", slug: str = "general") -> str:
    """Make `discord_id` an agent on the service's team (agents see their teams' tickets),
    as an admin would through the API; the person's access token."""
    token = mint_token(site.env, site.workdir, discord_id, role)
    admin = mint_token(site.env, site.workdir, "3999", "admin")
    joined = httpx.put(
        site.url(f"/api/v1/services/{slug}/agents/{discord_id}"),
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert joined.status_code == 200, joined.text
    return token
