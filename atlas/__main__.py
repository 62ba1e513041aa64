"""``python -m atlas ...``: the same as the ``atlas`` command (atlas/cli.py)."""

import sys

from atlas.cli import main

sys.exit(main())
