"""``python -m marlin_lite.scaled``: see :mod:`marlin_lite.scaled.cli`."""

from marlin_lite.scaled.cli import main

raise SystemExit(main())
