"""E-mail over SMTP (aiosmtplib): text and HTML from the templates."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from ticket_service.config import Settings
from ticket_service.notifications.channels import PermanentFailure, TemporaryFailure
from ticket_service.notifications.messages import Message, email_bodies


async def build(settings: Settings, to: str, message: Message, delivery_id: int) -> EmailMessage:
    text, html = await email_bodies(message)
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = to
    mail["Subject"] = message.headline
    mail["Date"] = formatdate(localtime=False)
    # Stable per delivery: a copy re-sent after a crash is recognised by mail clients.
    domain = settings.smtp_from.rpartition("@")[2] or "ticket-service"
    mail["Message-ID"] = f"<delivery-{delivery_id}@{domain}>"
    mail["X-Ticket-Event-Id"] = str(message.view.event_id)
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    return mail


async def send(settings: Settings, to: str, message: Message, delivery_id: int) -> None:
    if not settings.smtp_host:
        raise PermanentFailure("SMTP_HOST is no longer configured")
    mail = await build(settings, to, message, delivery_id)
    try:
        await aiosmtplib.send(
            mail,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls,
            timeout=settings.notify_timeout_seconds,
        )
    # Reasons carry codes, never the server's text: it quotes the recipient's address, and
    # addresses stay out of logs and of what admins are shown.
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [response.code for response in exc.recipients]
        shown = ", ".join(str(code) for code in codes)
        if all(code >= 500 for code in codes):
            raise PermanentFailure(f"recipient refused by the mail server (SMTP {shown})") from exc
        raise TemporaryFailure(f"recipient deferred by the mail server (SMTP {shown})") from exc
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code >= 500:
            raise PermanentFailure(f"SMTP {exc.code} from the mail server") from exc
        raise TemporaryFailure(f"SMTP {exc.code} from the mail server") from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise TemporaryFailure(f"{type(exc).__name__} talking to the mail server") from exc
