"""v4 repositories, race-free: the names and methods v4 bots call, one ``AsyncSession`` each."""

from persistence.repositories.sessions import SessionRepository
from persistence.repositories.users import UserRepository

__all__ = ["SessionRepository", "UserRepository"]
