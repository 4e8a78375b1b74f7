"""``python -m fcnn``: the ``fcnn`` command line."""

from .cli import main

raise SystemExit(main())
