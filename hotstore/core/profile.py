"""Profile-name arguments (username, first_name, last_name): not given, clear, or set.

``UNSET`` (the default) leaves a name alone, ``None`` clears it, ``""`` leaves it (v4 ignored empty
values), any other ``str`` replaces it when it differs.
"""

from __future__ import annotations

import enum
from typing import Final

from hotstore.core.loader import Profile
from hotstore.core.validation import check_optional_text


class _Unset(enum.Enum):
    TOKEN = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.TOKEN
ProfileArg = str | None | _Unset


def _checked(name: str, value: ProfileArg) -> ProfileArg:
    return value if value is UNSET else check_optional_text(name, value)


def profile_ops(username: ProfileArg, first_name: ProfileArg, last_name: ProfileArg) -> list[str]:
    """The touch script's name operations: ``'-'`` keep, ``'x'`` clear, ``'=<text>'`` set."""
    ops: list[str] = []
    for name, value in (("username", username), ("first_name", first_name), ("last_name", last_name)):
        value = _checked(name, value)
        if value is UNSET or value == "":
            ops.append("-")
        elif value is None:
            ops.append("x")
        else:
            ops.append("=" + value)
    return ops


def profile_for_insert(username: ProfileArg, first_name: ProfileArg, last_name: ProfileArg) -> Profile:
    """The names a newly created user row gets (only non-empty strings)."""

    def text(value: ProfileArg) -> str | None:
        return value if isinstance(value, str) and value else None

    return Profile(text(username), text(first_name), text(last_name))
