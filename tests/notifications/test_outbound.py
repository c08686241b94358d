"""Outbound URLs: refused when set (422) and when called (the delivery is dead), for
addresses inside (loopback, private, link-local, metadata) in any spelling, host names
resolving there, and redirects. These apps are built WITHOUT the tests' allowlist
(OUTBOUND_ALLOWED_HOSTS=127.0.0.1,localhost), except where a test says otherwise."""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.factories import auth_headers, open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.receivers import MailSink, free_port, person
from tests.notifications.retry_helpers import Receiver, Reply
from ticket_service.kit.outbound import (
    OutboundPolicy,
    OutboundRefused,
    address_problem,
    pinned_transport,
)
from ticket_service.users.models import Role

NOT_ALLOWED: dict[str, Any] = {"outbound_allowed_hosts": []}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9/hook", "127.0.0.1 is a loopback address"),
        ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata"),
        ("http://[::1]:9/hook", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]:9/hook", "::ffff:127.0.0.1 is a loopback address"),
        ("http://[fe80::1]/hook", "fe80::1 is a link-local address"),
        ("http://224.0.0.1/hook", "224.0.0.1 is a multicast address"),
        ("http://localhost:9/hook", "localhost resolves to"),  # a name, resolved now
        ("http://2130706433:9/hook", "2130706433 resolves to 127.0.0.1"),  # 127.0.0.1 as a number
        ("http://user:pw@hooks.example/x", "must not carry a user name or password"),
    ],
)
async def test_a_service_webhook_inside_is_refused_when_set(build, url, reason):
    app, client, _ = await build(**NOT_ALLOWED)
    admin = await auth_headers(app, "1", Role.admin)
    r = await client.patch(
        "/api/v1/services/general", json={"slack_webhook_url": url}, headers=admin
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "url_refused"
    assert error["details"]["field"] == "slack_webhook_url"
    assert reason in error["details"]["reason"]
    assert "/hook" not in r.text  # the reason names the host, never the URL's secret path
    listed = await client.get("/api/v1/services", headers=admin)
    assert listed.json()["items"][0]["has_slack_webhook"] is False


async def test_a_public_address_and_an_allowed_host_are_accepted(build):
    app, client, _ = await build(outbound_allowed_hosts=["10.1.0.0/16"])
    admin = await auth_headers(app, "1", Role.admin)
    for url in ("https://93.184.215.14/hook", "http://10.1.2.3/hook"):
        r = await client.patch(
            "/api/v1/services/general", json={"discord_webhook_url": url}, headers=admin
        )
        assert r.status_code == 200, r.text
        assert r.json()["has_discord_webhook"] is True


async def test_environment_urls_inside_are_refused_at_start_up(build):
    with pytest.raises(ValueError, match=r"WEBHOOK_URLS: 10\.0\.0\.1 is a private address"):
        await build(webhook_urls=["http://10.0.0.1/hook"], **NOT_ALLOWED)


async def test_a_name_resolving_to_loopback_is_refused_when_called(build, database_url):
    """Accepted at start-up (a name is not resolved then), refused before the call."""
    with Receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        app, client, settings = await build(
            webhook_urls=[url], webhook_secret="s3cret", **NOT_ALLOWED
        )
        await open_ticket(client, await auth_headers(app, "200", Role.employee))
        await run_worker_until_idle(settings)

    assert receiver.hits == []
    (row,) = deliveries(database_url)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert row["last_error"].startswith("refused: localhost resolves to ")
    assert row["last_error"].endswith("which is a loopback address")


async def test_a_stored_url_is_checked_again_when_called(build, database_url):
    """Set while the operator allowed loopback; the allowance is gone when the worker
    calls it (as when a public name starts resolving inside): dead, nothing sent."""
    with Receiver() as receiver:
        app, client, _ = await build()  # with the tests' allowlist
        admin = await auth_headers(app, "1", Role.admin)
        r = await client.patch(
            "/api/v1/services/general", json={"slack_webhook_url": receiver.url}, headers=admin
        )
        assert r.status_code == 200, r.text
        app, client, settings = await build(**NOT_ALLOWED)
        await open_ticket(client, await auth_headers(app, "200", Role.employee))
        await run_worker_until_idle(settings)

    assert receiver.hits == []
    (row,) = deliveries(database_url)
    assert row["status"] == "dead"
    assert row["last_error"] == "refused: 127.0.0.1 is a loopback address"


async def test_a_redirect_is_not_followed(build, database_url):
    with (
        Receiver() as target,  # allowed, even: a redirect is never followed anywhere
        Receiver(default=Reply(302, headers={"Location": "http://169.254.169.254/"})) as hop,
        Receiver(default=Reply(307, headers={"Location": target.url})) as hop2,
    ):
        app, client, settings = await build(webhook_urls=[hop.url, hop2.url], webhook_secret="s")
        await open_ticket(client, await auth_headers(app, "200", Role.employee))
        await run_worker_until_idle(settings)

    assert (len(hop.hits), len(hop2.hits), len(target.hits)) == (1, 1, 0)
    rows = deliveries(database_url)
    assert [(r["status"], r["attempts"]) for r in rows] == [("dead", 1), ("dead", 1)]
    assert sorted(r["last_error"] for r in rows) == [
        "HTTP 302 from receiver: redirects are not followed",
        "HTTP 307 from receiver: redirects are not followed",
    ]


async def test_a_receivers_answer_is_never_stored(build, database_url):
    secret_answer = b"stack trace with db password hunter2"
    with Receiver(default=Reply(500, body=secret_answer)) as receiver:
        app, client, settings = await build(
            webhook_urls=[receiver.url], webhook_secret="s", notify_max_attempts=1
        )
        admin = await auth_headers(app, "1", Role.admin)
        await open_ticket(client, await auth_headers(app, "200", Role.employee))
        await run_worker_until_idle(settings)
        listed = await client.get("/api/v1/admin/deliveries", headers=admin)

    (row,) = deliveries(database_url)
    assert (row["status"], row["last_error"]) == ("dead", "HTTP 500 from receiver")
    assert "hunter2" not in listed.text


class RefusingSink(MailSink):
    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        return f"550 5.1.1 <{address}>: Recipient address rejected"


async def test_a_refused_recipient_address_is_in_no_log_line(build, database_url, capsys):
    port = free_port()
    controller = Controller(RefusingSink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app, client, settings = await build(smtp_host="127.0.0.1", smtp_port=port)
        author = await person(app, database_url, "1001", email_address="secret.person@1440.test")
        agent = await person(app, database_url, "2001", Role.agent)
        ticket = await open_ticket(client, author)
        r = await client.post(
            f"/api/v1/tickets/{ticket['guid_ticket']}/status",
            json={"status": "processing"},
            headers=agent,
        )
        assert r.status_code == 200, r.text
        await run_worker_until_idle(settings)
    finally:
        controller.stop()

    (row,) = deliveries(database_url)
    assert row["status"] == "dead"
    assert row["last_error"] == "recipient refused by the mail server (SMTP 550)"
    logged = capsys.readouterr()
    assert "delivery_dead" in logged.out + logged.err
    assert "secret.person" not in logged.out + logged.err


# --- the rule itself, address by address --------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.2",
        "10.20.30.40",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "100.100.100.200",
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
        "224.0.0.251",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",  # NAT64 spelling of 169.254.169.254
    ],
)
def test_addresses_inside_are_refused(address):
    assert address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert address_problem(ipaddress.ip_address(address)) is None


async def test_production_wants_https_and_development_allows_loopback():
    production = OutboundPolicy.build("production", [])
    with pytest.raises(OutboundRefused, match="must use https"):
        await production.check("http://93.184.215.14/hook")
    await production.check("https://93.184.215.14/hook")
    with pytest.raises(OutboundRefused, match="loopback"):
        await production.check("https://127.0.0.1/hook")
    development = OutboundPolicy.build("development", [])
    await development.check("http://127.0.0.1:8080/hook")
    await development.check("http://localhost:8080/hook")
    with pytest.raises(OutboundRefused, match="private"):
        await development.check("http://10.0.0.1/hook")


# --- the connection itself is pinned ------------------------------------------------------


async def test_the_connection_goes_only_where_the_policy_allows():
    """The delivery client resolves and checks at connect time itself, whatever was checked
    before: a name that resolves inside by then is not connected to."""
    with Receiver() as receiver:
        by_name = receiver.url.replace("127.0.0.1", "localhost")
        refusing = OutboundPolicy.build("test", [])
        async with httpx.AsyncClient(transport=pinned_transport(refusing)) as client:
            with pytest.raises(OutboundRefused, match="localhost resolves to"):
                await client.post(by_name, content=b"{}")
            with pytest.raises(OutboundRefused, match=r"127\.0\.0\.1 is a loopback"):
                await client.post(receiver.url, content=b"{}")
        assert receiver.hits == []

        allowing = OutboundPolicy.build("test", ["127.0.0.1"])
        async with httpx.AsyncClient(transport=pinned_transport(allowing)) as client:
            answer = await client.post(receiver.url, content=b"{}")
        assert answer.status_code == 200
        assert receiver.hits[0].headers["Host"] == f"127.0.0.1:{receiver.port}"
