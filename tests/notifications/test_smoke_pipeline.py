import json

from tests.factories import auth_headers
from tests.notifications.conftest import deliveries, run_worker_until_idle
from ticket_service.users.models import Role


async def test_webhook_end_to_end(build, database_url, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    app, client, settings = await build(
        webhook_urls=[httpserver.url_for("/hook")], webhook_secret="s3cret"
    )
    h = await auth_headers(app, "1", Role.admin)
    r = await client.post("/api/v1/tickets", json={"text": "hello"}, headers=h)
    assert r.status_code == 201
    await run_worker_until_idle(settings)
    print(deliveries(database_url))
    req = httpserver.log[-1][0]
    assert json.loads(req.data)["type"] == "ticket.opened"
