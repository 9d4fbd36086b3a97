"""The applications: the ``hotstore`` command line, the demo, the benchmarks and the JSON migration.

They sit on top of every other layer and nothing imports them.
"""

from hotstore.cli.main import main

__all__ = ["main"]
