"""v4 repositories, race-free: the names and methods v4 bots call, one ``AsyncSession`` each."""

from persistence.repositories.badges import BadgeRepository
from persistence.repositories.sessions import SessionRepository
from persistence.repositories.subscriptions import SubscriptionRepository
from persistence.repositories.users import UserRepository

__all__ = ["BadgeRepository", "SessionRepository", "SubscriptionRepository", "UserRepository"]
