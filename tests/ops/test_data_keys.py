"""Secrets at rest: stored webhook URLs are Fernet tokens, and keys rotate."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from cryptography.fernet import Fernet

from tests.conftest import make_settings
from tests.factories import auth_headers
from ticket_service.kit import crypto
from ticket_service.ops.data_keys import UnreadableSecret, rotate_data_keys
from ticket_service.users.models import Role

URL = "https://93.184.215.14/services/T000/B000/very-secret"  # an address: no DNS in tests


@pytest.fixture(autouse=True)
def _restore_keyring(settings) -> Iterator[None]:
    yield
    crypto.configure(settings.data_key_list, settings.secret_key.get_secret_value())


def _stored(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT slack_webhook_url FROM services WHERE slug = 'general'")
        return str(row.fetchone()[0])  # type: ignore[index]


def _store(database_url: str, value: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE services SET slack_webhook_url = %s WHERE slug = 'general'", (value,))


async def test_a_webhook_url_set_by_an_admin_is_stored_encrypted(app, client, database_url):
    admin = await auth_headers(app, "1", Role.admin)
    r = await client.patch(
        "/api/v1/services/general", json={"slack_webhook_url": URL}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert URL not in r.text

    stored = _stored(database_url)
    assert stored.startswith("gAAAAA")
    assert "very-secret" not in stored
    assert crypto.keyring().decrypt(stored) == URL


async def test_rotation_moves_every_value_to_the_new_key(settings, database_url, redis_url):
    _store(database_url, crypto.keyring().encrypt(URL))  # under the SECRET_KEY-derived key
    new = Fernet.generate_key().decode()
    rotated = make_settings(database_url, redis_url, "http://127.0.0.1:9", data_keys=new)

    assert await rotate_data_keys(rotated) == 1

    stored = _stored(database_url)
    assert Fernet(new.encode()).decrypt(stored.encode()).decode() == URL
    # The old key is no longer needed: a keyring without SECRET_KEY's reads it.
    other = crypto.Keyring([new], "another-secret-key-" + "y" * 20)
    assert other.decrypt(stored) == URL


async def test_rotation_encrypts_values_stored_in_the_clear(settings, database_url):
    _store(database_url, URL)  # as written before this version
    assert await rotate_data_keys(settings) == 1
    stored = _stored(database_url)
    assert stored.startswith("gAAAAA")
    assert crypto.keyring().decrypt(stored) == URL


async def test_a_value_no_key_opens_stops_the_rotation_before_any_write(settings, database_url):
    lost = Fernet(Fernet.generate_key()).encrypt(URL.encode()).decode()
    _store(database_url, lost)
    with pytest.raises(UnreadableSecret, match=r"services\.slack_webhook_url"):
        await rotate_data_keys(settings)
    assert _stored(database_url) == lost  # not overwritten with what could not be read
    assert crypto.keyring().decrypt(lost) == crypto.UNREADABLE


def test_data_keys_must_be_fernet_keys(database_url, redis_url):
    with pytest.raises(ValueError, match="DATA_KEYS: each key must be"):
        make_settings(database_url, redis_url, "http://127.0.0.1:9", data_keys="not-a-key")
