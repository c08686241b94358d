"""Secrets at rest: credentials we must be able to read back (webhook URLs, Discord grants)
are stored as Fernet tokens (AES-CBC + HMAC-SHA256, from `cryptography`).

Keys: DATA_KEYS (Fernet keys, newest first) when set, and always last a key derived from
SECRET_KEY with HKDF, so a database written before DATA_KEYS existed stays readable.
MultiFernet encrypts with the first key and decrypts with any; `ticket-service
rotate-data-keys` rewrites every stored secret under the first key.
"""

from __future__ import annotations

import base64
from typing import Any

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

log = structlog.get_logger(__name__)

# Every Fernet token starts so (version byte 0x80, then the timestamp's high bytes).
TOKEN_PREFIX = "gAAAAA"  # noqa: S105 - a format marker, not a secret
# What a secret reads as when no configured key opens it: not a URL any check accepts,
# so deliveries to it end dead with a reason instead of every read failing.
UNREADABLE = "unreadable:"


def derived_key(secret_key: str) -> bytes:
    """The Fernet key HKDF-SHA256 derives from SECRET_KEY (a separate use of it)."""
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"ticket-service data key v1"
    ).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


def new_key() -> str:
    return Fernet.generate_key().decode()


class Keyring:
    def __init__(self, data_keys: list[str], secret_key: str) -> None:
        try:
            keys = [Fernet(key.encode()) for key in data_keys]
        except ValueError as exc:
            raise ValueError(
                "DATA_KEYS: each key must be 32 url-safe base64-encoded bytes "
                "(ticket-service rotate-data-keys --new-key prints one)"
            ) from exc
        self._fernet = MultiFernet([*keys, Fernet(derived_key(secret_key))])

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(TOKEN_PREFIX):
            return stored  # written before encryption: rotate-data-keys encrypts it
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            log.error("secret_unreadable", reason="no key in DATA_KEYS/SECRET_KEY opens it")
            return UNREADABLE


_current: Keyring | None = None


def configure(data_keys: list[str], secret_key: str) -> Keyring:
    """Install the process's keyring (the api and the worker call this at start-up)."""
    global _current
    _current = Keyring(data_keys, secret_key)
    return _current


def keyring() -> Keyring:
    if _current is None:
        from ticket_service.config import get_settings

        settings = get_settings()
        return configure(settings.data_key_list, settings.secret_key.get_secret_value())
    return _current


class EncryptedText(TypeDecorator[str]):
    """Text holding a Fernet token; the ORM sees the plain value."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else keyring().encrypt(str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else keyring().decrypt(str(value))
