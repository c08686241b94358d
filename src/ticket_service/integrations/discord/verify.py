"""Discord signs every interaction: Ed25519 over `X-Signature-Timestamp` + the raw body,
with the application's key. Nothing of a request is read before this check passes."""

from __future__ import annotations

import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ticket_service.errors import Unauthorized

# How far a request's timestamp may be from our clock: a captured request is worthless
# after this (and a repeated interaction id is refused within it).
MAX_SKEW_SECONDS = 300


class BadSignature(Unauthorized):
    code = "invalid_signature"
    headers: dict[str, str] = {}
    message = "The request is not signed by Discord"


def check_signature(
    public_key_hex: str,
    signature_hex: str | None,
    timestamp: str | None,
    body: bytes,
    now: float | None = None,
) -> None:
    """Raise BadSignature unless the request is Discord's, and recent."""
    if not public_key_hex or not signature_hex or not timestamp:
        raise BadSignature()
    try:
        signature = bytes.fromhex(signature_hex)
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        sent_at = int(timestamp)
    except ValueError:
        raise BadSignature() from None
    if abs((time.time() if now is None else now) - sent_at) > MAX_SKEW_SECONDS:
        raise BadSignature("The request's timestamp is too far from now")
    try:
        key.verify(signature, timestamp.encode() + body)
    except InvalidSignature:
        raise BadSignature() from None
