"""Receivers for notification tests: a real SMTP server, plus what we read back from the
database. HTTP receivers (Slack, Discord, webhooks) are pytest-httpserver handlers.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import httpx
import psycopg
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from pytest_httpserver import HTTPServer
from werkzeug import Request

from tests.factories import auth_headers, join_every_team
from ticket_service.users.models import Role

PUBLIC_URL = "https://tickets.1440.test"
SMTP_FROM = "tickets@1440.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class MailSink:
    """aiosmtpd handler: keeps every message it accepts, with its envelope recipients."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._received.append(([r.lower() for r in envelope.rcpt_tos], message))
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [m for _, m in self._received]

    def to(self, address: str) -> list[EmailMessage]:
        """Messages whose envelope went to `address` (and to nobody else)."""
        with self._lock:
            return [m for rcpt, m in self._received if rcpt == [address.lower()]]


@contextmanager
def smtp_server() -> Iterator[tuple[MailSink, int]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def smtp_settings(port: int) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_from": SMTP_FROM}


def parts(message: EmailMessage) -> dict[str, str]:
    """content type -> decoded body, for each leaf part."""
    return {
        part.get_content_type(): part.get_content()  # type: ignore[attr-defined]
        for part in message.walk()
        if not part.is_multipart()
    }


# --- people ----------------------------------------------------------------------------------


async def person(
    app: FastAPI,
    database_url: str,
    discord_id: str,
    role: Role = Role.employee,
    *,
    email_address: str | None = None,
    verified: bool = True,
    display_name: str | None = None,
) -> dict[str, str]:
    """Auth headers for a user; the e-mail Discord told us at sign-in is set as test setup.
    An agent is put on the team of every service that exists by then: these tests are about
    channels, not about who works which service."""
    headers = await auth_headers(app, discord_id, role)
    if role is Role.agent:
        await join_every_team(app, discord_id)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE users SET email = %s, email_verified = %s,"
            " display_name = coalesce(%s, display_name) WHERE discord_id = %s",
            (email_address, verified and email_address is not None, display_name, discord_id),
        )
    return headers


async def change(
    client: httpx.AsyncClient, headers: dict[str, str], guid: str, status: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/tickets/{guid}/status", json={"status": status, **extra}, headers=headers
    )


async def changed(
    client: httpx.AsyncClient, headers: dict[str, str], guid: str, status: str
) -> dict[str, Any]:
    response = await change(client, headers, guid, status)
    assert response.status_code == 200, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


async def add_service(
    client: httpx.AsyncClient, admin: dict[str, str], slug: str, name: str, **overrides: Any
) -> dict[str, Any]:
    created = await client.post(
        "/api/v1/services", json={"slug": slug, "name": name}, headers=admin
    )
    assert created.status_code == 201, created.text
    if not overrides:
        return dict(created.json())
    patched = await client.patch(f"/api/v1/services/{slug}", json=overrides, headers=admin)
    assert patched.status_code == 200, patched.text
    return dict(patched.json())


# --- what the database holds -----------------------------------------------------------------


def deliver_jobs(database_url: str) -> list[dict[str, Any]]:
    """procrastinate jobs of the former `deliver` task: none is ever queued now."""
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "SELECT id, status, args FROM procrastinate_jobs"
            " WHERE task_name = 'deliver' ORDER BY id"
        ).fetchall()


def event_ids(database_url: str) -> list[int]:
    with psycopg.connect(database_url) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM ticket_events ORDER BY id")]


def all_sent_once(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and all(r["status"] == "sent" and r["attempts"] == 1 for r in rows)


# --- HTTP receivers --------------------------------------------------------------------------


def receive(server: HTTPServer, path: str, reply: Any = None) -> str:
    """A receiver answering POSTs to `path` (204, or 200 with `reply` as JSON); its URL."""
    handler = server.expect_request(path, method="POST")
    if reply is None:
        handler.respond_with_data("", status=204)
    else:
        handler.respond_with_json(reply)
    return server.url_for(path)


def posts(server: HTTPServer, path: str) -> list[Request]:
    return [req for req, _ in server.log if req.path == path and req.method == "POST"]


def bodies(server: HTTPServer, path: str) -> list[Any]:
    return [json.loads(req.get_data()) for req in posts(server, path)]


def signature_ok(secret: str, request: Request) -> bool:
    """What a receiver does: recompute the HMAC over "<timestamp>.<raw body>"."""
    timestamp = request.headers.get("X-Ticket-Timestamp", "")
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + request.get_data(), hashlib.sha256)
    given = request.headers.get("X-Ticket-Signature", "")
    return hmac.compare_digest(given, "sha256=" + mac.hexdigest())
