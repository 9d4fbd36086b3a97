"""SQL failures are told apart by SQLSTATE class, however SQLAlchemy wraps them: a data or constraint error is one
row's refusal, a connection, resource or shutdown error is an outage (issue 12, findings 1 and 8)."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection, AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from hotstore.core.sql_errors import refused_by_sql, sql_unreachable, sqlstate_of

_DBAPI = AsyncAdapt_asyncpg_dbapi(asyncpg)


def as_sqlalchemy_raises(error: Exception) -> DBAPIError:
    """``error`` wrapped the way the asyncpg dialect and SQLAlchemy wrap it for the caller."""
    try:
        AsyncAdapt_asyncpg_connection._handle_exception_no_connection(_DBAPI, error)
    except Exception as translated:
        wrapped = DBAPIError.instance("INSERT …", {}, translated, _DBAPI.Error)
        assert isinstance(wrapped, DBAPIError)
        return wrapped
    raise AssertionError("not translated")


REFUSALS = [
    asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape sequence"),
    asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),
    asyncpg.exceptions.InvalidTextRepresentationError("invalid input syntax for type json"),
    asyncpg.exceptions.StringDataRightTruncationError("value too long for type character varying(50)"),
    asyncpg.exceptions.NumericValueOutOfRangeError("numeric field overflow"),
    asyncpg.exceptions.ForeignKeyViolationError("insert or update violates foreign key constraint"),
    asyncpg.exceptions.CheckViolationError("violates check constraint"),
]
OUTAGES = [
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
]


@pytest.mark.parametrize("error", REFUSALS, ids=lambda e: type(e).__name__)
def test_a_data_or_constraint_error_is_a_refused_row_not_an_outage(error: Exception) -> None:
    wrapped = as_sqlalchemy_raises(error)
    assert sqlstate_of(wrapped) == error.sqlstate  # type: ignore[attr-defined]
    assert refused_by_sql(wrapped) and not sql_unreachable(wrapped)


@pytest.mark.parametrize("error", OUTAGES, ids=lambda e: type(e).__name__)
def test_a_connection_resource_or_shutdown_error_is_an_outage_not_a_refused_row(error: Exception) -> None:
    wrapped = as_sqlalchemy_raises(error)
    assert sql_unreachable(wrapped) and not refused_by_sql(wrapped)


def test_a_value_the_driver_cannot_encode_is_a_refused_row() -> None:
    error = asyncpg.exceptions.DataError("invalid input for query argument $1: 'a\\ud800' (encoding error)")
    wrapped = as_sqlalchemy_raises(error)
    assert refused_by_sql(wrapped) and not sql_unreachable(wrapped)


def test_errors_without_a_sqlstate_fall_back_to_their_class() -> None:
    assert refused_by_sql(IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")))
    assert refused_by_sql(StatementError("cannot bind", "INSERT", {}, TypeError("x")))
    assert sql_unreachable(OperationalError("SELECT", {}, Exception("database is locked")))
    assert sql_unreachable(PoolTimeout("QueuePool limit of size 1 overflow 0 reached"))
    assert sql_unreachable(ConnectionRefusedError(111, "Connection refused"))
    assert not sql_unreachable(RuntimeError("a bug")) and not refused_by_sql(RuntimeError("a bug"))
