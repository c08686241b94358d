"""The published API description: docs pages, seed paths, summaries, deprecations, errors."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_error
from tests.factories import auth_headers

SEED_OPERATIONS = {
    ("/api/tickets/open", "get"),
    ("/api/tickets/open", "post"),
    ("/api/tickets/change_status", "get"),
    ("/api/tickets/change_status", "post"),
    ("/api/tickets/get", "get"),
    ("/api/discord/auth_link", "get"),
    ("/api/discord/auth", "get"),
}
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.fixture
async def spec(client):
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield path, method, op


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_are_html(client, page):
    r = await client.get(page)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in r.text


async def test_seed_paths_are_published(spec):
    published = {(path, method) for path, method, _ in operations(spec)}
    assert published >= SEED_OPERATIONS


async def test_every_operation_has_a_summary(spec):
    missing = [(m, p) for p, m, op in operations(spec) if not op.get("summary", "").strip()]
    assert missing == []
    summaries = [op["summary"] for _, _, op in operations(spec)]
    assert len(set(summaries)) == len(summaries)  # each tells its own story


async def test_only_the_seed_get_variants_are_deprecated(spec):
    deprecated = {(p, m) for p, m, op in operations(spec) if op.get("deprecated")}
    assert deprecated == {("/api/tickets/open", "get"), ("/api/tickets/change_status", "get")}
    for path in ("/api/tickets/open", "/api/tickets/change_status"):
        assert "POST" in spec["paths"][path]["get"]["description"]  # tells what to use instead


async def test_error_responses_use_the_error_schema(spec):
    schemas = spec["components"]["schemas"]
    # FastAPI's default validation schema would describe a body the service never sends.
    assert "HTTPValidationError" not in schemas
    assert schemas["ErrorResponse"]["required"] == ["error"]
    assert schemas["ErrorResponse"]["properties"]["error"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert set(schemas["ErrorBody"]["properties"]) == {"code", "message", "details"}

    for path, method, op in operations(spec):
        responses = op["responses"]
        for status, response in responses.items():
            # Readiness answers its own check document, also when it is 503.
            if status[0] in "45" and path != "/health/ready":
                schema = response["content"]["application/json"]["schema"]
                assert schema == ERROR_REF, (method, path, status)
        if op.get("security"):
            assert "401" in responses, (method, path)
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in responses, (method, path)


async def test_seed_operations_document_their_errors(spec):
    paths = spec["paths"]
    change = paths["/api/tickets/change_status"]["post"]["responses"]
    assert {"400", "401", "403", "404", "422"} <= set(change)
    assert {"401", "413", "422"} <= set(paths["/api/tickets/open"]["post"]["responses"])
    assert {"401", "422"} <= set(paths["/api/tickets/get"]["get"]["responses"])


async def test_documented_error_shape_is_what_is_served(app, client, spec):
    body_fields = set(spec["components"]["schemas"]["ErrorBody"]["properties"])
    headers = await auth_headers(app, "6001")
    served = [
        await client.get("/api/tickets/get"),
        await client.get("/api/v1/tickets/not-a-uuid", headers=headers),
        await client.post("/api/tickets/open", json={"text": ""}, headers=headers),
    ]
    for status, r in zip((401, 422, 422), served, strict=True):
        assert set(assert_error(r, status)) == body_fields


async def test_bearer_and_seed_header_are_both_described(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert (schemes["APIKeyHeader"]["in"], schemes["APIKeyHeader"]["name"]) == (
        "header",
        "access_token",
    )
    seed_get = spec["paths"]["/api/tickets/get"]["get"]
    assert {"HTTPBearer": []} in seed_get["security"]
    assert {"APIKeyHeader": []} in seed_get["security"]
