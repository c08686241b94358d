"""The request line written around the standard library (ops/logging.py `log_request`) is
the line `log.info("request", ...)` writes: same fields, order, context and format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from ticket_service.ops.logging import configure_logging, log_request

FIELDS = {"method": "GET", "route": "/api/v1/me", "status": 200, "error": None, "actor": "1"}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], level = saved
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def both_lines(json_lines: bool) -> tuple[str, str]:
    out = io.StringIO()
    configure_logging(json_lines, "INFO", stream=out)
    structlog.contextvars.bind_contextvars(request_id="r-1", guid_action="g-1")
    structlog.get_logger("ticket_service.request").info("request", **FIELDS)
    log_request(**FIELDS)
    via_stdlib, direct = out.getvalue().splitlines()
    return via_stdlib, direct


def test_json_line_is_the_standard_one(restore_logging):
    via_stdlib, direct = (json.loads(line) for line in both_lines(json_lines=True))
    assert via_stdlib.pop("timestamp") <= direct.pop("timestamp")
    assert list(direct.items()) == list(via_stdlib.items())
    assert (direct["request_id"], direct["logger"], direct["level"]) == (
        "r-1",
        "ticket_service.request",
        "info",
    )


def test_console_line_is_the_standard_one(restore_logging):
    via_stdlib, direct = both_lines(json_lines=False)
    assert direct.split(" ", 1)[1] == via_stdlib.split(" ", 1)[1]  # after the timestamp


def test_logging_configured_elsewhere_gets_the_line_its_way(restore_logging):
    configure_logging(True, "INFO", stream=io.StringIO())
    with structlog.testing.capture_logs() as captured:
        log_request(**FIELDS)
    assert captured == [{**FIELDS, "event": "request", "log_level": "info"}]


def test_nothing_below_the_level(restore_logging):
    out = io.StringIO()
    configure_logging(True, "WARNING", stream=out)
    log_request(**FIELDS)
    assert out.getvalue() == ""


def test_a_line_that_cannot_be_written_does_not_fail_the_request(restore_logging):
    out = io.StringIO()
    configure_logging(True, "INFO", stream=out)
    out.close()
    log_request(**FIELDS)  # as logging's handlers: no exception for the caller
