"""The background worker: procrastinate jobs stored in PostgreSQL."""
