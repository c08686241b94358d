"""The published contract of conditional requests and Idempotency-Key: an operation that
reads `If-Match` documents 412 (and 400 for a malformed header), one that reads
`If-None-Match` documents 304, one that reads `Idempotency-Key` documents 400, 409 and 422.
A route added later with the mechanism but without its statuses fails here."""

from __future__ import annotations

from ticket_service.main import create_app

REQUIRED = {
    "if-match": {"400", "412"},
    "if-none-match": {"304", "400"},
    "idempotency-key": {"400", "409", "422"},
}


def test_operations_document_what_their_conditions_answer(settings) -> None:
    spec = create_app(settings).openapi()
    seen: set[str] = set()
    missing: list[str] = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            for header, statuses in REQUIRED.items():
                if header in headers:
                    seen.add(header)
                    lacking = statuses - set(operation["responses"])
                    if lacking:
                        missing.append(f"{method.upper()} {path}: {header} without {lacking}")
    assert missing == []
    assert seen == set(REQUIRED)  # the check itself looked at something
