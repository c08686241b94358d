"""Shared field types for request bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


def _trimmed_not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


# Text stored verbatim (HTML, Cyrillic, emoji), trimmed at the ends, never blank or with NUL.
CleanText = Annotated[str, AfterValidator(_no_nul), AfterValidator(_trimmed_not_blank)]


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields are refused so typos don't pass silently."""

    model_config = ConfigDict(extra="forbid")
