from tests.factories import auth_headers, open_ticket


async def test_open_and_read_back(app, client):
    headers = await auth_headers(app, "1001")
    ticket = await open_ticket(client, headers, "Принтер\nне печатает")
    assert ticket["title"] == "Принтер"
    r = await client.get(f"/api/v1/tickets/{ticket['guid_ticket']}", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["text"] == "Принтер\nне печатает"
