"""Notifications: one delivery row per (event, channel, recipient), sent by the worker."""
