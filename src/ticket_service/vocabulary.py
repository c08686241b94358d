"""The words of the domain, each defined once: ticket statuses and priorities with their
names in every language we speak.

Everything else derives from here: the CHECK constraints, request validation, the list
filters, the workflow table, metrics labels, notification texts, the docs. A leaf module
(it imports nothing of ours), so every layer may use it.
"""

from __future__ import annotations

import enum

LOCALES = ("ru", "en")
DEFAULT_LOCALE = "ru"


class Status(enum.StrEnum):
    open = "open"
    processing = "processing"
    waiting = "waiting"  # for the author's answer; the author's reply moves it back
    closed_success = "closed_success"
    closed_fail = "closed_fail"

    @property
    def is_closed(self) -> bool:
        return self in (Status.closed_success, Status.closed_fail)

    def label(self, locale: str) -> str:
        return STATUS_LABELS[locale][self]


class Priority(enum.StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"

    def label(self, locale: str) -> str:
        return PRIORITY_LABELS[locale][self]


STATUS_LABELS: dict[str, dict[Status, str]] = {
    "ru": {
        Status.open: "Открыта",
        Status.processing: "В работе",
        Status.waiting: "Ждёт ответа автора",
        Status.closed_success: "Выполнена",
        Status.closed_fail: "Закрыта без решения",
    },
    "en": {
        Status.open: "Open",
        Status.processing: "In progress",
        Status.waiting: "Waiting for the author",
        Status.closed_success: "Done",
        Status.closed_fail: "Closed unresolved",
    },
}

PRIORITY_LABELS: dict[str, dict[Priority, str]] = {
    "ru": {
        Priority.low: "Низкий",
        Priority.normal: "Обычный",
        Priority.high: "Высокий",
        Priority.urgent: "Срочный",
    },
    "en": {
        Priority.low: "Low",
        Priority.normal: "Normal",
        Priority.high: "High",
        Priority.urgent: "Urgent",
    },
}


class SlaTarget(enum.StrEnum):
    """The two clocks of an SLA policy (sla/)."""

    first_response = "first_response"
    resolution = "resolution"

    def label(self, locale: str) -> str:
        return SLA_TARGET_LABELS[locale][self]


SLA_TARGET_LABELS: dict[str, dict[SlaTarget, str]] = {
    "ru": {SlaTarget.first_response: "первый ответ", SlaTarget.resolution: "решение"},
    "en": {SlaTarget.first_response: "first response", SlaTarget.resolution: "resolution"},
}


def one_of(values: type[enum.StrEnum]) -> str:
    """`a | b | c`, for descriptions in the OpenAPI schema."""
    return " | ".join(v.value for v in values)


def sql_in(column: str, values: type[enum.StrEnum]) -> str:
    """A CHECK constraint's condition: `column IN ('a', 'b')`."""
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


def locale_or_default(value: str | None) -> str:
    """One of LOCALES: Discord's `ru`, `en-US`, `en-GB` map to ours; others to the default."""
    short = (value or "").split("-")[0].lower()
    return short if short in LOCALES else DEFAULT_LOCALE
