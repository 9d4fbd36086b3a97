"""The ``hotstore`` command line: demo, worker, flush, status, repair-boards, db upgrade, leaderboard, user,
migrate-json, migrate-layout.

Every command reads its configuration from the environment (``DATABASE_URL``, ``REDIS_URL``, ``BOT_NAME``,
``HOTSTORE_*``); the global flags ``--database-url``, ``--redis-url``, ``--bot`` and ``--namespace`` override it,
before or after the command name::

    hotstore demo --duration 10
    hotstore --redis-url redis://localhost:6379/0 status --check
    hotstore leaderboard --board bot:spin_bot --limit 20

Expected failures (bad input, an unreachable Redis or database) print one line on stderr and exit non-zero;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from hotstore.cli.argtypes import number_arg, safe_url
from hotstore.core import constants as c
from hotstore.core import settings as env
from hotstore.core.errors import HotstoreError, InvalidInput
from hotstore.core.keys import DEFAULT_NAMESPACE
from hotstore.core.settings import Settings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace, Settings], int]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _global_options(suppress: bool) -> _Parser:
    """The configuration flags; on sub-commands their default is 'not given' so they do not mask the top level."""
    default: Any = argparse.SUPPRESS if suppress else None
    parent = _Parser(add_help=False)
    group = parent.add_argument_group("configuration (flags override the environment)")
    group.add_argument("--database-url", default=default, metavar="URL",
                       help=f"SQL database (env {env.ENV_DATABASE_URL}; default: SQLite file ./hotstore.db)")
    group.add_argument("--redis-url", default=default, metavar="URL",
                       help=f"Redis server (env {env.ENV_REDIS_URL}; default: in-process fakeredis)")
    group.add_argument("--bot", dest="bot_name", default=default, metavar="NAME",
                       help=f"bot name (env {env.ENV_BOT_NAME}; default {env.DEFAULT_BOT_NAME})")
    group.add_argument("--namespace", default=default, metavar="NS",
                       help=f"Redis key namespace (env {env.ENV_NAMESPACE}; default {DEFAULT_NAMESPACE})")
    group.add_argument("--debug", action="store_true", default=default, help="show tracebacks of errors")
    return parent


def settings_from_args(args: argparse.Namespace) -> Settings:
    """``Settings.from_env`` with the global flags as overrides."""
    return Settings.from_env(
        database_url=args.database_url, redis_url=args.redis_url, bot_name=args.bot_name, namespace=args.namespace
    )


# argparse types. telegram_id_arg: a Telegram id inside int64.
telegram_id_arg = number_arg(int, lambda value: c.INT64_MIN <= value <= c.INT64_MAX,
                             kind="a Telegram id (an integer)", refusal="Telegram id outside int64")
_positive_int = number_arg(int, lambda value: value > 0, kind="an integer", refusal="must be positive")
_positive_float = number_arg(float, lambda value: value > 0, kind="a number", refusal="must be positive")


_port = number_arg(int, lambda value: 1 <= value <= 65535, kind="a port number", refusal="port outside 1..65535")


def _non_negative_int(raw: str) -> int:
    return 0 if raw.strip() == "0" else _positive_int(raw)


# ---------------------------------------------------------------- commands


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from hotstore.cli.demo.run import run_demo_command

    return run_demo_command(args, settings)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from workers.commands import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_worker(settings, burst=args.burst, metrics_port=args.metrics_port)


def cmd_flush(args: argparse.Namespace, settings: Settings) -> int:
    from hotstore.cli.operations import flush_all

    _note_embedded(settings)
    return flush_all(settings)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from hotstore.cli.operations import status
    from hotstore.cli.output import dumps_json, print_renderable
    from hotstore.cli.tables import status_view
    from hotstore.cli.views import check_status

    if args.watch and (args.json or args.check):
        raise InvalidInput("--watch is a live view for a person: use --json or --check without it")
    _note_embedded(settings)
    if args.watch:
        from hotstore.cli.watch import watch_status

        return watch_status(settings, max_age=args.max_age, iterations=args.iterations, interval=args.interval)
    info = status(settings)
    healthy, reason = check_status(info, max_age=args.max_age)
    if args.json:
        print(dumps_json({**info, "healthy": healthy, "reason": reason}))
    elif not args.check or not healthy:
        print_renderable(status_view(info, healthy=healthy, reason=reason))
    if args.check:
        print(f"{'healthy' if healthy else 'UNHEALTHY'}: {reason}", file=sys.stdout if healthy else sys.stderr)
        return EXIT_OK if healthy else EXIT_FAILURE
    return EXIT_OK


def cmd_repair_boards(args: argparse.Namespace, settings: Settings) -> int:
    from hotstore.cli.operations import repair_boards_command
    from hotstore.cli.output import dumps_json

    _note_embedded(settings)
    report = repair_boards_command(settings, check_only=args.check)
    if args.json:
        print(dumps_json(report.as_dict()))
    else:
        verb = "to fix" if args.check else "fixed"
        print(f"{'board':<32} {'checked':>9} {'fixed':>7} {'added':>7} {'removed':>7}")
        for name, board in report.boards.items():
            print(f"{name:<32} {board.checked:>9} {board.fixed:>7} {board.added:>7} {board.removed:>7}")
        print(f"hotstore repair-boards: {report.differences} differences {verb} in {report.seconds:.1f} s")
    return EXIT_FAILURE if args.check and report.differences else EXIT_OK


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from persistence.migrate import upgrade_sync

    upgrade_sync(settings.database_url, args.revision)
    print(f"database upgraded to {args.revision}: {safe_url(settings.database_url)}")
    return EXIT_OK


def cmd_leaderboard(args: argparse.Namespace, settings: Settings) -> int:
    from hotstore.cli.views import show_leaderboard

    return asyncio.run(show_leaderboard(settings, args.board, limit=args.limit, offset=args.offset,
                                        as_json=args.json))


def cmd_user(args: argparse.Namespace, settings: Settings) -> int:
    from hotstore.cli.views import show_user

    return asyncio.run(show_user(settings, args.telegram_id, as_json=args.json))


def cmd_migrate_json(args: argparse.Namespace, settings: Settings) -> int:
    from hotstore.cli.migrate_json import migrate_json

    bot_name = args.target_bot or settings.bot_name
    report = asyncio.run(migrate_json(args.file, bot_name=bot_name, dry_run=args.dry_run, settings=settings))
    print(("dry run, nothing written\n" if args.dry_run else "") + report.summary())
    return EXIT_OK if report.ok else EXIT_FAILURE


def cmd_migrate_layout(args: argparse.Namespace, settings: Settings) -> int:
    from hotstore.cli.operations import migrate_layout

    return migrate_layout(settings, check=args.check)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from hotstore.cli.bench import main as bench_main

    return bench_main(args.bench_args)


def _note_embedded(settings: Settings) -> None:
    if settings.embedded_redis:
        from hotstore.cli.views import EMBEDDED_NOTE

        print(EMBEDDED_NOTE, file=sys.stderr)


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and documentation)."""
    sub_parent = _global_options(suppress=True)
    parser = _Parser(
        prog="hotstore",
        description="Redis-fronted, SQL-backed state for multi-bot Telegram systems.",
        parents=[_global_options(suppress=False)],
        epilog="Run 'hotstore <command> --help' for a command's options.",
    )
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)

    def add(name: str, handler: Handler, help_: str, description: str | None = None) -> argparse.ArgumentParser:
        cmd = commands.add_parser(name, help=help_, description=description or help_, parents=[sub_parent])
        cmd.set_defaults(handler=handler)
        return cmd

    from hotstore.cli.demo.run import add_demo_arguments

    add_demo_arguments(add(
        "demo", cmd_demo, "simulate bots and users chatting, then verify that SQL equals Redis",
        "Simulate bots and users chatting (sessions, XP, badges, subscriptions) with a live view, then drain to SQL "
        "and verify that SQL equals Redis; exit 1 if not. Without REDIS_URL/DATABASE_URL it needs no servers: "
        "in-process fakeredis, an in-process worker and a fresh SQLite file ./hotstore-demo.db.",
    ))
    worker = add("worker", cmd_worker, "run a write-behind worker (flush, leaderboard rebuild, idle sweep)",
                 "Run an arq worker against REDIS_URL (a real Redis is required) until SIGTERM/SIGINT, which "
                 "run a final flush. Run several to flush faster and for availability: each flushes its share of the "
                 "namespace's 64 shards, and takes over a dead worker's within 3 s.")
    worker.add_argument("--burst", action="store_true",
                        help="drain everything dirty once, then exit (0 when nothing is left dirty)")
    worker.add_argument("--metrics-port", type=_port, default=None, metavar="PORT",
                        help=f"serve Prometheus /metrics and /healthz on PORT (env {env.ENV_METRICS_PORT})")
    add("flush", cmd_flush, "flush every dirty user and session to SQL now, then exit")
    status = add("status", cmd_status, "show the dirty backlog, flush lag and worker metrics")
    status.add_argument("--check", action="store_true",
                        help="health check: exit 0 only if a worker flushed or beat recently")
    status.add_argument("--max-age", type=_positive_float, default=60.0, metavar="SECONDS",
                        help="with --check: how recent the last flush or heartbeat must be (default 60)")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.add_argument("--watch", action="store_true", help="a live view, refreshed every second (Ctrl-C ends it)")
    status.add_argument("--iterations", type=_positive_int, default=None, help=argparse.SUPPRESS)
    status.add_argument("--interval", type=_positive_float, default=1.0, help=argparse.SUPPRESS)
    repair = add("repair-boards", cmd_repair_boards,
                 "compare the leaderboards with users and sessions (Redis, else SQL) and fix them",
                 "Compare the global board, every bot board and the current week's board with the entities (the "
                 "Redis hash when hot, else SQL): add missing members, remove members whose user exists nowhere, "
                 "fix wrong scores. Workers run it every HOTSTORE_BOARD_REPAIR_INTERVAL seconds.")
    repair.add_argument("--check", action="store_true",
                        help="report the differences without writing; exit 1 if there are any")
    repair.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_db(add, commands)
    board = add("leaderboard", cmd_leaderboard, "print a page of a leaderboard")
    board.add_argument("--board", default="global", metavar="BOARD",
                       help="global | bot[:NAME] | week[:YYYY-Www] (default global; bot alone means --bot)")
    board.add_argument("--limit", type=_positive_int, default=10, help="rows to print (1..1000, default 10)")
    board.add_argument("--offset", type=_non_negative_int, default=0, help="rows to skip (default 0)")
    board.add_argument("--json", action="store_true", help="print as JSON")
    user = add("user", cmd_user, "show everything about one user: hot state (Redis) and durable state (SQL)")
    user.add_argument("telegram_id", type=telegram_id_arg, help="the user's Telegram id")
    user.add_argument("--json", action="store_true", help="print as JSON")
    migrate = add("migrate-json", cmd_migrate_json, "import a v4 JSON user file into SQL")
    migrate.add_argument("file", metavar="FILE", help="the JSON file")
    migrate.add_argument("--target-bot", "--as-bot", dest="target_bot", metavar="NAME",
                         help="bot whose sessions the file holds (default: --bot / BOT_NAME)")
    migrate.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
    layout = add("migrate-layout", cmd_migrate_layout,
                 "upgrade a namespace of hotstore 0.4 (every key under {ns}) to the sharded layout, bots running",
                 "Merge the single-tag boards into the sharded ones, seed SQL's week XP, move every single-tag "
                 "entity (dirty ones first) into its shard, then delete the rest and set the layout marker. "
                 "Idempotent; safe to interrupt and re-run. Exit 0 once the namespace is fully sharded.")
    layout.add_argument("--check", action="store_true",
                        help="write nothing; report what is left of the single-tag layout (exit 0 when nothing)")
    bench = commands.add_parser(
        "bench", help="benchmark hotstore against the v4 way and the raw Redis floor (real servers)", add_help=False
    )
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="options of 'hotstore bench --help'")
    bench.set_defaults(handler=cmd_bench, debug=False)
    return parser


def _add_db(add: Callable[..., argparse.ArgumentParser], commands: Any) -> None:
    db = add("db", _db_without_action, "database schema commands")
    db_commands = db.add_subparsers(dest="db_command", metavar="<db-command>", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", help="apply the Alembic migrations (create or update the schema)",
        description="Apply the Alembic migrations to DATABASE_URL (idempotent).", parents=[_global_options(True)],
    )
    upgrade.add_argument("--revision", default="head", help=argparse.SUPPRESS)
    upgrade.set_defaults(handler=cmd_db_upgrade)


def _db_without_action(args: argparse.Namespace, settings: Settings) -> int:
    raise InvalidInput("db needs a command: upgrade")


# ---------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script passes it to ``sys.exit``)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"]:  # the benchmark has its own options (and its own --redis-url)
        from hotstore.cli.bench import main as bench_main

        return bench_main(arguments[1:])
    args = build_parser().parse_args(arguments)
    try:
        settings = settings_from_args(args)
        handler: Handler = args.handler
        return handler(args, settings)
    except KeyboardInterrupt:
        print("hotstore: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug or not is_expected_failure(exc):
            raise
        print(f"hotstore {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE


def is_expected_failure(exc: BaseException) -> bool:
    """Failures a user can cause or fix (bad input, servers down, schema missing): no traceback for these."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError

    expected = (HotstoreError, RedisConnectionError, RedisTimeoutError, DBAPIError, OSError, ImportError)
    return isinstance(exc, expected)


def one_line(exc: BaseException) -> str:
    """The first non-empty line of an error's message, prefixed by what failed."""
    from redis.exceptions import RedisError
    from sqlalchemy.exc import DBAPIError

    text = str(exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    if isinstance(exc, RedisError):
        return f"Redis: {first}"
    if isinstance(exc, DBAPIError):
        missing = "no such table" in first or "does not exist" in first
        return f"SQL database: {first}" + (" (run 'hotstore db upgrade')" if missing else "")
    return first
