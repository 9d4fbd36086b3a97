"""Benchmarks: hotstore against the v4 way (one SQL transaction per call) and the raw Redis floor.

``python -m hotstore.cli.bench`` (or ``hotstore bench``) runs every row in one process on one workload and
prints the table; ``--help`` lists the options to scale it down.
"""

from hotstore.cli.bench.runner import main

__all__ = ["main"]
