"""`ticket-service api|worker|migrate|dev|token|rotate-data-keys|discord sync-commands`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from pydantic import ValidationError

from ticket_service.config import get_settings
from ticket_service.ops.logging import SERVER_PROCESS
from ticket_service.users.models import Role


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticket-service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    api = sub.add_parser("api", help="serve the HTTP API (uvicorn)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1, help="worker processes")

    worker = sub.add_parser("worker", help="run background jobs")
    worker.add_argument("--concurrency", type=int, default=4)

    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")

    dev = sub.add_parser("dev", help="api + worker (+ embedded PostgreSQL/Valkey) for development")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--data-dir", default=".data", help="where embedded servers keep data")
    dev.add_argument(
        "--demo", action="store_true", help="seed demo services, people and tickets (once)"
    )

    keys = sub.add_parser(
        "rotate-data-keys", help="re-encrypt stored secrets under the first DATA_KEYS key"
    )
    keys.add_argument("--new-key", action="store_true", help="only print a fresh key for DATA_KEYS")

    discord = sub.add_parser("discord", help="the Discord application (commands)")
    discord_sub = discord.add_subparsers(dest="discord_command", required=True)
    discord_sub.add_parser(
        "sync-commands",
        help="register /ticket, /tickets and `Create ticket` in DISCORD_GUILD_ID "
        "(bulk overwrite: the guild has exactly these afterwards)",
    )

    token = sub.add_parser("token", help="mint an access token without Discord")
    token.add_argument("--discord-id", required=True, help="Discord id (digits)")
    token.add_argument("--role", choices=[r.value for r in Role], default=None)
    token.add_argument("--json", action="store_true", help="print user and token as JSON")
    return parser


def _config_problems(exc: ValidationError) -> list[str]:
    """One line per problem, without pydantic's framing (the operator fixes env vars)."""
    lines: list[str] = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        field = ".".join(str(part) for part in error["loc"]).upper()
        lines += [f"{field}: {m}" if field else m for m in message.splitlines()]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command: str = args.command
    try:
        get_settings()
    except ValidationError as exc:
        for line in _config_problems(exc):
            print(f"configuration: {line}", file=sys.stderr)
        return 2
    if command == "rotate-data-keys" and args.new_key:
        from ticket_service.kit.crypto import new_key

        print(new_key())
        return 0
    needs_database = ("api", "worker", "migrate", "token", "rotate-data-keys")
    if command in needs_database and not get_settings().database_url:
        print(
            f"DATABASE_URL is not set: `ticket-service {command}` needs a PostgreSQL server "
            "(or use `ticket-service dev`, which starts one)",
            file=sys.stderr,
        )
        return 2
    if command in ("api", "worker", "migrate", "dev"):
        from ticket_service.ops.logging import configure_logging

        settings = get_settings()
        configure_logging(settings.log_format == "json" and command != "dev", settings.log_level)
    if command == "api":
        import uvicorn

        from ticket_service.ops.http_protocol import HttpProtocol

        # uvicorn's worker processes (--workers N) import the app afresh: tell them they
        # are the server (create_app reads this).
        os.environ[SERVER_PROCESS] = "1"
        # On SIGTERM uvicorn stops accepting, lets in-flight requests finish (up to
        # timeout_graceful_shutdown), runs the lifespan shutdown, then raises the signal
        # again under the handler it found. The default one would turn that clean stop into
        # "killed by SIGTERM" (exit 143); this one exits 0.
        signal.signal(signal.SIGTERM, _exit_cleanly)

        app, options = (
            "ticket_service.main:create_app",
            dict(
                factory=True,
                host=args.host,
                port=args.port,
                loop="uvloop",
                http=HttpProtocol,  # httptools, a response's head and body in one send
                proxy_headers=True,
                access_log=False,  # our request log line says it (ops/logging.py)
                timeout_graceful_shutdown=20,
                log_config=None,  # keep our structured logging
            ),
        )
        if args.workers > 1:
            from ticket_service.ops.api_workers import serve

            # A listening socket per worker, so connections spread evenly over them.
            serve(uvicorn.Config(app, workers=args.workers, **options))
        else:
            uvicorn.run(app, **options)
    elif command == "worker":
        import uvloop  # comes with uvicorn[standard]; the api runs on it too

        from ticket_service.kit.heap import freeze_heap
        from ticket_service.worker.app import run_worker

        freeze_heap()  # everything imported: out of the collector's way, as in the api
        # uvloop: the job loop's own cost (fetch, finish, sockets) is about halved.
        uvloop.run(run_worker(get_settings(), args.concurrency))
    elif command == "migrate":
        from ticket_service.migrate import upgrade

        upgrade(get_settings().database_url)
    elif command == "dev":
        from ticket_service.devserver import run_dev

        return run_dev(args.host, args.port, args.data_dir, args.demo)
    elif command == "rotate-data-keys":
        return _rotate_data_keys()
    elif command == "token":
        return _token(args.discord_id, args.role, args.json)
    elif command == "discord":
        return _sync_commands()
    return 0


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _rotate_data_keys() -> int:
    from ticket_service.ops.data_keys import UnreadableSecret, rotate_data_keys

    try:
        count = asyncio.run(rotate_data_keys(get_settings()))
    except UnreadableSecret as exc:
        print(f"nothing rewritten: {exc}", file=sys.stderr)
        return 1
    print(f"{count} stored secrets encrypted under the first data key")
    return 0


def _sync_commands() -> int:
    from ticket_service.integrations.discord.commands import NotConfigured, sync_commands
    from ticket_service.kit.discord_rest import DiscordError

    try:
        registered = asyncio.run(sync_commands(get_settings()))
    except NotConfigured as exc:
        print(f"discord sync-commands: {exc}", file=sys.stderr)
        return 2
    except DiscordError as exc:
        print(f"discord sync-commands: {exc}", file=sys.stderr)
        return 1
    for command in registered:
        print(f"{command.get('id')}\t{command.get('name')}")
    return 0


def _token(discord_id: str, role: str | None, as_json: bool) -> int:
    if not discord_id.isdigit():
        print("--discord-id must be digits (a Discord snowflake)", file=sys.stderr)
        return 2
    from ticket_service.auth.service import mint_token
    from ticket_service.db import create_engine, create_sessionmaker

    settings = get_settings()

    async def mint() -> tuple[str, str, int]:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine, settings)() as session:
                user, issued = await mint_token(
                    session, settings, discord_id, Role(role) if role else None
                )
                await session.commit()
                return issued.access_token, user.role, issued.expires_in
        finally:
            await engine.dispose()

    access_token, user_role, expires_in = asyncio.run(mint())
    if as_json:
        print(
            json.dumps(
                {
                    "discord_id": discord_id,
                    "role": user_role,
                    "access_token": access_token,
                    "expires_in": expires_in,
                }
            )
        )
    else:
        print(access_token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
