"""The Prefer header and the 202 are published for the three endpoints that honour them."""

from __future__ import annotations

import pytest

QUEUEABLE = [
    ("/api/tickets/open", "post"),
    ("/api/tickets/change_status", "post"),
    ("/api/v1/tickets", "post"),
]


@pytest.fixture
async def spec(client):
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


@pytest.mark.parametrize(("path", "method"), QUEUEABLE)
async def test_queueable_operations_document_prefer_and_202(spec, path, method):
    op = spec["paths"][path][method]
    prefer = [p for p in op["parameters"] if p["in"] == "header" and p["name"] == "prefer"]
    assert len(prefer) == 1
    assert "respond-async" in prefer[0]["description"]
    accepted = op["responses"]["202"]
    assert accepted["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Accepted"
    }
    assert {"Location", "Preference-Applied"} <= set(accepted["headers"])
    # The synchronous answer stays the documented success.
    assert {"200", "201"} & set(op["responses"])


async def test_only_those_operations_take_prefer(spec):
    taking = {
        (path, method)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if any(p["name"] == "prefer" for p in op.get("parameters", []))
    }
    assert taking == set(QUEUEABLE)


async def test_the_action_resource_is_published(spec):
    op = spec["paths"]["/api/v1/actions/{guid_action}"]["get"]
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ActionOut"}
    assert {"401", "404", "422"} <= set(op["responses"])
    schema = spec["components"]["schemas"]["ActionOut"]
    assert set(schema["properties"]) == {
        "guid_action",
        "type",
        "status",
        "result",
        "error",
        "status_code",
    }
    assert schema["properties"]["status"]["enum"] == ["queued", "running", "succeeded", "failed"]
