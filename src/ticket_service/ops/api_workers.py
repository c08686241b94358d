"""`ticket-service api --workers N`: uvicorn's supervisor (it restarts a dead or hung worker,
SIGHUP replaces them one by one), but each worker listens on a socket of its own.

uvicorn shares one listening socket between its workers, and the first worker to wake
takes every connection waiting on it (uvloop accepts until the queue is empty). Clients
that keep their connections (browsers, other services, a load balancer's pool) then stay
where that race put them: in `make bench`, 128 connections split as unevenly as 92/36,
and since each busy worker gets the same share of the CPU, the busier one's requests wait
about 92/36 = 2.5 times as long. With a socket per worker and SO_REUSEPORT the kernel
spreads new connections evenly over the workers instead.
"""

from __future__ import annotations

import logging
import socket
import sys

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import multiprocess


def reuse_port_socket(host: str, port: int, *, listen: bool, backlog: int = 2048) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class _OwnSocketWorker(multiprocess.Process):
    """A worker that binds its own listening socket when it starts."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover
        # Runs in the child process (coverage does not follow spawned children); the
        # tests see its effect: a listening socket per worker, connections spread.
        own = reuse_port_socket(self.config.host, self.config.port, listen=True)
        super().target([own])


def serve(config: Config) -> None:
    """Run `config.workers` workers until SIGINT/SIGTERM, as `uvicorn.run` would."""
    # Bound, not listening: the port is taken (an "address in use" stops the parent here,
    # not each worker in a restart loop) but this socket is given no connections. With
    # port 0 the workers share the one the kernel picked.
    try:
        reserved = reuse_port_socket(config.host, config.port, listen=False)
    except OSError as exc:
        # As uvicorn stops with one worker.
        logging.getLogger("uvicorn.error").error(exc)
        sys.exit(STARTUP_FAILURE)
    config.port = reserved.getsockname()[1]
    # uvicorn's supervisor makes its workers from this module attribute (init, restart
    # after a death, SIGHUP); ours differ only in where they listen.
    multiprocess.Process = _OwnSocketWorker  # type: ignore[misc]
    try:
        multiprocess.Multiprocess(config, sockets=[]).run()
    finally:
        reserved.close()
