"""What the bot says, in Russian and English (the reader's Discord language)."""

from __future__ import annotations

from ticket_service.vocabulary import locale_or_default

WORDS: dict[str, dict[str, str]] = {
    "ru": {
        "claim": "Взять себе",
        "processing": "В работу",
        "waiting": "Ждать автора",
        "close_success": "Выполнена",
        "close_fail": "Закрыть без решения",
        "reply": "Ответить",
        "note": "Заметка",
        "author": "Автор",
        "priority": "Приоритет",
        "status": "Статус",
        "assignee": "Исполнитель",
        "service": "Сервис",
        "source": "Сообщение",
        "sla": "SLA",
        "sla_due": "срок {due}",
        "sla_paused": "на паузе: ждём автора",
        "sla_breached": "нарушен: {targets}",
        "nobody": "никто",
        "modal_title": "Новая заявка",
        "title": "Заголовок",
        "title_hint": "Коротко; пусто — первая строка текста",
        "text": "Что нужно",
        "reason_title": "Закрыть без решения",
        "reason": "Причина",
        "reply_title": "Ответ автору",
        "note_title": "Внутренняя заметка",
        "body": "Текст",
        "opened": "Заявка #{number} открыта: {link}",
        "no_open": "У вас нет открытых заявок.",
        "your_open": "Ваши открытые заявки:",
        "done": "Готово.",
        "rated": "Спасибо за оценку {stars}!",
        "replayed": "Это действие уже выполнено.",
        "outsider": "Действовать могут только участники сервера компании.",
        "membership_unknown": "Не удалось проверить, что вы в сервере компании. Попробуйте позже.",
        "unknown_user": "Сначала войдите в сервис заявок через Discord.",
        "unknown": "Неизвестная команда.",
        "later": "Это действие пока недоступно.",
        "failed": "Не получилось: {message}",
    },
    "en": {
        "claim": "Claim",
        "processing": "Start",
        "waiting": "Wait for author",
        "close_success": "Done",
        "close_fail": "Close unresolved",
        "reply": "Reply",
        "note": "Note",
        "author": "Author",
        "priority": "Priority",
        "status": "Status",
        "assignee": "Assignee",
        "service": "Service",
        "source": "Message",
        "sla": "SLA",
        "sla_due": "due {due}",
        "sla_paused": "paused: waiting for the author",
        "sla_breached": "breached: {targets}",
        "nobody": "nobody",
        "modal_title": "New ticket",
        "title": "Title",
        "title_hint": "Short; empty = the first line of the text",
        "text": "What is needed",
        "reason_title": "Close unresolved",
        "reason": "Reason",
        "reply_title": "Reply to the author",
        "note_title": "Internal note",
        "body": "Text",
        "opened": "Ticket #{number} is open: {link}",
        "no_open": "You have no open tickets.",
        "your_open": "Your open tickets:",
        "done": "Done.",
        "rated": "Thank you for rating it {stars}!",
        "replayed": "This was done already.",
        "outsider": "Only members of the company server may do this.",
        "membership_unknown": "Could not check that you are on the company server. "
        "Try again later.",
        "unknown_user": "Sign in to the ticket service with Discord first.",
        "unknown": "Unknown command.",
        "later": "This action is not available yet.",
        "failed": "That did not work: {message}",
    },
}

# Refusals by error code (errors.AppError.code); any other is "failed" with its message.
REFUSALS: dict[str, dict[str, str]] = {
    "ru": {
        "transition_not_allowed": "Это может сделать только сотрудник службы.",
        "invalid_transition": "Из текущего статуса заявку так перевести нельзя.",
        "same_status": "Заявка уже в этом статусе.",
        "ticket_not_found": "Заявка не найдена или недоступна вам.",
        "version_conflict": "Заявку только что изменили; попробуйте ещё раз.",
        "already_assigned": "Заявку уже взял другой сотрудник.",
        "unknown_service": "Такого сервиса нет или он неактивен.",
        "forbidden": "У вас нет прав на это действие.",
        "already_rated": "Вы уже оценили эту заявку.",
        "not_closed": "Оценить можно только закрытую заявку.",
        "not_author": "Оценить заявку может только её автор.",
    },
    "en": {
        "transition_not_allowed": "Only the service's staff may do this.",
        "invalid_transition": "The ticket cannot move there from its current status.",
        "same_status": "The ticket has this status already.",
        "ticket_not_found": "No such ticket, or it is not visible to you.",
        "version_conflict": "The ticket was just changed; please try again.",
        "already_assigned": "Another agent has taken the ticket.",
        "unknown_service": "There is no such active service.",
        "forbidden": "You may not do this.",
        "already_rated": "You have rated this ticket already.",
        "not_closed": "A ticket can be rated once it is closed.",
        "not_author": "Only the ticket's author may rate it.",
    },
}


def say(locale: str | None, key: str, **fields: object) -> str:
    return WORDS[locale_or_default(locale)][key].format(**fields)


def refusal(locale: str | None, code: str, message: str) -> str:
    lang = locale_or_default(locale)
    return REFUSALS[lang].get(code) or say(lang, "failed", message=message)
