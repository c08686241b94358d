"""Fault suite: `make fault-test` (see faults/run.py)."""
