"""/metrics shows nothing per person: the new routes are counted by template, and the
tickets gauge is by status and service only, so it reveals no agent's view."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.factories import open_ticket


async def test_no_metric_names_a_person_or_a_ticket(client, crew):
    ticket = await open_ticket(client, crew.author, "VPN", service="it")
    guid = ticket["guid_ticket"]
    assert (await client.post(f"/api/v1/tickets/{guid}/claim", headers=crew.it_agent)).is_success
    assert (await client.put(f"/api/v1/tickets/{guid}/followers/me", headers=crew.admin)).is_success
    response = await client.get("/metrics")
    assert response.status_code == 200

    values: set[str] = set()
    routes: set[str] = set()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values |= set(sample.labels.values())
            if family.name == "tickets":
                assert set(sample.labels) == {"status", "service"}
            if "route" in sample.labels:
                routes.add(sample.labels["route"])
    assert "/api/v1/tickets/{guid_ticket}/claim" in routes
    assert "/api/v1/services/{slug}/agents/{discord_id}" in routes
    for personal in (guid, "2101", "3001", "1001", "2001"):
        assert not any(personal in value for value in values), personal
