"""``python -m hotstore.cli.bench``."""

from __future__ import annotations

import sys

from hotstore.cli.bench.runner import main

if __name__ == "__main__":
    sys.exit(main())
