"""Opt-in Prometheus metrics of the hot path: calls and latency per call, for a bot process.

``HotStore.open(settings, metrics=registry)`` (a ``prometheus_client.CollectorRegistry``, or ``True`` for the
default registry) replaces, on that one store, each public call with a timed twin; without ``metrics`` nothing
is replaced: the store's methods are the plain ones and cost nothing more. Serve the registry the usual way,
e.g. ``prometheus_client.start_http_server(9465)``::

    store = await HotStore.open(settings, metrics=True)
    await store.bot("quiz_bot").add_xp(42, 10)   # counted under call="add_xp"

Two metrics, one series per call name:

- ``hotstore_store_calls_total{call, outcome}``: ``ok``; ``invalid`` (the call was refused: ``InvalidInput``,
  ``NotFound``, a domain rule); ``unavailable`` (``StoreUnavailable``: Redis unreachable); ``error`` (anything
  else, e.g. SQL down during a read-through);
- ``hotstore_store_call_duration_seconds{call}``: a histogram of the call's time, whatever its outcome.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from hotstore.core.errors import HotstoreError, InvalidInput, StoreUnavailable

if TYPE_CHECKING:
    from hotstore.core.sessions import BotStore
    from hotstore.core.store import HotStore

STORE_CALLS = ("get_user", "user_id", "ensure_user")
BOT_CALLS = ("get_session", "save_session", "reset_session", "patch_session", "add_xp")
BOARD_CALLS = ("page", "rank", "competition_rank", "around", "count", "score")
OUTCOMES = ("ok", "invalid", "unavailable", "error")
CALL_BUCKETS_S = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

AsyncCall = Callable[..., Awaitable[Any]]


class CallMetrics:
    """The two instruments of one registry (created once per registry: names must be unique in it)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter("hotstore_store_calls_total", "Hot-path calls of the store, by call and outcome.",
                             ["call", "outcome"], registry=registry)
        self.seconds = Histogram("hotstore_store_call_duration_seconds", "Time of one hot-path call of the store.",
                                 ["call"], registry=registry, buckets=CALL_BUCKETS_S)
        self._bot_class: type[BotStore] | None = None

    def bot_class(self) -> type[BotStore]:
        """``BotStore`` with timed calls (one class per registry)."""
        if self._bot_class is None:
            from hotstore.core.sessions import BotStore

            methods = {name: self.timed(name, getattr(BotStore, name)) for name in BOT_CALLS}
            self._bot_class = type("TimedBotStore", (BotStore,), {"__doc__": BotStore.__doc__, **methods})
        return self._bot_class

    def timed(self, name: str, call: AsyncCall) -> AsyncCall:
        """``call`` counted and timed under ``name``; the label children are looked up once, here."""
        ok, invalid, unavailable, error = (self.calls.labels(name, outcome) for outcome in OUTCOMES)
        observe = self.seconds.labels(name).observe

        @functools.wraps(call)
        async def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = await call(*args, **kwargs)
            except StoreUnavailable:
                unavailable.inc()
                raise
            except HotstoreError:
                invalid.inc()
                raise
            except BaseException:
                error.inc()
                raise
            finally:
                observe(time.perf_counter() - started)
            ok.inc()
            return result

        return timed_call


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, CallMetrics] = weakref.WeakKeyDictionary()


def call_metrics(registry: CollectorRegistry) -> CallMetrics:
    """The instruments of ``registry``, created on first use (several stores may share one registry)."""
    metrics = _BY_REGISTRY.get(registry)
    if metrics is None:
        metrics = _BY_REGISTRY[registry] = CallMetrics(registry)
    return metrics


def resolve_registry(metrics: CollectorRegistry | bool | None) -> CollectorRegistry | None:
    """``True`` → the default registry; ``None``/``False`` → no metrics."""
    if metrics is True:
        return REGISTRY
    if metrics is None or metrics is False:
        return None
    if isinstance(metrics, CollectorRegistry):
        return metrics
    raise InvalidInput(f"metrics must be a prometheus_client.CollectorRegistry, True or None: {metrics!r}")


def instrument(store: HotStore, registry: CollectorRegistry) -> None:
    """Give ``store`` timed calls: its own, every ``store.bot(...)``'s, and its leaderboards'."""
    metrics = call_metrics(registry)
    for name in STORE_CALLS:
        setattr(store, name, metrics.timed(name, getattr(store, name)))
    for name in BOARD_CALLS:
        setattr(store.leaderboards, name, metrics.timed(name, getattr(store.leaderboards, name)))
    timed_bot = metrics.bot_class()
    plain_bot = store.bot

    def bot(bot_name: str | None = None) -> BotStore:
        handle = plain_bot(bot_name)
        handle.__class__ = timed_bot  # the same object, with the timed methods of the subclass
        return handle

    store.bot = bot  # type: ignore[method-assign]

