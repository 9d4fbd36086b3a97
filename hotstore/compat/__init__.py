"""The v4 facade: ``DatabaseService`` with v4's methods and return shapes, and v4's process lifecycle.

    from hotstore.compat import DatabaseService      # was: from services.database_service import ...
"""

from hotstore.compat.service import DatabaseService, scenario_levels, scenario_session

__all__ = ["DatabaseService", "scenario_levels", "scenario_session"]
