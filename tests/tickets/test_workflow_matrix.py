"""Who may move a ticket from which status to which: every role × every (from, to) pair.

The ticket is opened by `author` (an employee) and put into its starting status by an
admin; then the actor tries the change through the v1 API and through the seed path.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.factories import open_ticket
from tests.tickets.helpers import (
    AUTHOR_MOVES,
    STATUSES,
    WORKFLOW,
    change_seed,
    change_v1,
    events,
    move_to,
    read,
)

ROLES = ("author", "other_employee", "agent", "admin")
PAIRS = [(old, new) for old in STATUSES for new in STATUSES]


def expected_code(role: str, old: str, new: str) -> int:
    if role == "other_employee":
        return 404  # another employee's ticket does not exist for them
    if old == new or new not in WORKFLOW[old]:
        return 400
    if role in ("agent", "admin") or (old, new) in AUTHOR_MOVES:
        return 200
    return 403


def test_the_matrix_covers_every_outcome():
    outcomes = {expected_code(role, old, new) for role in ROLES for old, new in PAIRS}
    assert outcomes == {200, 400, 403, 404}


@pytest.mark.parametrize("api", ["v1", "seed"])
@pytest.mark.parametrize(("old", "new"), PAIRS, ids=[f"{o}->{n}" for o, n in PAIRS])
@pytest.mark.parametrize("role", ROLES)
async def test_status_change_rights(client, people, role, old, new, api):
    ticket = await open_ticket(client, people.author.headers, "Не работает VPN")
    guid = ticket["guid_ticket"]
    await move_to(client, people.admin.headers, guid, old)
    before = await read(client, people.admin.headers, guid)
    history_before = await events(client, people.admin.headers, guid)
    actor = people.by_role(role)

    if api == "v1":
        response = await change_v1(client, actor.headers, guid, new)
    else:
        response = await change_seed(client, actor.headers, guid, new)

    code = expected_code(role, old, new)
    assert response.status_code == code, response.text
    after = await read(client, people.admin.headers, guid)
    history = await events(client, people.admin.headers, guid)

    if code != 200:
        assert "error" in response.json()
        assert after == before, "a refused change must leave the ticket as it was"
        assert history == history_before, "a refused change must leave no history row"
        return

    body = response.json()
    if api == "v1":
        changed = body
    else:
        changed = dict(body["response"])
        assert changed.pop("guid_action") == response.headers["x-action-id"]
    assert changed == after, "the response shows the ticket as stored"
    assert after["status"] == new
    assert (after["closed_at"] is not None) == new.startswith("closed_")
    assert after["version"] == before["version"] + 1
    assert datetime.fromisoformat(after["updated_at"]) > datetime.fromisoformat(
        before["updated_at"]
    )
    took_it = new == "processing" and role in ("agent", "admin") and before["assignee"] is None
    assert after["assignee"] == (actor.discord_id if took_it else before["assignee"])

    # Taking it into work also records whom it went to, in the same action.
    assert [e["kind"] for e in history[len(history_before) :]] == (
        ["assigned", "status_changed"] if took_it else ["status_changed"]
    )
    row = history[-1]
    assert row["kind"] == "status_changed"
    assert (row["from_status"], row["to_status"]) == (old, new)
    assert row["actor"] == actor.discord_id
    assert row["guid_action"] == response.headers["x-action-id"]
