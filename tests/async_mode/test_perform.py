"""The worker performs queued requests as their callers; the outcome is read back."""

from __future__ import annotations

import psycopg
import pytest

from tests.async_mode.conftest import (
    ASYNC,
    action,
    action_rows,
    assert_accepted,
    events_of_action,
    jobs,
    run_worker_until_idle,
    ticket_count,
)
from tests.factories import open_ticket
from ticket_service.actions.tasks import RETRIES, perform_action
from ticket_service.worker.app import open_jobs


async def _ticket(client, headers, guid_ticket):
    r = await client.get(f"/api/v1/tickets/{guid_ticket}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _history(database_url, guid_action):
    return [
        (str(e["ticket_id"]), e["kind"], e["from_status"], e["to_status"], e["actor"])
        for e in events_of_action(database_url, guid_action)
    ]


async def test_v1_open_succeeds_with_the_synchronous_answer(client, people, settings, database_url):
    body = {"text": "Нужен монитор\nВторой, 27 дюймов", "priority": "high"}
    guid = assert_accepted(
        await client.post("/api/v1/tickets", json=body, headers={**people.author, **ASYNC})
    )
    await run_worker_until_idle(settings)

    done = await action(client, people.author, guid)
    assert (done["status"], done["status_code"], done["error"]) == ("succeeded", 201, None)
    ticket = done["result"]
    assert ticket == await _ticket(client, people.author, ticket["guid_ticket"])
    assert (ticket["title"], ticket["priority"], ticket["author"]) == (
        "Нужен монитор",
        "high",
        "1001",
    )
    assert _history(database_url, guid) == [(ticket["guid_ticket"], "opened", None, "open", "1001")]
    assert [j["status"] for j in jobs(database_url)] == ["succeeded"]


async def test_seed_open_answers_the_seed_body(client, people, settings, database_url):
    headers = {**people.author, **ASYNC}
    guid = assert_accepted(
        await client.post("/api/tickets/open", json={"text": "Пропуск"}, headers=headers)
    )
    assert (await action(client, people.author, guid))["status"] == "queued"
    await run_worker_until_idle(settings)

    done = await action(client, people.author, guid)
    assert (done["status"], done["status_code"]) == ("succeeded", 200)
    ticket = done["result"]["response"]
    shown = await _ticket(client, people.author, ticket["guid_ticket"])
    assert done["result"] == {"response": {"guid_action": guid, **shown}}
    assert _history(database_url, guid) == [(ticket["guid_ticket"], "opened", None, "open", "1001")]


async def test_seed_change_status_succeeds_as_the_agent(client, people, settings, database_url):
    ticket = await open_ticket(client, people.author)
    body = {"guid_ticket": ticket["guid_ticket"], "new_status": "processing"}
    guid = assert_accepted(
        await client.post(
            "/api/tickets/change_status", json=body, headers={**people.agent, **ASYNC}
        )
    )
    assert (await _ticket(client, people.admin, ticket["guid_ticket"]))["status"] == "open"
    await run_worker_until_idle(settings)

    done = await action(client, people.agent, guid)
    after = await _ticket(client, people.admin, ticket["guid_ticket"])
    assert (after["status"], after["assignee"], after["version"]) == ("processing", "2001", 2)
    assert done == {
        "guid_action": guid,
        "type": "change_status",
        "status": "succeeded",
        "result": {"response": {"guid_action": guid, **after}},
        "error": None,
        "status_code": 200,
    }
    assert _history(database_url, guid) == [
        (ticket["guid_ticket"], "assigned", None, None, "2001"),
        (ticket["guid_ticket"], "status_changed", "open", "processing", "2001"),
    ]


@pytest.mark.parametrize(
    ("who", "new_status", "status_code", "code"),
    [
        ("agent", "open", 400, "same_status"),
        ("author", "processing", 403, "transition_not_allowed"),  # an agent's transition
        ("other_employee", "closed_fail", 404, "ticket_not_found"),  # not theirs to see
        ("agent", "archived", 400, "invalid_status"),
    ],
)
async def test_a_refused_change_is_recorded_as_failed(
    client, people, settings, database_url, who, new_status, status_code, code
):
    ticket = await open_ticket(client, people.author)
    body = {"guid_ticket": ticket["guid_ticket"], "new_status": new_status}
    headers = getattr(people, who)
    guid = assert_accepted(
        await client.post("/api/tickets/change_status", json=body, headers={**headers, **ASYNC})
    )
    sync = await client.post("/api/tickets/change_status", json=body, headers=headers)
    assert sync.status_code == status_code  # what the synchronous call answers
    await run_worker_until_idle(settings)

    done = await action(client, headers, guid)
    assert (done["status"], done["status_code"], done["result"]) == ("failed", status_code, None)
    assert done["error"] == sync.json()["error"]
    assert await _ticket(client, people.admin, ticket["guid_ticket"]) == ticket
    assert events_of_action(database_url, guid) == []
    # An expected refusal is an outcome, not a crashing job to retry.
    assert [j["status"] for j in jobs(database_url)] == ["succeeded"]


async def test_open_with_an_unknown_service_fails(client, people, settings, database_url):
    body = {"text": "x", "service": "no-such-service"}
    guid = assert_accepted(
        await client.post("/api/v1/tickets", json=body, headers={**people.author, **ASYNC})
    )
    await run_worker_until_idle(settings)
    done = await action(client, people.author, guid)
    assert (done["status"], done["status_code"]) == ("failed", 400)
    assert done["error"]["code"] == "unknown_service"
    assert ticket_count(database_url) == 0


async def test_the_caller_acts_with_the_role_they_have_when_it_runs(
    client, people, settings, database_url
):
    ticket = await open_ticket(client, people.author)
    take = {"guid_ticket": ticket["guid_ticket"], "new_status": "processing"}
    headers = {**people.author, **ASYNC}
    guid = assert_accepted(
        await client.post("/api/tickets/change_status", json=take, headers=headers)
    )
    promoted = await client.put(
        "/api/v1/users/1001/role", json={"role": "agent"}, headers=people.admin
    )
    assert promoted.status_code == 200, promoted.text
    on_team = await client.put("/api/v1/services/general/agents/1001", headers=people.admin)
    assert on_team.status_code == 200, on_team.text
    await run_worker_until_idle(settings)

    done = await action(client, people.author, guid)
    assert (done["status"], done["status_code"]) == ("succeeded", 200)
    assert done["result"]["response"]["assignee"] == "1001"


async def test_visibility_of_an_action(client, people, settings):
    guid = assert_accepted(
        await client.post("/api/v1/tickets", json={"text": "x"}, headers={**people.author, **ASYNC})
    )
    url = f"/api/v1/actions/{guid}"
    for headers in (people.other_employee, people.agent):
        r = await client.get(url, headers=headers)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "action_not_found"
    assert (await action(client, people.admin, guid))["status"] == "queued"
    assert (await client.get(url)).status_code == 401
    r = await client.get(
        "/api/v1/actions/00000000-0000-0000-0000-000000000000", headers=people.admin
    )
    assert (r.status_code, r.json()["error"]["code"]) == (404, "action_not_found")
    assert (await client.get("/api/v1/actions/nope", headers=people.admin)).status_code == 422


async def test_a_duplicate_job_does_not_act_twice(client, people, settings, database_url):
    guid = assert_accepted(
        await client.post("/api/v1/tickets", json={"text": "x"}, headers={**people.author, **ASYNC})
    )
    await run_worker_until_idle(settings)
    first = action_rows(database_url)

    # The same job again, as a retried stalled job would be.
    async with open_jobs(settings):
        await perform_action.defer_async(guid_action=guid)
    await run_worker_until_idle(settings)

    assert ticket_count(database_url) == 1
    assert action_rows(database_url) == first
    assert [j["status"] for j in jobs(database_url)] == ["succeeded", "succeeded"]


async def test_an_action_that_keeps_crashing_ends_failed_500(
    client, people, settings, database_url
):
    guid = assert_accepted(
        await client.post("/api/v1/tickets", json={"text": "x"}, headers={**people.author, **ASYNC})
    )
    with psycopg.connect(database_url, autocommit=True) as conn:  # a row no code can perform
        conn.execute("UPDATE async_actions SET type = 'bogus' WHERE guid_action = %s", (guid,))

    await run_worker_until_idle(settings, deadline_seconds=0)  # one pass: fails, retry later
    assert (await action(client, people.author, guid))["status"] == "running"
    assert [j["status"] for j in jobs(database_url)] == ["todo"]

    with psycopg.connect(database_url, autocommit=True) as conn:  # the last retry, now
        conn.execute(
            "UPDATE procrastinate_jobs SET attempts = %s, scheduled_at = now()"
            " WHERE task_name = 'perform_action'",
            (RETRIES,),
        )
    await run_worker_until_idle(settings, deadline_seconds=0)
    done = await action(client, people.author, guid)
    assert (done["status"], done["status_code"], done["result"]) == ("failed", 500, None)
    assert done["error"]["code"] == "internal_error"
    assert [j["status"] for j in jobs(database_url)] == ["failed"]
    assert ticket_count(database_url) == 0
