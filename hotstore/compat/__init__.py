"""The v4 facade: ``DatabaseService`` with v4's methods and return shapes, and v4's process lifecycle.

    from hotstore.compat import DatabaseService                  # was: from services.database_service import ...
    from hotstore.compat import init_db, close_db, get_session   # was: from database import ...

Importing this package installs the hot store into :mod:`persistence`'s ``init_db``/``close_db`` and ORM
sessions (:func:`hotstore.compat.lifecycle.install`), so ``persistence.init_db`` works the same once it ran.
"""

from hotstore.compat import lifecycle
from hotstore.compat.service import DatabaseService, scenario_levels, scenario_session
from persistence.engine import close_db, get_session, init_db

lifecycle.install()

__all__ = ["DatabaseService", "close_db", "get_session", "init_db", "scenario_levels", "scenario_session"]
