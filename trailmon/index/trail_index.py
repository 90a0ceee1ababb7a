"""The spatiotemporal index over trail chunks (public class :class:`TrailIndex`)."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from trailmon.errors import InputError
from trailmon.index import _kernels as K
from trailmon.index._cast import check_positive, check_query, check_trails
from trailmon.index._layout import (
    BUCKET_S,
    CELL_M,
    CHUNK_MAX_EXTENT_M,
    CHUNK_MAX_FIXES,
    CHUNK_MAX_SPAN_S,
    GAP_CELL_M,
    IndexState,
)
from trailmon.trail import DEFAULT_MAX_GAP_S, FIX_HALO_S, Trails

__all__ = ["TrailIndex"]


_THREADED_FIXES = 100_000
"""From this many fixes the time tables are built on a second thread, beside the chunk grid."""


class _Inline:
    """A one-call stand-in for a thread pool: runs the task at once (small trails)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    @staticmethod
    def submit(fn) -> Future:
        done: Future = Future()
        done.set_result(fn())
        return done


class TrailIndex:
    """A grid-and-time index over runs of trail segments, for exact proximity queries.

    Parameters
    ----------
    state : IndexState
        The index arrays (see :meth:`build`).
    trails : Trails
        The fixes the index was built on.

    Notes
    -----
    Each subject's trail is cut into *chunks*: runs of at most 32 fixes joined by segments
    (consecutive fixes at most ``max_gap_s`` apart) whose bounding box stays within 250 m and
    whose span stays within an hour; an isolated fix is a chunk of its own. Every chunk is
    registered under each (250 m cell, 1 h bucket) key it touches, by a counting sort into a
    hash table sized to the number of keys. A query returns every chunk whose box comes within
    the radius and whose span meets the window: a superset of the chunks holding any segment
    or fix within the radius, each reported once. Exact per-segment maths happens in
    :func:`trailmon.match.proximity`.

    Examples
    --------
    >>> from trailmon.testing import make_trail
    >>> tr = make_trail([(0, 0.0, 0.0), (60, 600.0, 0.0), (120, 1200.0, 0.0)])
    >>> idx = TrailIndex.build(tr)
    >>> idx.query(300.0, 30.0, 0.0, 120.0, 100.0).tolist()
    [0]
    """

    def __init__(self, state: IndexState, trails: Trails) -> None:
        self.state = state
        self.trails = trails

    @property
    def max_gap_s(self) -> float:
        """Longest gap still interpolated, seconds, as built."""
        return self.state.max_gap_s

    def __repr__(self) -> str:
        return (f"TrailIndex(n_subjects={self.trails.n_subjects}, n_fixes={self.trails.n_fixes}, "
                f"n_chunks={len(self.state.chunk_f0)}, max_gap_s={self.max_gap_s})")

    @classmethod
    def build(
        cls,
        trails: Trails,
        *,
        max_gap_s: float = DEFAULT_MAX_GAP_S,
        cell_m: float = CELL_M,
        bucket_s: float = BUCKET_S,
        chunk_max_fixes: int = CHUNK_MAX_FIXES,
    ) -> TrailIndex:
        """Build the index over ``trails``.

        Parameters
        ----------
        trails : Trails
            Fixes sorted by subject then time (``make_trails`` or the store), metres and seconds UTC.
        max_gap_s : float, default 600.0
            Longest gap between fixes that is interpolated, seconds; chunks never span a longer gap.
        cell_m : float, default 250.0
            Grid cell size, metres.
        bucket_s : float, default 3600.0
            Time bucket, seconds.
        chunk_max_fixes : int, default 32
            Most fixes per chunk.

        Returns
        -------
        TrailIndex

        Raises
        ------
        InputError
            When a parameter is not positive or the fix arrays are not finite and time-sorted.
        """
        check_trails(trails)
        max_gap_s = check_positive("max_gap_s", max_gap_s, allow_zero=True)
        cell_m = check_positive("cell_m", cell_m)
        bucket_s = check_positive("bucket_s", bucket_s)
        if int(chunk_max_fixes) < 2:
            raise InputError(f"chunk_max_fixes must be >= 2, got {chunk_max_fixes!r}")
        t, x, y = trails.t_s, trails.x_m, trails.y_m
        offsets = np.ascontiguousarray(trails.offsets, dtype=np.int64)
        win_off = np.ascontiguousarray(trails.win_offsets, dtype=np.int64)

        def in_time():  # gaps and known runs: independent of the chunks, built beside them (nogil kernels)
            gap_fix = K.monitored_gaps(t, offsets, trails.win_start_s, trails.win_end_s, win_off, max_gap_s)
            return (*K.gap_table(t, x, y, gap_fix, GAP_CELL_M), *K.known_runs(t, offsets, max_gap_s, FIX_HALO_S))

        with ThreadPoolExecutor(max_workers=1) if trails.n_fixes >= _THREADED_FIXES else _Inline() as pool:
            timed = pool.submit(in_time)
            f0, f1, sub, x0, y0, x1, y1 = K.build_chunks(
                t, x, y, offsets, max_gap_s, int(chunk_max_fixes), min(CHUNK_MAX_EXTENT_M, cell_m),
                min(CHUNK_MAX_SPAN_S, bucket_s))
            n_keys = int(K.count_keys(t, f0, f1, x0, y0, x1, y1, cell_m, bucket_s).sum())
            mask = (1 << max(int(n_keys - 1).bit_length(), 4)) - 1  # a power of two >= the number of keys
            slot_offsets, slot_chunks = K.fill_slots(t, f0, f1, x0, y0, x1, y1, cell_m, bucket_s, mask)
            gap_offsets, gap_fix, gap_max_s, run_offsets, run_start, run_end = timed.result()
        state = IndexState(
            chunk_f0=f0, chunk_f1=f1, chunk_subject=sub, chunk_x0=x0, chunk_y0=y0, chunk_x1=x1,
            chunk_y1=y1, slot_offsets=slot_offsets, slot_chunks=slot_chunks, gap_offsets=gap_offsets,
            gap_fix=gap_fix, gap_max_s=gap_max_s, run_offsets=run_offsets, run_start=run_start,
            run_end=run_end, cell_m=cell_m, bucket_s=bucket_s, max_gap_s=max_gap_s,
            max_accuracy_m=float(trails.accuracy_m.max()) if trails.n_fixes else 0.0,
            gap_cell_m=GAP_CELL_M, halo_s=FIX_HALO_S)
        return cls(state, trails)

    def query_chunks(self, x_m, y_m, t1_s, t2_s, radius_m) -> tuple[np.ndarray, np.ndarray]:
        """Candidate chunks of many queries, as CSR ``(offsets, chunk_ids)``.

        Parameters
        ----------
        x_m, y_m : float or array, shape (n_query,)
            Query points in the store's CRS, metres.
        t1_s, t2_s : float or array, shape (n_query,)
            Window of each query, seconds UTC, ``t1_s <= t2_s``.
        radius_m : float or array, shape (n_query,)
            Radius, metres, > 0.

        Returns
        -------
        offsets : ndarray of int64, shape (n_query + 1,)
        chunk_ids : ndarray of int64, shape (n_candidate,)
            Chunks of query ``q`` are ``chunk_ids[offsets[q]:offsets[q + 1]]``, sorted (by subject,
            then time).
        """
        x, y, t1, t2, r = check_query(x_m, y_m, t1_s, t2_s, radius_m)
        s = self.state
        return K.candidates_many(self.trails.t_s, s.chunk_f0, s.chunk_f1, s.chunk_x0, s.chunk_y0, s.chunk_x1,
                                 s.chunk_y1, s.slot_offsets, s.slot_chunks, s.cell_m, s.bucket_s, x, y, r, t1, t2)

    def query(self, x_m: float, y_m: float, t1_s: float, t2_s: float, radius_m: float) -> np.ndarray:
        """Subjects that may come within ``radius_m`` of a point during a window.

        Parameters
        ----------
        x_m, y_m : float
            The point in the store's CRS, metres.
        t1_s, t2_s : float
            The window, seconds UTC.
        radius_m : float
            Radius, metres, > 0.

        Returns
        -------
        ndarray of int64
            Sorted subject positions (into ``trails.subject_ids``): a superset of the subjects whose
            interpolated position is within ``radius_m`` at some instant of the window.
        """
        _, chunks = self.query_chunks(x_m, y_m, t1_s, t2_s, radius_m)
        return np.unique(self.state.chunk_subject[chunks])

    def query_gaps(self, x_m: float, y_m: float, t1_s: float, t2_s: float, near_m: float) -> np.ndarray:
        """Gaps longer than ``max_gap_s`` meeting a window with both fixes near a point.

        Parameters
        ----------
        x_m, y_m : float
            The point in the store's CRS, metres.
        t1_s, t2_s : float
            The window, seconds UTC; a gap meets it when it starts before ``t2_s`` and ends after ``t1_s``.
        near_m : float
            Both fixes bracketing the gap lie within this distance of the point, metres, > 0.

        Returns
        -------
        ndarray of int64
            Sorted first fixes ``i`` (global positions) of the gaps ``(i, i + 1)``; both fixes are
            monitored.

        Examples
        --------
        >>> from trailmon.testing import make_trail
        >>> tr = make_trail([(0, 0.0, 0.0), (3600, 10.0, 0.0), (3660, 20.0, 0.0)])
        >>> TrailIndex.build(tr).query_gaps(0.0, 0.0, 0.0, 7200.0, 1000.0).tolist()
        [0]
        """
        x, y, t1, t2, r = check_query(x_m, y_m, t1_s, t2_s, near_m)
        s = self.state
        args = (self.trails.t_s, self.trails.x_m, self.trails.y_m, s.gap_offsets, s.gap_fix, s.gap_max_s,
                s.gap_cell_m, x[0], y[0], t1[0], t2[0], r[0])
        n = K.scan_gaps(*args, np.empty(0, np.int64))
        out = np.empty(n, np.int64)
        K.scan_gaps(*args, out)
        out.sort()
        return out
