"""``python -m dfshield``: the same entry point as the ``dfshield`` command."""

import sys

from dfshield.cli import main

sys.exit(main())
