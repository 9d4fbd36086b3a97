"""Errors raised by hotstore. Catch at the level you need::

HotstoreError
├── InvalidInput            bad argument: wrong type, out of range, unsafe name, oversized document;
│   │                       raised before anything is written (also a ValueError)
│   └── UnsafeRedisConfig   the Redis server is configured to evict data hotstore has not saved yet
├── NotFound                the user, session, payment or promocode named does not exist
├── StoreUnavailable        Redis or SQL cannot be reached
│   └── StoreFull           Redis refused a write (used memory above maxmemory); nothing was written
└── DomainError             a durable operation refused by the rules of the domain
    ├── InvalidTransition   a payment status change that is not allowed
    ├── PromocodeRejected   unknown, expired, exhausted or already used by this user
    └── InsufficientAccess  nothing left to consume
"""

from __future__ import annotations


class HotstoreError(Exception):
    """Base of every error hotstore raises on purpose."""


class InvalidInput(HotstoreError, ValueError):
    """An argument was rejected before anything was written; the message names the value."""


class NotFound(HotstoreError, LookupError):
    """The entity asked for does not exist."""


class StoreUnavailable(HotstoreError, ConnectionError):
    """Redis or the SQL database could not be reached."""


class UnsafeRedisConfig(InvalidInput):
    """Redis runs with a setting that can lose acknowledged data (an ``allkeys-*`` maxmemory-policy evicts dirty
    entities); the message names the setting and the fix. Raised when a store or a worker starts."""


class StoreFull(StoreUnavailable):
    """Redis refused a write because its used memory is above ``maxmemory`` (``noeviction``); nothing of the
    call was written. The write-behind evicts clean idle entities until writes fit again."""


class DomainError(HotstoreError):
    """A durable operation refused by the rules of the domain."""


class InvalidTransition(DomainError):
    """A payment status change outside PENDING→COMPLETED|FAILED, COMPLETED→REFUNDED."""


class PromocodeRejected(DomainError):
    """The promocode is unknown, expired, used up, or already used by this user; ``reason`` says which."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"promocode {code!r} rejected: {reason}")
        self.code = code
        self.reason = reason


class InsufficientAccess(DomainError):
    """There is no subscription, credit or free training left to consume."""
