"""``python -m hotstore.bench``."""

from __future__ import annotations

import sys

from hotstore.bench.runner import main

if __name__ == "__main__":
    sys.exit(main())
