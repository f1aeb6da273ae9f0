"""``python -m marlin_lite.transfer``: the command line (:func:`marlin_lite.transfer.cli.main`)."""

from marlin_lite.transfer.cli import main

raise SystemExit(main())
