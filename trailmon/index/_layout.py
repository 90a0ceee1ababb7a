"""Index layout: the picklable state of a :class:`~trailmon.index.TrailIndex` and its constants.

The index stores *chunks*: runs of consecutive fixes of one subject joined by segments (gaps at
most ``max_gap_s``), each summarised by its bounding box. A chunk is registered in every
(grid cell, time bucket) key its box and time span touch; keys are hashed into a table of
slots (a counting sort), so the table's size follows the data, not the extent of the grid
(a national store spans 700 km x 1,300 km). A hash collision only adds candidates that the
exact box and time tests drop.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "BUCKET_S",
    "GAP_CELL_M",
    "CELL_M",
    "CHUNK_MAX_EXTENT_M",
    "CHUNK_MAX_FIXES",
    "CHUNK_MAX_SPAN_S",
    "IndexState",
]

CELL_M = 250.0
"""Grid cell size, metres. A 100 m crime radius touches 1-4 cells; measured on the national day
(SPEC §6) against 125 m and 500 m, 250 m gave the fewest entries scanned per true candidate."""

BUCKET_S = 3600.0
"""Time bucket, seconds. A 12 h crime window scans 13 buckets per cell."""

GAP_CELL_M = 1000.0
"""Grid cell of the gap table, metres: gaps near a scene lie within 1 km of it (SPEC §3), so a
query looks at 3 x 3 cells."""

CHUNK_MAX_FIXES = 32
"""Most fixes in a chunk. A stay of 12 h at one fix a minute becomes 23 chunks: few enough to
prune, small enough that one chunk's exact evaluation stays cheap."""

CHUNK_MAX_EXTENT_M = CELL_M
"""A chunk's box grows no wider or taller than this, metres (a single longer segment is a chunk of
its own), so a chunk touches at most 2 x 2 cells unless one segment is longer."""

CHUNK_MAX_SPAN_S = BUCKET_S
"""A chunk lasts at most this long, seconds, so it touches at most 2 time buckets (unless a single
segment is longer, which ``max_gap_s`` above an hour allows)."""


class IndexState(NamedTuple):
    """Arrays of a built index; plain arrays and floats, so it pickles (Dask).

    Attributes
    ----------
    chunk_f0, chunk_f1 : ndarray of int64, shape (n_chunk,)
        First and last fix (global positions in the :class:`~trailmon.trail.Trails`) of each
        chunk; ``chunk_f0 == chunk_f1`` for an isolated fix. Consecutive chunks of a run share
        their boundary fix. Chunks are ordered by subject, then time.
    chunk_subject : ndarray of int64, shape (n_chunk,)
        Subject position of each chunk.
    chunk_x0, chunk_y0, chunk_x1, chunk_y1 : ndarray of float64, shape (n_chunk,)
        Bounding box of the chunk's fixes (and so of its segments), metres.
    slot_offsets : ndarray of int64, shape (n_slot + 1,)
        Entries of hash slot ``h`` are ``slot_chunks[slot_offsets[h]:slot_offsets[h + 1]]``.
    slot_chunks : ndarray of int64, shape (n_entry,)
        Chunk ids, in chunk order within a slot.
    gap_offsets : ndarray of int64, shape (n_gap_slot + 1,)
        Gaps of hash slot ``h`` (the ``gap_cell_m`` grid cell of their first fix) are
        ``gap_fix[gap_offsets[h]:gap_offsets[h + 1]]``.
    gap_fix : ndarray of int64, shape (n_gap,)
        Fix ``i`` such that ``(i, i + 1)`` is a gap longer than ``max_gap_s`` of one subject,
        both fixes monitored; by slot, then by start time ``t_s[i]``.
    gap_max_s : ndarray of float64, shape (n_gap_slot,)
        Longest gap of each slot, seconds (bounds the binary search on start times).
    run_offsets : ndarray of int64, shape (n_subject + 1,)
        Known runs of subject ``k`` are ``run_offsets[k]:run_offsets[k + 1]``.
    run_start, run_end : ndarray of float64, shape (n_run,)
        Maximal intervals where the position is known (segments, and ``halo_s`` around each fix),
        seconds UTC; a window inside one run is fully known (a coverage shortcut).
    cell_m, bucket_s, max_gap_s : float
        Grid cell (m), time bucket (s) and the trail model's gap limit (s) the index was built with.
    gap_cell_m, halo_s : float
        Grid cell of the gap table (m) and the coverage halo of a fix (s).
    max_accuracy_m : float
        Largest fix accuracy, metres (query radius for ``low`` candidates); 0 when empty.
    """

    chunk_f0: np.ndarray
    chunk_f1: np.ndarray
    chunk_subject: np.ndarray
    chunk_x0: np.ndarray
    chunk_y0: np.ndarray
    chunk_x1: np.ndarray
    chunk_y1: np.ndarray
    slot_offsets: np.ndarray
    slot_chunks: np.ndarray
    gap_offsets: np.ndarray
    gap_fix: np.ndarray
    gap_max_s: np.ndarray
    run_offsets: np.ndarray
    run_start: np.ndarray
    run_end: np.ndarray
    cell_m: float
    bucket_s: float
    max_gap_s: float
    max_accuracy_m: float
    gap_cell_m: float
    halo_s: float

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays (the fix arrays not counted)."""
        return int(sum(v.nbytes for v in self if isinstance(v, np.ndarray)))
