"""A client of the original service, replayed call for call against a real `ticket-service api`.

Written from the seed's contract, not from what our code answers: the original clients
call the seed paths with GET and query parameters, send the token either as
`Authorization: Bearer <t>` or as the `access_token` header, and read the new ticket's id
at `response["guid_ticket"]`. Real HTTP (not the in-process transport), because the
`access_token` header, with its underscore, must survive the server itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live_api import api_env, mint_token, running_api


@pytest.fixture
def base_env(database_url: str, redis_url: str) -> dict[str, str]:
    return api_env(database_url, redis_url)


@pytest.fixture
def base(base_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    with running_api(base_env, tmp_path) as (_, port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def bearer(base_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    token = mint_token(base_env, tmp_path, "7001", "employee")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def seed_header(base: str, base_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """An agent of the `general` service's team, sending the token the seed's way."""
    token = mint_token(base_env, tmp_path, "7002", "agent")
    admin = {"Authorization": f"Bearer {mint_token(base_env, tmp_path, '7003', 'admin')}"}
    r = httpx.put(f"{base}/api/v1/services/general/agents/7002", headers=admin)
    assert r.status_code == 200, r.text
    return {"access_token": token}


def open_ticket(base: str, headers: dict[str, str], text: str) -> str:
    r = httpx.get(f"{base}/api/tickets/open", params={"text": text}, headers=headers)
    assert r.status_code == 200, r.text
    response = r.json()["response"]
    assert "guid_ticket" in response
    return str(response["guid_ticket"])


def relevant(base: str, headers: dict[str, str], **params: str) -> list[dict[str, object]]:
    r = httpx.get(f"{base}/api/tickets/get", params=params, headers=headers)
    assert r.status_code == 200, r.text
    tickets: list[dict[str, object]] = r.json()["response"]["relevant_tickets"]
    return tickets


def test_open_answers_guid_ticket_at_the_top_of_response(base, bearer, seed_header):
    for headers in (bearer, seed_header):
        r = httpx.get(f"{base}/api/tickets/open", params={"text": "Не печатает"}, headers=headers)
        assert r.status_code == 200, r.text
        response = r.json()["response"]
        uuid.UUID(response["guid_ticket"])
        uuid.UUID(response["guid_action"])
        assert response["status"] == "open"
        assert response["text"] == "Не печатает"
        assert "ticket" not in response


def test_a_wrong_token_is_401(base):
    for headers in ({"Authorization": "Bearer nope"}, {"access_token": "nope"}, {}):
        r = httpx.get(f"{base}/api/tickets/open", params={"text": "x"}, headers=headers)
        assert r.status_code == 401, r.text
        r = httpx.get(f"{base}/api/tickets/get", headers=headers)
        assert r.status_code == 401, r.text


def test_missing_parameters_are_422(base, bearer, seed_header):
    r = httpx.get(f"{base}/api/tickets/open", headers=bearer)
    assert r.status_code == 422, r.text
    guid = open_ticket(base, bearer, "Нужен монитор")
    r = httpx.get(
        f"{base}/api/tickets/change_status",
        params={"new_status": "processing"},
        headers=seed_header,
    )
    assert r.status_code == 422, r.text
    r = httpx.get(
        f"{base}/api/tickets/change_status", params={"guid_ticket": guid}, headers=seed_header
    )
    assert r.status_code == 422, r.text


def test_change_status_chains_on_the_opened_ticket(base, bearer, seed_header):
    guid = open_ticket(base, bearer, "Сломался стул")
    params = {"guid_ticket": guid, "new_status": "processing"}
    r = httpx.get(f"{base}/api/tickets/change_status", params=params, headers=seed_header)
    assert r.status_code == 200, r.text
    response = r.json()["response"]
    assert (response["guid_ticket"], response["status"]) == (guid, "processing")
    uuid.UUID(response["guid_action"])

    r = httpx.get(f"{base}/api/tickets/change_status", params=params, headers=seed_header)
    assert r.status_code == 400, r.text  # the same status again


def test_get_filters_as_the_original_clients_use_them(base, bearer, seed_header):
    guid = open_ticket(base, bearer, "Нет доступа к почте")
    open_ticket(base, bearer, "Ещё одна")

    assert relevant(base, bearer, guid_ticket=str(uuid.uuid4())) == []
    found = relevant(base, bearer, guid_ticket=guid)
    assert [t["guid_ticket"] for t in found] == [guid]
    assert relevant(base, seed_header, author="7001")
    assert relevant(base, seed_header, status="open")
    assert relevant(base, bearer, status="open")

    r = httpx.get(f"{base}/api/tickets/get", params={"status": "nonsense"}, headers=bearer)
    assert r.status_code == 400, r.text
