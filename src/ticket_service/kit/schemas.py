"""Shared field types for request bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


def storable(value: str) -> str:
    """Refuse what PostgreSQL cannot store in text: NUL, and lone surrogates (not UTF-8)."""
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def _trimmed_not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


# Any string that reaches the database.
StorableStr = Annotated[str, AfterValidator(storable)]
# Text stored verbatim (HTML, Cyrillic, emoji), trimmed at the ends, never blank or with NUL.
CleanText = Annotated[str, AfterValidator(storable), AfterValidator(_trimmed_not_blank)]


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields are refused so typos don't pass silently."""

    model_config = ConfigDict(extra="forbid")
