"""`ticket-service rotate-data-keys`: every secret stored in the database, re-encrypted
under the first key of DATA_KEYS (or the SECRET_KEY-derived key when DATA_KEYS is unset).

Run it after putting a new key first in DATA_KEYS (old keys after it), or after upgrading
from a version that stored webhook URLs in the clear; then the old keys may be dropped.
"""

from __future__ import annotations

from sqlalchemy import inspect, or_, select
from sqlalchemy.orm import attributes

from ticket_service.catalog.models import Service
from ticket_service.config import Settings
from ticket_service.db import create_engine, create_sessionmaker
from ticket_service.kit import crypto
from ticket_service.users.models import User

# Every column of EncryptedText, by model.
ENCRYPTED: dict[type[Service] | type[User], tuple[str, ...]] = {
    Service: ("slack_webhook_url", "discord_webhook_url"),
    User: ("discord_access_token", "discord_refresh_token"),
}


class UnreadableSecret(RuntimeError):
    pass


async def rotate_data_keys(settings: Settings) -> int:
    """How many values were rewritten. All or nothing: one value no configured key opens
    stops the run before anything is written (it would be lost otherwise)."""
    crypto.configure(settings.data_key_list, settings.secret_key.get_secret_value())
    engine = create_engine(settings)
    rewritten = 0
    try:
        async with create_sessionmaker(engine, settings)() as session, session.begin():
            for model, columns in ENCRYPTED.items():
                present = [getattr(model, c).is_not(None) for c in columns]
                rows = await session.scalars(select(model).where(or_(*present)).with_for_update())
                for row in rows:
                    for column in columns:
                        value = getattr(row, column)
                        if value is None:
                            continue
                        if value == crypto.UNREADABLE:
                            raise UnreadableSecret(
                                f"{model.__tablename__}.{column} of {inspect(row).identity} "
                                "opens with "
                                "no key in DATA_KEYS or SECRET_KEY: add the key it was "
                                "written with to DATA_KEYS and run this again"
                            )
                        attributes.flag_modified(row, column)  # written again: new key
                        rewritten += 1
    finally:
        await engine.dispose()
    return rewritten
