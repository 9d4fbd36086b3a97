"""``python -m hotstore …`` runs the ``hotstore`` command line."""

from __future__ import annotations

import sys

from hotstore.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
