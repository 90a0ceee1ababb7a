"""``python -m trailmon``."""

from trailmon.cli import main

raise SystemExit(main())
