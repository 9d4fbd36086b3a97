"""Tariffs as configuration: what a completed payment grants.

A tariff is data (name → kind, days or credits, price), not code, so a deployment can add or reprice
packs without a release::

    catalog = TariffCatalog.default().with_tariffs(Tariff("credits_3", SubscriptionType.CREDITS, credits=3,
                                                          price=Decimal("390.00")))
    catalog["month"].days  # 30

The defaults follow v4's payments module (month 990 ₽, year 6990 ₽, credit packs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

from persistence.enums import SubscriptionType
from persistence.types import to_money


class UnknownTariff(LookupError):
    """No tariff of that name in the catalog."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown tariff {name!r}")
        self.name = name


@dataclass(frozen=True)
class Tariff:
    """One thing a user can buy: ``days`` of a time subscription (MONTH/YEAR) or a pack of ``credits``."""

    name: str
    kind: SubscriptionType
    price: Decimal
    days: int | None = None
    credits: int | None = None
    currency: str = "RUB"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= 50:
            raise ValueError(f"tariff name must be 1-50 characters: {self.name!r}")
        object.__setattr__(self, "price", to_money(self.price))
        if self.kind is SubscriptionType.CREDITS:
            if not _positive(self.credits) or self.days is not None:
                raise ValueError(f"credits tariff {self.name!r} needs credits > 0 and no days")
        elif not _positive(self.days) or self.credits is not None:
            raise ValueError(f"time tariff {self.name!r} needs days > 0 and no credits")


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


DEFAULT_TARIFFS: tuple[Tariff, ...] = (
    Tariff("month", SubscriptionType.MONTH, Decimal("990.00"), days=30),
    Tariff("year", SubscriptionType.YEAR, Decimal("6990.00"), days=365),
    Tariff("credits_1", SubscriptionType.CREDITS, Decimal("149.00"), credits=1),
    Tariff("credits_5", SubscriptionType.CREDITS, Decimal("590.00"), credits=5),
    Tariff("credits_10", SubscriptionType.CREDITS, Decimal("990.00"), credits=10),
    Tariff("credits_20", SubscriptionType.CREDITS, Decimal("1690.00"), credits=20),
)


class TariffCatalog(Mapping[str, Tariff]):
    """An immutable name → :class:`Tariff` mapping; ``catalog[name]`` raises :class:`UnknownTariff`."""

    def __init__(self, tariffs: Mapping[str, Tariff] | tuple[Tariff, ...] = DEFAULT_TARIFFS) -> None:
        items = tuple(tariffs.values()) if isinstance(tariffs, Mapping) else tuple(tariffs)
        self._tariffs = {t.name: t for t in items}

    @classmethod
    def default(cls) -> TariffCatalog:
        return cls(DEFAULT_TARIFFS)

    def with_tariffs(self, *tariffs: Tariff) -> TariffCatalog:
        """A copy where ``tariffs`` are added or replace those of the same name."""
        return TariffCatalog((*self._tariffs.values(), *tariffs))

    def __getitem__(self, name: str) -> Tariff:
        try:
            return self._tariffs[name]
        except KeyError:
            raise UnknownTariff(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._tariffs)

    def __len__(self) -> int:
        return len(self._tariffs)
