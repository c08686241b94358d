"""Channels: each sends one rendered message to one target, or says why it could not.

A channel raises PermanentFailure when trying again cannot help (a 4xx other than
408/429, a refused address, a target no longer configured) and TemporaryFailure when it
can (network errors, 5xx, 408, 429 with its Retry-After).
"""

from __future__ import annotations


class DeliveryFailure(Exception):
    pass


class PermanentFailure(DeliveryFailure):
    pass


class TemporaryFailure(DeliveryFailure):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
