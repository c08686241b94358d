"""`ticket-service api` as an operator runs it, on the test PostgreSQL and Valkey, for tests
that must speak real HTTP to it (a client of the original service, a SIGTERM)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

STARTUP_SECONDS = 30
CLI = str(Path(sys.executable).with_name("ticket-service"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def api_env(database_url: str, redis_url: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ENVIRONMENT": "test",
        "RATE_LIMIT_PER_MINUTE": "0",
        "AUTH_RATE_LIMIT_PER_MINUTE": "0",
    }


@contextmanager
def running_api(
    env: dict[str, str], workdir: Path, port: int | None = None, workers: int = 1
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Start the api on `port` (a free one if None) with `workers` processes, wait until
    /health/ready answers, kill it (and its workers) at the end. `workdir` is its cwd (so no
    developer's .env is read) and holds api.log."""
    port = port or free_port()
    log_path = workdir / "api.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [CLI, "api", "--port", str(port), "--workers", str(workers)],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=log,
            start_new_session=True,  # one process group: the workers go with it
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the api did not become ready"
                time.sleep(0.2)
            yield proc, port
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def mint_token(env: dict[str, str], workdir: Path, discord_id: str, role: str) -> str:
    """A token as the README tells a person to mint one: `ticket-service token`."""
    out = subprocess.run(
        [CLI, "token", "--discord-id", discord_id, "--role", role],
        env=env,
        cwd=workdir,
        capture_output=True,
        check=True,
    )
    return out.stdout.decode().strip()
