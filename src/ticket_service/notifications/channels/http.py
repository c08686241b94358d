"""One POST with the status classification every HTTP channel shares."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ticket_service.notifications.channels import PermanentFailure, TemporaryFailure

RETRYABLE_4XX = (408, 429)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    json: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    # Redirects are never followed (the client is built so, and this says it again): a
    # receiver must not be able to bounce us to an address the outbound check refused.
    try:
        response = await client.post(
            url, json=json, content=content, headers=headers, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        # The type names what happened; the message may quote the URL, a credential.
        raise TemporaryFailure(f"{type(exc).__name__} calling the receiver") from exc
    if response.is_success:
        return response
    # The receiver's body is never kept: it is theirs, and may echo what we sent.
    code = response.status_code
    if response.is_redirect:
        raise PermanentFailure(f"HTTP {code} from receiver: redirects are not followed")
    summary = f"HTTP {code} from receiver"
    if code >= 500 or code in RETRYABLE_4XX:
        raise TemporaryFailure(summary, retry_after=_retry_after(response))
    raise PermanentFailure(summary)
