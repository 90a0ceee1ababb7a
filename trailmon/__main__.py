"""``python -m trailmon``."""

from trailmon.cli import console

console()
