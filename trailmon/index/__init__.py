"""Spatiotemporal index over trails (SPEC §6): chunks of segments in a hashed grid-and-time table."""

from trailmon.index._layout import IndexState
from trailmon.index.trail_index import TrailIndex

__all__ = ["IndexState", "TrailIndex"]
