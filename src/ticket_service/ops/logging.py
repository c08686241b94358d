"""Structured logs: JSON lines on stdout in production, readable lines in development.

Everything goes through structlog, including the standard library's loggers (uvicorn,
procrastinate, alembic), so every line of a request carries the `request_id` and
`guid_action` bound by the action-log middleware, and every line of a job its job id.
"""

from __future__ import annotations

import contextlib
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
    processors = [*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter]
    structlog.configure(
        processors=processors,
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
    global _direct
    # ExtraAdder reads a stdlib LogRecord, which the request line does not make.
    chain = [p for p in shared if not isinstance(p, structlog.stdlib.ExtraAdder)]
    _direct = _DirectLine(processors, handler, [*chain, renderer])
    # uvicorn's access log duplicates what our request log line says.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx's line per request ("HTTP Request: POST <url>") repeats what our delivery_* and
    # request lines say, costs a log record per webhook sent, and quotes the full URL:
    # webhook URLs are credentials.
    logging.getLogger("httpx").setLevel(logging.WARNING)


# --- the request line ----------------------------------------------------------------------

REQUEST_LOGGER = "ticket_service.request"
_request_log = structlog.get_logger(REQUEST_LOGGER)
_stdlib_request_logger = logging.getLogger(REQUEST_LOGGER)


class _DirectLine:
    """The request line's way around the standard library: the same processors and
    renderer as every other line, written to the same handler's stream, without a
    LogRecord, its caller lookup (a walk up the stack) and ProcessorFormatter's copies
    (33 → 15 µs a request)."""

    def __init__(
        self,
        configured: list[structlog.types.Processor],
        handler: logging.StreamHandler[TextIO],
        chain: list[structlog.types.Processor],
    ) -> None:
        self.configured = configured
        self.as_configured = tuple(configured)  # capture_logs() swaps the list's contents
        self.handler = handler
        self.chain = chain

    def current(self) -> bool:
        """Only while nothing has configured logging since (tests capture it their way)."""
        processors = structlog.get_config()["processors"]
        return (
            processors is self.configured
            and tuple(processors) == self.as_configured
            and logging.getLogger().handlers == [self.handler]
        )

    def write(self, fields: dict[str, Any]) -> None:
        event: Any = {**fields, "event": "request"}
        for processor in self.chain:
            event = processor(_stdlib_request_logger, "info", event)
        stream = self.handler.stream
        # As logging's own handlers: a line that cannot be written never fails the request.
        lock = self.handler.lock or contextlib.nullcontext()
        with lock, contextlib.suppress(OSError, ValueError):
            stream.write(f"{event}\n")
            stream.flush()


_direct: _DirectLine | None = None


def log_request(**fields: Any) -> None:
    """The one line each HTTP request leaves (ops/edge.py), as `log.info("request", ...)`
    on the `ticket_service.request` logger would write it."""
    if not _stdlib_request_logger.isEnabledFor(logging.INFO):
        return
    direct = _direct
    if direct is not None and direct.current():
        direct.write(fields)
    else:
        _request_log.info("request", **fields)
