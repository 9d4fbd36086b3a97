"""Import a v4 ``users_data.json`` dump (the pre-SQL ``UserServicePersistent`` file) into SQL.

The file is ``{"<telegram id>": {"session": {...}, "stats": {...}}, ...}``. Each user becomes a ``users`` row
(``total_xp``, ``level``, ``total_trainings`` from the stats) and a ``bot_sessions`` row for ``bot_name``
whose documents are the JSON ones merged over the v4 defaults. Example::

    report = await migrate_json("users_data.json", bot_name="spin_bot", dry_run=False, settings=Settings.from_env())
    print(report.summary())

- Idempotent: values are written, never added, and unchanged rows are not touched; a second run writes nothing.
- Bad records (id not an integer, wrong types, oversized documents, text SQL cannot store such as NUL or a
  lone surrogate, absurd numbers, ids or keys that appear twice) are reported with their ids; the others are
  imported. A batch SQL refuses is retried record by record: only the records SQL refuses are reported and
  left out. A file that is not JSON, or nested too deep to parse, is one :class:`InvalidInput`.
- The hot store never shadows the import: clean Redis copies of imported users are evicted after the SQL
  write, and board scores are set if the boards are already built. Users with unflushed hot writes are left
  alone and reported in ``live_conflicts`` (flush, e.g. stop the bots, and run again).
- Batched (``batch_size`` users per SQL transaction and per Redis script); the input is copied to
  ``<file>.backup`` first, as v4's script did. Progress goes to ``progress`` (stderr by default): a
  ``rich`` progress bar on a terminal, plain lines elsewhere.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hotstore.cli.dump_reader import Dump, read_dump
from hotstore.core.cluster import RedisClient
from hotstore.core.constants import LUA_EXACT_INT
from hotstore.core.errors import InvalidInput
from hotstore.core.keys import KeyScheme, board_member, check_bot_name, session_member
from hotstore.core.redis_client import connect, reachable
from hotstore.core.scripts import JSON_IMPORT_EVICT, Scripts
from hotstore.core.settings import Settings
from hotstore.core.sql_errors import refused_by_sql, sql_reachable
from hotstore.core.validation import check_document, check_telegram_id
from persistence.defaults import default_session, default_stats
from persistence.engine import create_engine, create_tables
from persistence.json_import import ImportedUser, import_users
from persistence.types import INT32_MAX

DEFAULT_BATCH = 1000
_DECIMAL_ID = re.compile(r"^-?[0-9]{1,20}$")
# (stats key, users column, lowest allowed, highest allowed)
_COUNTERS = (
    ("total_xp", "total_xp", 0, LUA_EXACT_INT),
    ("current_level", "level", 1, INT32_MAX),
    ("total_trainings", "total_trainings", 0, INT32_MAX),
    ("total_score", "total_score", 0, LUA_EXACT_INT),
)


@dataclass(frozen=True)
class BadRecord:
    """A record that was not imported: its key in the file and why."""

    key: str
    reason: str


@dataclass
class MigrationReport:
    """What a run found and did. ``ok`` is true when every record was imported and nothing was left shadowed."""

    source: Path
    bot_name: str
    dry_run: bool
    records: int = 0
    valid: int = 0
    users_written: int = 0  # users rows inserted or changed (0 on a re-run of the same file)
    sessions_written: int = 0
    bad_records: list[BadRecord] = field(default_factory=list)
    live_conflicts: list[int] = field(default_factory=list)  # users with unflushed hot writes: not evicted
    backup: Path | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.bad_records and not self.live_conflicts

    def summary(self) -> str:
        """A few human-readable lines, bad records first."""
        lines = [f"bad record {bad.key!r}: {bad.reason}" for bad in self.bad_records]
        lines += [f"user {tg}: unflushed hot writes, not evicted (flush, then run again)" for tg in self.live_conflicts]
        verb = "would import" if self.dry_run else "imported"
        lines.append(
            f"{self.source}: {self.records} records, {verb} {self.valid} into bot {self.bot_name!r} "
            f"({self.users_written} users and {self.sessions_written} sessions written), "
            f"{len(self.bad_records)} bad, {self.seconds:.1f}s"
        )
        if self.backup is not None:
            lines.append(f"backup: {self.backup}")
        return "\n".join(lines)


async def migrate_json(
    path: str | Path,
    *,
    bot_name: str | None = None,
    dry_run: bool = False,
    settings: Settings | None = None,
    progress: TextIO | None = sys.stderr,
    batch_size: int = DEFAULT_BATCH,
) -> MigrationReport:
    """Import the v4 JSON dump at ``path`` into bot ``bot_name`` (``None`` → ``settings.bot_name``).

    Raises :class:`InvalidInput` if the file cannot be read or is not a JSON object; bad records inside a
    good file are reported in the result instead. ``dry_run`` validates and counts without writing anything.
    """
    started = time.monotonic()
    settings = settings or Settings.from_env()
    bot = check_bot_name(settings.bot_name if bot_name is None else bot_name)
    source = Path(path)
    dump = read_dump(source)
    report = MigrationReport(source=source, bot_name=bot, dry_run=dry_run, records=len(dump.records))
    users = list(_parse_records(dump, settings.max_document_bytes, report))
    report.valid = len(users)
    if not dry_run:
        report.backup = _backup(source)
        await _write(users, bot, settings, report, progress, batch_size)
    report.seconds = time.monotonic() - started
    return report


def _backup(source: Path) -> Path:
    backup = source.with_name(source.name + ".backup")
    shutil.copy2(source, backup)
    return backup


def _parse_records(dump: Dump, max_bytes: int, report: MigrationReport) -> Iterator[ImportedUser]:
    seen: dict[int, str] = {}
    for key, value in dump.records.items():
        if key in dump.duplicate_ids:
            report.bad_records.append(BadRecord(key, f"appears {dump.duplicate_ids[key]} times in the file; "
                                                     "none imported (which one is right?)"))
            continue
        duplicated = dump.duplicates_in(key)
        if duplicated:
            report.bad_records.append(BadRecord(key, f"keys appear twice in one object: {duplicated}"))
            continue
        try:
            user = parse_record(key, value, max_bytes)
        except InvalidInput as exc:
            report.bad_records.append(BadRecord(key, str(exc)))
            continue
        if user.telegram_id in seen:
            report.bad_records.append(BadRecord(key, f"same telegram id as record {seen[user.telegram_id]!r}"))
            continue
        seen[user.telegram_id] = key
        yield user


def parse_record(key: str, value: Any, max_bytes: int) -> ImportedUser:
    """One record of the dump, validated and merged over the v4 default session and stats."""
    if not _DECIMAL_ID.match(key):
        raise InvalidInput(f"key is not a decimal telegram id: {key!r}")
    telegram_id = check_telegram_id(int(key))
    if not isinstance(value, dict):
        raise InvalidInput(f"record must be an object with 'session' and 'stats', not {type(value).__name__}")
    documents = {}
    for name in ("session", "stats"):
        raw = value.get(name)
        documents[name] = check_document(name, {} if raw is None else raw)
        size = len(json.dumps(documents[name]).encode())
        if size > max_bytes:
            raise InvalidInput(f"{name} is {size} bytes, over the {max_bytes}-byte limit")
    stats = documents["stats"]
    counters = {column: _counter(stats, name, low, high) for name, column, low, high in _COUNTERS}
    return ImportedUser(
        telegram_id=telegram_id,
        total_xp=counters["total_xp"] or 0,
        level=counters["level"] or 1,
        total_trainings=counters["total_trainings"] or 0,
        total_score=counters["total_score"],
        bot_xp=counters["total_xp"] or 0,  # the dump came from a single bot: all its XP was earned there
        session_data={**default_session(), **documents["session"]},
        stats_data={**default_stats(), **stats},
    )


def _counter(stats: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = stats.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"stats.{name} must be an int between {low} and {high}: {value!r}")
    return value


async def _write(
    users: Sequence[ImportedUser],
    bot_name: str,
    settings: Settings,
    report: MigrationReport,
    progress: TextIO | None,
    batch_size: int,
) -> None:
    redis = connect(settings)
    engine = create_engine(settings.database_url, **settings.engine_options())
    try:
        async with reachable():
            await redis.ping()  # fail before the first SQL write if the hot store is down
        async with sql_reachable():
            await create_tables(engine)
        scripts = Scripts(redis)
        keys = settings.keys
        with ImportProgress(progress, len(users)) as shown:
            for start in range(0, len(users), batch_size):
                chunk = users[start : start + batch_size]
                batch = await _write_isolating_refused(engine, chunk, bot_name, report)
                if batch:
                    report.live_conflicts.extend(await _evict(redis, scripts, keys, bot_name, batch))
                shown.update(start + len(chunk))
    finally:
        await engine.dispose()
        await redis.aclose()


async def _write_batch(
    engine: AsyncEngine, batch: Sequence[ImportedUser], bot_name: str, report: MigrationReport
) -> None:
    async with sql_reachable(), AsyncSession(engine) as session, session.begin():
        counts = await import_users(session, bot_name, batch)
    report.users_written += len(counts.users_written)
    report.sessions_written += len(counts.sessions_written)


async def _write_isolating_refused(
    engine: AsyncEngine, batch: Sequence[ImportedUser], bot_name: str, report: MigrationReport
) -> list[ImportedUser]:
    """Write ``batch`` in one transaction; if SQL refuses it, record by record, reporting each record SQL refuses
    as bad. Returns the users committed."""
    try:
        await _write_batch(engine, batch, bot_name, report)
        return list(batch)
    except Exception as exc:
        if not refused_by_sql(exc):
            raise
    committed: list[ImportedUser] = []
    for user in batch:
        try:
            await _write_batch(engine, [user], bot_name, report)
        except Exception as exc:
            if not refused_by_sql(exc):
                raise
            first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            report.bad_records.append(BadRecord(str(user.telegram_id), f"SQL refused it: {first}"))
            report.valid -= 1
            continue
        committed.append(user)
    return committed


async def _evict(redis: RedisClient, scripts: Scripts, keys: KeyScheme, bot_name: str,
                 batch: Sequence[ImportedUser]) -> list[int]:
    """Drop the clean hot copies of ``batch`` (one script per shard) and, when the boards are built, put the
    evicted users' imported XP on them (absolute scores; each board its own slot). Returns the users left alone
    because they are dirty."""
    by_shard: dict[int, list[ImportedUser]] = {}
    for user in batch:
        by_shard.setdefault(keys.shard_of(user.telegram_id), []).append(user)
    conflicts: set[int] = set()
    for shard, users in by_shard.items():
        script_keys = [keys.dirty_users(shard), keys.dirty_sessions(shard)]
        args: list[str | int] = []
        for user in users:
            tg = user.telegram_id
            script_keys += [keys.user(tg), keys.session(bot_name, tg)]
            args += [str(tg), session_member(bot_name, tg)]
        conflicts.update(int(member) for member in await scripts.call(JSON_IMPORT_EVICT, script_keys, args))
    if await redis.exists(keys.boards_built):
        async with redis.pipeline(transaction=False) as pipe:
            for user in batch:
                if user.telegram_id in conflicts:
                    continue
                member = board_member(user.telegram_id)
                for board, score in ((keys.global_board, user.total_xp), (keys.bot_board(bot_name), user.bot_xp)):
                    if score > 0:
                        pipe.zadd(board, {member: score})
                    else:
                        pipe.zrem(board, member)
            await pipe.execute()
    return sorted(conflicts)


class ImportProgress:
    """The import's progress on ``stream``: a ``rich`` progress bar on a terminal, plain ``importing users: n/N``
    lines elsewhere (a pipe, a log); nothing for ``None``."""

    def __init__(self, stream: TextIO | None, total: int) -> None:
        self.stream, self.total = stream, total
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ImportProgress:
        if self.stream is not None and self.stream.isatty():
            self._bar = Progress(TextColumn("importing users"), BarColumn(), MofNCompleteColumn(),
                                 TaskProgressColumn(), TimeRemainingColumn(), console=Console(file=self.stream))
            self._task = self._bar.add_task("import", total=self.total)
            self._bar.start()
        return self

    def update(self, done: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done)
        elif self.stream is not None:
            self.stream.write(f"\rimporting users: {done}/{self.total} ({100 * done // max(self.total, 1)}%)")
            if done >= self.total:
                self.stream.write("\n")
            self.stream.flush()

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


__all__ = ["BadRecord", "MigrationReport", "migrate_json", "parse_record"]
