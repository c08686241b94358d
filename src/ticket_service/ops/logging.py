"""Structured logs: JSON lines on stdout in production, readable lines in development.

Everything goes through structlog, including the standard library's loggers (uvicorn,
procrastinate, alembic), so every line of a request carries the `request_id` and
`guid_action` bound by the action-log middleware, and every line of a job its job id.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from ticket_service.ops.tracing import add_trace_ids

# Set by `ticket-service api` for its uvicorn worker processes, which import the app
# afresh: each configures logging like the CLI did, and readies its heap for serving
# (main.create_app).
SERVER_PROCESS = "TICKET_SERVICE_SERVER_PROCESS"

# Never written to a log line, whatever a caller binds: credentials and message bodies.
REDACTED_KEYS = frozenset(
    {"access_token", "refresh_token", "token", "code", "state", "password", "secret", "body"}
)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in REDACTED_KEYS & event.keys():
        event[key] = "***"
    return event


def configure_logging(json_lines: bool, level: str = "INFO", stream: TextIO | None = None) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,  # nothing unless tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT)
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Fields that stdlib loggers pass as `extra` (procrastinate: the job, its id and task).
        structlog.stdlib.ExtraAdder(),
        _redact,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log duplicates what our request log line says.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx's line per request ("HTTP Request: POST <url>") repeats what our delivery_* and
    # request lines say, costs a log record per webhook sent, and quotes the full URL:
    # webhook URLs are credentials.
    logging.getLogger("httpx").setLevel(logging.WARNING)
