"""Proximity, attendance and zones over a trail store larger than memory, on Dask.

The same matching as :func:`trailmon.match.proximity.proximity`,
:func:`trailmon.match.attendance.attendance` and :func:`trailmon.match.zones.zones`, run as
Dask tasks over the store's partitions (UTC days), with results identical to one machine
running those functions on the whole store.

Design (why it is exact)
------------------------
Exactness is the point, so no task ever sees part of a question: **every crime, appointment
and zone goes to exactly one task**, and that task reads every fix the single-machine path
would use for it. The reduction is then a concatenation followed by a stable sort into the
single-machine order; nothing has to be merged (no minimum of partial minima, no sum of
partial dwells, no pass that straddles two tasks, no coverage combined from pieces, no pass
letters to renumber), so none of those merges can be wrong.

- **Proximity.** Crimes are routed by the UTC day of ``committed_from``. The task of a day
  reads the whole day files overlapping ``[min T1 - H, max T2 + H]`` of its crimes, with
  ``H = max(max_gap_s, 60 s)``: a segment touching a window has both ends within ``max_gap_s``
  of it and coverage counts 60 s around a fix, so a 12 h window across midnight makes its task
  read both days, and a crime goes only to the days its window overlaps. Each task also
  receives, **per subject, the last fix before and the first fix after** the days it reads
  (the halo), taken from a first pass that records each day's first and last fix per subject.
  Whole days plus those two fixes are a contiguous piece of every subject's trail, so
  segments across midnight and across partitions are the very segments of the whole store,
  and a gap near the scene that begins days before the window is still seen. Gaps near scene
  are then kept only when their bracketing fixes lie within 7 days of the window
  (:func:`trailmon.store.trails.limit_gaps`), the one bracketing rule of both engines: a local
  store read looks that far for them, and no further.
- **Spatial tiles.** A day with more crimes than ``max_crimes_per_task`` is cut into tiles of
  crimes sorted along a coarse grid; each tile reads the same days but keeps only subjects
  whose bounding box over those fixes comes within ``max(R + accuracy, 1 km)`` of the tile's
  crimes. The interpolated position never leaves the box of a subject's fixes, so a subject
  left out can be neither a hit, a ``low`` candidate nor a gap near the scene (both of whose
  fixes lie within 1 km). A national day (7.2 M fixes, ~0.6 GB of arrays) fits one worker;
  tiling bounds the index and the per-task results, not the read.
- **Attendance** is routed by the UTC day of ``start - early_s`` and reads, for the subjects of
  its appointments only, ``[min start - early_s - H, max end + H]``: time inside, arrival,
  departure and coverage depend only on fixes within ``max_gap_s`` of the looked-at window.
- **Zones** are split by subject (a zone belongs to one subject): each task reads
  ``[t_from - H, t_to + H]`` for its subjects only, so events across midnight are never cut.

Each task runs the unchanged public function on :class:`~trailmon.trail.Trails` built by
:func:`trailmon.store.trails.table_to_trails`; the identifiers of the task's rows are replaced
by their positions in the input while it runs, so the client can put every output row back in
input order and restore the identifiers.

The input table (crimes, appointments or zones) and the monitoring windows are scattered to
the cluster **once**, before any task (each worker holds a copy, since every worker runs tasks
that need them, and a copy on a lost worker is then not the only one); tasks receive positions
into them, the names of the day files to read (one manifest snapshot for the whole run) and
their own halo rows, so a crime's data goes only to the task that answers it. The client holds
a reader's lease on that generation until the run returns (:meth:`TrailStore.snapshot`), so an
ingest or purge committing meanwhile never deletes a file a task still has to read.

Engine notes: a :class:`dask.distributed.LocalCluster` of ``workers`` single-threaded worker
processes is started by default; ``scheduler`` joins an existing cluster instead (its workers
must see the store path). A worker lost mid-run is replaced by its nanny and the scheduler
runs the task again elsewhere (``distributed.scheduler.allowed-failures``); exceptions are
retried ``retries`` times. The numba kernels (``cache=True``) load from the on-disk cache in
each worker process. Checked here (numba 0.68, distributed 2026.8): with an empty
``NUMBA_CACHE_DIR`` the client and two spawned workers compiled the same kernels at once into
one cache without error (numba writes cache files by atomic rename), and the next run loaded
them (28 s cold, 4 s warm for the equality test); numba#4807 concerns forked workers, and
distributed's nanny spawns them.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailmon.errors import InputError
from trailmon.store.trails import BRACKET_S, FIX_SCHEMA, day_name, limit_gaps, table_to_trails
from trailmon.trail import DEFAULT_MAX_GAP_S, FIX_HALO_S

__all__ = [
    "Task",
    "attendance",
    "connect",
    "plan_attendance",
    "plan_proximity",
    "plan_zones",
    "proximity",
    "zones",
]

DAY_S = 86_400.0
MAX_CRIMES_PER_TASK = 20_000
"""Crimes of one day per task before the day is cut into spatial tiles (a national day has 10,000)."""
MAX_APPOINTMENTS_PER_TASK = 20_000
"""Appointments per task before a day is split."""
MAX_SUBJECTS_PER_TASK = 500
"""Subjects per zones task."""
TILE_M = 5_000.0
"""Grid cell along which a day's crimes are ordered before they are cut into tiles, metres."""
ENGINES = ("local", "dask")


class Task(NamedTuple):
    """One unit of work: input rows, the store days it reads, the span it looks at.

    Attributes
    ----------
    key : str
        Human-readable name (``"2026-07-14/0"``: day, tile).
    positions : ndarray of int64, shape (n_row,)
        Rows of the input table (crimes, appointments or zones) this task answers, increasing.
    days : tuple of str
        UTC days (``YYYY-MM-DD``) whose store files it reads (proximity), or overlaps (others).
    t_lo_s, t_hi_s : float
        The span read, seconds UTC (halo included).
    """

    key: str
    positions: np.ndarray
    days: tuple[str, ...]
    t_lo_s: float
    t_hi_s: float


# --- cluster -----------------------------------------------------------------------------------


@contextlib.contextmanager
def connect(scheduler: str | None = None, workers: int | None = None, *, client: Any = None) -> Iterator[Any]:
    """Yield a Dask client: the given one, one joined to ``scheduler``, or a new local cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of an existing scheduler (``tcp://host:8786``); its workers must see the store.
    workers : int, optional
        Worker processes of the local cluster (default 2), one thread each; ignored with
        ``scheduler`` or ``client``.
    client : dask.distributed.Client, optional
        Use this client as it is (it is not closed on exit).

    Yields
    ------
    dask.distributed.Client

    Raises
    ------
    InputError
        When ``workers`` is not a positive integer or dask.distributed is not installed.
    """
    if client is not None:
        yield client
        return
    if workers is not None and (
        not isinstance(workers, int | np.integer) or isinstance(workers, bool) or workers < 1
    ):
        raise InputError(f"workers must be an integer >= 1, got {workers!r}")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - the extra is in the test requirements
        raise InputError(
            "engine 'dask' needs dask.distributed; install it with `pip install trailmon[dask]`"
        ) from None
    if scheduler:
        with Client(scheduler) as c:
            yield c
        return
    with (
        LocalCluster(
            n_workers=int(workers or 2),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            memory_limit=0,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def _run(
    client,
    fn: Callable,
    tasks: Sequence[Task],
    shared: tuple,
    per_task: Sequence[tuple],
    *,
    label: str,
    progress: bool,
    retries: int,
    extra: dict,
) -> list:
    """Submit one call per task, wait with a progress bar on stderr, return results in task order."""
    from dask.distributed import as_completed

    run = uuid.uuid4().hex[:8]
    futures = [
        client.submit(
            fn,
            *shared,
            t.positions,
            *args,
            pure=False,
            retries=retries,
            key=f"{label}-{t.key}-{run}",
            **extra,
        )
        for t, args in zip(tasks, per_task, strict=True)
    ]
    index = {f.key: k for k, f in enumerate(futures)}
    results: list = [None] * len(futures)
    bar = _progress_bar(label, len(futures)) if progress else contextlib.nullcontext(None)
    with bar as tick:
        for fut in as_completed(futures):
            results[index[fut.key]] = fut.result()
            if tick is not None:
                tick()
    return results


def _scatter(client, *objects) -> tuple:
    """Send each object to the cluster once, held by every worker (a lost worker loses nothing)."""
    return tuple(client.scatter([obj], broadcast=True, hash=False)[0] for obj in objects)


@contextlib.contextmanager
def _progress_bar(label: str, total: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"{label} on dask"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as prog:
        task = prog.add_task(label, total=total)
        yield lambda: prog.advance(task)


# --- checks and plans --------------------------------------------------------------------------


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InputError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _utc_seconds(name: str, values: pd.Series) -> np.ndarray:
    s = values
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        try:
            s = pd.to_datetime(s, format="ISO8601")
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} must hold tz-aware datetimes, got {values.iloc[0]!r}: {exc}") from None
        if not isinstance(s.dtype, pd.DatetimeTZDtype):
            from trailmon.errors import TimezoneError

            raise TimezoneError(f"{name} has no time zone, e.g. {values.iloc[0]!r}; give an offset or Z")
    ns = s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]").astype(np.int64)
    out = ns / 1e9
    out[s.isna().to_numpy()] = np.nan
    return out


def _day_of(t_s: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(t_s, dtype=np.float64) / DAY_S).astype(np.int64)


def _store_days(store) -> tuple[list[str], dict[str, str]]:
    files = dict(store.manifest["days"])
    return sorted(files), files


def _days_overlapping(days: list[str], lo_s: float, hi_s: float) -> tuple[str, ...]:
    d_lo, d_hi = math.floor(lo_s / DAY_S), math.floor(hi_s / DAY_S)
    return tuple(d for d in days if d_lo <= np.datetime64(d, "D").astype(np.int64) <= d_hi)


def plan_proximity(
    store,
    crimes: pd.DataFrame,
    *,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_crimes_per_task: int = MAX_CRIMES_PER_TASK,
) -> list[Task]:
    """Route crimes to tasks by the UTC days their windows overlap; tiles for oversized days.

    Parameters
    ----------
    store : TrailStore
        The trail store (its manifest names the day files).
    crimes : DataFrame
        Crimes as for :func:`trailmon.match.proximity.proximity` (``x_m, y_m`` metres in the
        store's CRS, tz-aware ``committed_from, committed_to``).
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds; with the 60 s coverage halo it sets the read halo.
    max_crimes_per_task : int, default 20000
        Crimes of one day per task before the day is cut into spatial tiles.

    Returns
    -------
    list of Task
        Every crime in exactly one task; a task holds crimes whose windows, widened by
        ``max(max_gap_s, 60)`` seconds, overlap the same run of UTC days, and reads those days.
    """
    max_crimes_per_task = _positive_int("max_crimes_per_task", max_crimes_per_task)
    halo = max(float(max_gap_s), FIX_HALO_S)
    t1 = _utc_seconds("crimes.committed_from", crimes["committed_from"])
    t2 = _utc_seconds("crimes.committed_to", crimes["committed_to"])
    x = pd.to_numeric(crimes["x_m"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    y = pd.to_numeric(crimes["y_m"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    days, _ = _store_days(store)
    tasks: list[Task] = []
    # crimes whose widened windows overlap the same run of days share tasks
    span = _day_of(t1 - halo) * 1_000_003 + (_day_of(t2 + halo) - _day_of(t1 - halo))
    for key in np.unique(span):
        pos = np.flatnonzero(span == key)
        d = _day_of(t1[pos[:1]] - halo)[0]
        n_days = int(key - d * 1_000_003) + 1
        n_tiles = -(-len(pos) // max_crimes_per_task)
        if n_tiles > 1:  # order along a coarse grid (row-major cells), then cut into equal runs
            cx = np.floor(x[pos] / TILE_M)
            cy = np.floor(y[pos] / TILE_M)
            pos = pos[np.lexsort((x[pos], cx, cy))]
        for k, part in enumerate(np.array_split(pos, n_tiles)):
            part = np.sort(part).astype(np.int64)
            lo, hi = float(t1[part].min() - halo), float(t2[part].max() + halo)
            tasks.append(Task(f"{day_name(d)}+{n_days}/{k}", part, _days_overlapping(days, lo, hi), lo, hi))
    return tasks


def plan_attendance(
    store,
    appointments: pd.DataFrame,
    *,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    early_s: float = 900.0,
    max_per_task: int = MAX_APPOINTMENTS_PER_TASK,
) -> list[Task]:
    """Route appointments to tasks by the UTC day of ``start - early_s``.

    Parameters
    ----------
    store : TrailStore
        The trail store.
    appointments : DataFrame
        Canonical appointment frame (tz-aware ``start, end``).
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds; sets the read halo with the 60 s coverage halo.
    early_s : float, default 900.0
        How long before ``start`` the trail is looked at, seconds.
    max_per_task : int, default 20000
        Appointments per task.

    Returns
    -------
    list of Task
        Every appointment in exactly one task.
    """
    max_per_task = _positive_int("max_per_task", max_per_task)
    halo = max(float(max_gap_s), FIX_HALO_S)
    s = _utc_seconds("appointments.start", appointments["start"]) - float(early_s)
    e = _utc_seconds("appointments.end", appointments["end"])
    days, _ = _store_days(store)
    tasks: list[Task] = []
    if not len(s):
        return tasks
    bad = ~(np.isfinite(s) & np.isfinite(e))
    day = np.where(bad, np.iinfo(np.int64).min, _day_of(np.nan_to_num(s)))
    for d in np.unique(day):
        pos = np.flatnonzero(day == d)
        for k, part in enumerate(np.array_split(pos, -(-len(pos) // max_per_task))):
            part = part.astype(np.int64)
            if bad[part].all():  # missing times: the task raises the same error as one machine
                tasks.append(Task(f"invalid/{k}", part, (), 0.0, 0.0))
                continue
            lo, hi = float(np.nanmin(s[part]) - halo), float(np.nanmax(e[part]) + halo)
            tasks.append(Task(f"{day_name(d)}/{k}", part, _days_overlapping(days, lo, hi), lo, hi))
    return tasks


def plan_zones(
    store,
    zone_rows: pd.DataFrame,
    t_from,
    t_to,
    *,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_subjects_per_task: int = MAX_SUBJECTS_PER_TASK,
) -> list[Task]:
    """Route zones to tasks by subject; each task reads ``[t_from, t_to]`` with the halo.

    Parameters
    ----------
    store : TrailStore
        The trail store.
    zone_rows : DataFrame
        Canonical zone frame (``zone_id, subject_id, ...``).
    t_from, t_to : pandas.Timestamp
        The period looked at, tz-aware.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds; sets the read halo with the 60 s coverage halo.
    max_subjects_per_task : int, default 500
        Subjects per task.

    Returns
    -------
    list of Task
        Every zone row in exactly one task; a subject's zones all in one task.
    """
    max_subjects_per_task = _positive_int("max_subjects_per_task", max_subjects_per_task)
    halo = max(float(max_gap_s), FIX_HALO_S)
    lo = pd.Timestamp(t_from).value / 1e9 - halo
    hi = pd.Timestamp(t_to).value / 1e9 + halo
    days, _ = _store_days(store)
    subj = zone_rows["subject_id"].astype(str).to_numpy(dtype=object)
    names = np.unique(subj) if len(subj) else np.zeros(0, dtype=object)
    tasks: list[Task] = []
    for k in range(0, len(names), max_subjects_per_task):
        group = names[k : k + max_subjects_per_task]
        pos = np.flatnonzero(np.isin(subj, group)).astype(np.int64)
        tasks.append(
            Task(f"subjects/{k // max_subjects_per_task}", pos, _days_overlapping(days, lo, hi), lo, hi)
        )
    return tasks


# --- halo rows ---------------------------------------------------------------------------------


def _day_edges(path: str) -> tuple[pa.Table, pa.Table]:
    """First and last stored fix of each subject in one day file."""
    table = pq.read_table(path, schema=FIX_SCHEMA)
    n = table.num_rows
    if n == 0:
        return table, table
    # day files are laid out by hour (one row group each): back to subject, then time
    table = table.take(pc.sort_indices(table, [("subject_id", "ascending"), ("t_ns", "ascending")]))
    sid = table.column("subject_id").combine_chunks()
    change = np.ones(n, dtype=bool)
    if n > 1:
        change[1:] = pc.not_equal(sid[1:], sid[:-1]).to_numpy(zero_copy_only=False)
    first = np.flatnonzero(change)
    last = np.append(first[1:] - 1, n - 1)
    return table.take(pa.array(first)), table.take(pa.array(last))


def _latest_per_subject(table: pa.Table, *, last: bool) -> pa.Table:
    """One row per subject: its latest (``last``) or earliest fix, sorted by subject."""
    if table.num_rows == 0:
        return table
    order = pc.sort_indices(table, [("subject_id", "ascending"), ("t_ns", "ascending")])
    table = table.take(order)
    sid = table.column("subject_id").combine_chunks()
    n = table.num_rows
    change = np.ones(n, dtype=bool)
    if n > 1:
        change[1:] = pc.not_equal(sid[1:], sid[:-1]).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(change)
    pick = np.append(starts[1:] - 1, n - 1) if last else starts
    return table.take(pa.array(pick))


def _halo_rows(
    client, store, tasks: list[Task], files: dict[str, str], progress: bool, retries: int
) -> list[tuple[pa.Table, pa.Table]]:
    """Per task: each subject's last fix before its first day and first fix after its last day."""
    days = sorted(files)
    if not tasks or not days:
        return [(FIX_SCHEMA.empty_table(), FIX_SCHEMA.empty_table()) for _ in tasks]
    root = Path(store.path)
    paths = [str(root / files[d]) for d in days]
    edge_tasks = [Task(d, np.zeros(0, np.int64), (d,), 0.0, 0.0) for d in days]
    edges = _run(
        client,
        _edges_task,
        edge_tasks,
        (),
        [(p,) for p in paths],
        label="halo",
        progress=progress,
        retries=retries,
        extra={},
    )
    day_num = np.array([np.datetime64(d, "D").astype(np.int64) for d in days])
    # task t reads days[k0:k1]; its halo is the last fix in days[:k0] and the first in days[k1:]
    k0 = [int(np.searchsorted(day_num, math.floor(t.t_lo_s / DAY_S), side="left")) for t in tasks]
    k1 = [int(np.searchsorted(day_num, math.floor(t.t_hi_s / DAY_S), side="right")) for t in tasks]
    need_b, need_a = set(k0), set(k1)
    before: dict[int, pa.Table] = {}
    running = FIX_SCHEMA.empty_table()
    for k in range(len(days) + 1):  # running = each subject's last fix in days[:k]
        if k in need_b:
            before[k] = running
        if k < len(days):
            running = _latest_per_subject(pa.concat_tables([running, edges[k][1]]), last=True)
    after: dict[int, pa.Table] = {}
    running = FIX_SCHEMA.empty_table()
    for k in range(len(days), -1, -1):  # running = each subject's first fix in days[k:]
        if k in need_a:
            after[k] = running
        if k > 0:
            running = _latest_per_subject(pa.concat_tables([edges[k - 1][0], running]), last=False)
    return [(before[a], after[b]) for a, b in zip(k0, k1, strict=True)]


def _edges_task(positions, path):
    return _day_edges(path)


# --- worker side -------------------------------------------------------------------------------


def _maybe_die(fail_once: str | None) -> None:
    """Test hook: the first task to find ``fail_once`` absent creates it and kills its worker."""
    if fail_once is None:
        return
    try:
        fd = os.open(fail_once, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)
    os._exit(13)


def _with_position_ids(frame: pd.DataFrame, column: str, positions: np.ndarray) -> pd.DataFrame:
    sub = frame.iloc[positions].copy()
    sub[column] = positions.astype(str).astype(object)
    return sub.reset_index(drop=True)


def _subjects_near(table: pa.Table, x0: float, y0: float, x1: float, y1: float, margin_m: float) -> pa.Table:
    """Only the subjects whose fix bounding box comes within ``margin_m`` of the box."""
    if table.num_rows == 0:
        return table
    box = table.group_by("subject_id").aggregate(
        [("x_m", "min"), ("x_m", "max"), ("y_m", "min"), ("y_m", "max")]
    )
    sx0 = box.column("x_m_min").to_numpy()
    sx1 = box.column("x_m_max").to_numpy()
    sy0 = box.column("y_m_min").to_numpy()
    sy1 = box.column("y_m_max").to_numpy()
    dx = np.maximum(0.0, np.maximum(x0 - sx1, sx0 - x1))
    dy = np.maximum(0.0, np.maximum(y0 - sy1, sy0 - y1))
    near = np.hypot(dx, dy) <= margin_m
    if near.all():
        return table
    keep = box.column("subject_id").filter(pa.array(near))
    return table.filter(pc.is_in(table.column("subject_id"), value_set=keep))


def _proximity_task(
    crimes: pd.DataFrame,
    windows: dict,
    positions: np.ndarray,
    paths: list[str],
    before: pa.Table,
    after: pa.Table,
    *,
    radius_m: float,
    max_gap_s: float,
    include_uncertain: bool,
    with_evidence: bool,
    crs: str,
    fail_once: str | None = None,
):
    """Run :func:`trailmon.match.proximity.proximity` for some crimes on the days they need."""
    from trailmon.crs import StoreCRS
    from trailmon.match.proximity import GAP_NEAR_M, proximity

    _maybe_die(fail_once)
    sub = _with_position_ids(crimes, "crime_ref", positions)
    table = pa.concat_tables(
        [before.cast(FIX_SCHEMA), *(pq.read_table(p, schema=FIX_SCHEMA) for p in paths), after.cast(FIX_SCHEMA)]
    )
    x = pd.to_numeric(sub["x_m"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    y = pd.to_numeric(sub["y_m"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    if "radius_m" in sub.columns:
        r = pd.to_numeric(sub["radius_m"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        r = np.where(np.isnan(r), radius_m, r)
    else:
        r = np.full(len(sub), float(radius_m))
    if len(sub) and np.isfinite(x).all() and np.isfinite(y).all() and np.isfinite(r).all() and table.num_rows:
        acc = pc.max(table.column("accuracy_m")).as_py() if include_uncertain else 0.0
        margin = max(float(r.max()) + float(acc or 0.0), GAP_NEAR_M) + 1.0
        table = _subjects_near(table, x.min(), y.min(), x.max(), y.max(), margin)
    trails = table_to_trails(table, windows)
    return proximity(
        trails,
        sub,
        radius_m=radius_m,
        max_gap_s=max_gap_s,
        include_uncertain=include_uncertain,
        with_evidence=with_evidence,
        crs=StoreCRS(crs),
    )


def _store_ref(store) -> tuple[str, dict]:
    """What a task needs to read the client's pinned generation: the path and that manifest's day files."""
    return str(store.path), {"generation": store.manifest["generation"], "days": dict(store.manifest["days"])}


def _one_generation(fn):
    """Run ``fn(store, ...)`` on one manifest generation, leased by the client until it returns."""

    @functools.wraps(fn)
    def pinned(store, *args, **kwargs):
        if not hasattr(store, "snapshot"):
            return fn(store, *args, **kwargs)
        with store.snapshot() as snap:
            return fn(snap, *args, **kwargs)

    return pinned


def _read_span(store_ref: tuple[str, dict], lo_s: float, hi_s: float, subjects, windows: dict):
    from trailmon.store.trails import TrailStore, table_to_trails

    path, manifest = store_ref
    store = TrailStore(path).at(manifest)  # the client's generation; the client holds its lease
    table = store.fixes_table(int(math.floor(lo_s * 1e9)), int(math.ceil(hi_s * 1e9)), subjects)
    return table_to_trails(table, windows, subjects)


def _attendance_task(
    appointments: pd.DataFrame,
    windows: dict,
    positions: np.ndarray,
    store_path: tuple[str, dict],
    lo_s: float,
    hi_s: float,
    *,
    kwargs: dict,
    fail_once: str | None = None,
):
    from trailmon.match.attendance import attendance

    _maybe_die(fail_once)
    sub = _with_position_ids(appointments, "appointment_id", positions)
    trails = _read_span(store_path, lo_s, hi_s, sorted(set(sub["subject_id"].astype(str))), windows)
    return attendance(trails, sub, **kwargs)


def _zones_task(
    zone_rows: pd.DataFrame,
    windows: dict,
    positions: np.ndarray,
    store_path: tuple[str, dict],
    lo_s: float,
    hi_s: float,
    t_from,
    t_to,
    *,
    kwargs: dict,
    fail_once: str | None = None,
):
    from trailmon.match.zones import zones

    _maybe_die(fail_once)
    sub = _with_position_ids(zone_rows, "zone_id", positions)
    trails = _read_span(store_path, lo_s, hi_s, sorted(set(sub["subject_id"].astype(str))), windows)
    return zones(trails, sub, t_from, t_to, **kwargs)


# --- reduction ---------------------------------------------------------------------------------


def _restore(frames: list[pd.DataFrame], column: str, ids: np.ndarray) -> pd.DataFrame:
    """Concatenate task outputs, back in input order, with the input's identifiers."""
    full = [f for f in frames if len(f)]
    if not full:
        out = frames[0].copy() if frames else pd.DataFrame()
        if column in out.columns:
            out[column] = out[column].astype(object)
        return out.reset_index(drop=True)
    out = pd.concat(full, ignore_index=True) if len(full) > 1 else full[0].reset_index(drop=True)
    pos = out[column].astype(str).astype(np.int64).to_numpy()
    order = np.argsort(pos, kind="stable")
    out = out.iloc[order].reset_index(drop=True)
    out[column] = ids[pos[order]]
    return out


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")


# --- public ------------------------------------------------------------------------------------


@_one_generation
def proximity(
    store,
    crimes: pd.DataFrame,
    *,
    radius_m: float = 100.0,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    include_uncertain: bool = False,
    with_evidence: bool = True,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    max_crimes_per_task: int = MAX_CRIMES_PER_TASK,
    retries: int = 2,
    progress: bool = True,
    bracket_s: float | None = BRACKET_S,
    _fail_once: str | None = None,
):
    """Crime-scene proximity over a whole trail store on Dask, identical to one machine.

    Parameters
    ----------
    store : TrailStore
        The trail store (its path must be readable by every worker).
    crimes : DataFrame
        Crimes as for :func:`trailmon.match.proximity.proximity`: ``crime_ref, x_m, y_m`` (metres
        in the store's CRS), tz-aware ``committed_from, committed_to``, optional ``radius_m``
        (metres) and ``crime_version``.
    radius_m : float, default 100.0
        Radius for crimes without their own, metres.
    max_gap_s : float, default 600.0
        Longest gap between fixes still interpolated, seconds.
    include_uncertain : bool, default False
        Also report ``low`` candidates.
    with_evidence : bool, default True
        Build the evidence frame.
    client : dask.distributed.Client, optional
        Run on this client; else ``scheduler`` or a new local cluster.
    scheduler : str, optional
        Address of an existing Dask scheduler to join.
    workers : int, optional
        Worker processes of the local cluster (default 2).
    max_crimes_per_task : int, default 20000
        Crimes of one UTC day per task before the day is cut into spatial tiles.
    retries : int, default 2
        Times a task that raised is run again.
    progress : bool, default True
        Show a progress bar on stderr.
    bracket_s : float or None, default :data:`trailmon.store.trails.BRACKET_S` (7 days)
        Gaps near scene are listed only when their bracketing fixes lie within this of the
        window (:func:`trailmon.store.trails.limit_gaps`), the rule the store's reads follow, so
        this engine and the local one give the same rows; None lists every gap the whole store has.

    Returns
    -------
    ProximityResult
        ``hits``, ``evidence`` and ``gaps``, rows in the order and with the values of
        :func:`trailmon.match.proximity.proximity` on the whole store (gaps limited by ``bracket_s``).

    Raises
    ------
    InputError
        For a bad parameter or crime frame (raised by the task as on one machine).

    Notes
    -----
    Every crime is answered by one task that reads the store days its window (widened by
    ``max(max_gap_s, 60)`` s) overlaps, plus each subject's last fix before and first fix after
    those days, so it sees a contiguous piece of every trail; see the module docstring.
    """
    from trailmon.match.proximity import ProximityResult, crime_arrays
    from trailmon.match.proximity import proximity as proximity_local

    cr = crime_arrays(crimes, radius_m)  # validates as the single-machine path does
    tasks = plan_proximity(store, crimes, max_gap_s=max_gap_s, max_crimes_per_task=max_crimes_per_task)
    if not tasks:
        return proximity_local(
            table_to_trails(FIX_SCHEMA.empty_table(), {}),
            crimes,
            radius_m=radius_m,
            max_gap_s=max_gap_s,
            include_uncertain=include_uncertain,
            with_evidence=with_evidence,
            crs=store.crs,
        )
    _, files = _store_days(store)
    root = Path(store.path)
    frame = crimes.reset_index(drop=True)
    with connect(scheduler, workers, client=client) as c:
        halos = _halo_rows(c, store, tasks, files, progress, retries)
        shared = _scatter(c, frame, store.windows())
        per_task = [
            ([str(root / files[d]) for d in t.days], b, a) for t, (b, a) in zip(tasks, halos, strict=True)
        ]
        results = _run(
            c,
            _proximity_task,
            tasks,
            shared,
            per_task,
            label="proximity",
            progress=progress,
            retries=retries,
            extra={
                "radius_m": radius_m,
                "max_gap_s": max_gap_s,
                "include_uncertain": bool(include_uncertain),
                "with_evidence": bool(with_evidence),
                "crs": store.crs.crs,
                "fail_once": _fail_once,
            },
        )
    ids = cr.ref
    hits, evidence, gaps = (_restore([r[k] for r in results], "crime_ref", ids) for k in range(3))
    if bracket_s is not None:
        gaps = limit_gaps(gaps, crimes, bracket_s)
    return ProximityResult(hits, evidence, gaps)


@_one_generation
def attendance(
    store,
    appointments: pd.DataFrame,
    *,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_accuracy_m: float = 100.0,
    early_s: float = 900.0,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    max_per_task: int = MAX_APPOINTMENTS_PER_TASK,
    retries: int = 2,
    progress: bool = True,
    _fail_once: str | None = None,
    **thresholds: float,
) -> pd.DataFrame:
    """Appointment attendance over a whole trail store on Dask, identical to one machine.

    Parameters
    ----------
    store : TrailStore
        The trail store (readable by every worker).
    appointments : DataFrame
        Canonical appointment frame, as for :func:`trailmon.match.attendance.attendance`.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    max_accuracy_m : float, default 100.0
        Fixes less accurate than this are set aside, metres.
    early_s : float, default 900.0
        How long before ``start`` the trail is looked at, seconds.
    client, scheduler, workers
        As for :func:`proximity`.
    max_per_task : int, default 20000
        Appointments per task.
    retries : int, default 2
        Times a task that raised is run again.
    progress : bool, default True
        Show a progress bar on stderr.
    **thresholds : float
        ``late_s``, ``min_inside_s``, ``min_inside_fraction``, ``min_coverage`` as for
        :func:`trailmon.match.attendance.attendance` (seconds, fractions).

    Returns
    -------
    DataFrame
        One row per appointment in input order, columns ``ATTENDANCE``.
    """
    from trailmon.match.attendance import attendance as attendance_local

    kwargs = {"max_gap_s": max_gap_s, "max_accuracy_m": max_accuracy_m, "early_s": early_s, **thresholds}
    if not len(appointments):
        return attendance_local(table_to_trails(FIX_SCHEMA.empty_table(), {}), appointments, **kwargs)
    if "appointment_id" not in appointments.columns or "start" not in appointments.columns:
        return attendance_local(
            table_to_trails(FIX_SCHEMA.empty_table(), {}), appointments, **kwargs
        )  # its error
    tasks = plan_attendance(
        store, appointments, max_gap_s=max_gap_s, early_s=early_s, max_per_task=max_per_task
    )
    frame = appointments.reset_index(drop=True)
    ids = frame["appointment_id"].to_numpy(dtype=object)
    with connect(scheduler, workers, client=client) as c:
        shared = _scatter(c, frame, store.windows())
        per_task = [(_store_ref(store), t.t_lo_s, t.t_hi_s) for t in tasks]
        results = _run(
            c,
            _attendance_task,
            tasks,
            shared,
            per_task,
            label="attendance",
            progress=progress,
            retries=retries,
            extra={"kwargs": kwargs, "fail_once": _fail_once},
        )
    return _restore(results, "appointment_id", ids)


@_one_generation
def zones(
    store,
    zone_rows: pd.DataFrame,
    t_from,
    t_to,
    *,
    tz: str = "Europe/London",
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_accuracy_m: float = 100.0,
    min_event_s: float = 0.0,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    max_subjects_per_task: int = MAX_SUBJECTS_PER_TASK,
    retries: int = 2,
    progress: bool = True,
    _fail_once: str | None = None,
) -> pd.DataFrame:
    """Zone visits, absences and no-data periods over a whole store on Dask, identical to one machine.

    Parameters
    ----------
    store : TrailStore
        The trail store (readable by every worker).
    zone_rows : DataFrame
        Canonical zone frame, as for :func:`trailmon.match.zones.zones`.
    t_from, t_to : pandas.Timestamp
        The period looked at, tz-aware.
    tz : str, default "Europe/London"
        IANA zone of the daily schedules.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    max_accuracy_m : float, default 100.0
        Fixes less accurate than this are set aside, metres.
    min_event_s : float, default 0.0
        Shorter events are dropped, seconds.
    client, scheduler, workers
        As for :func:`proximity`.
    max_subjects_per_task : int, default 500
        Subjects per task (a subject's zones stay in one task, so no event is ever cut).
    retries : int, default 2
        Times a task that raised is run again.
    progress : bool, default True
        Show a progress bar on stderr.

    Returns
    -------
    DataFrame
        One row per event, columns ``ZONES``, in the order of :func:`trailmon.match.zones.zones`.
    """
    from trailmon.match.zones import zones as zones_local

    kwargs = {"tz": tz, "max_gap_s": max_gap_s, "max_accuracy_m": max_accuracy_m, "min_event_s": min_event_s}
    empty = table_to_trails(FIX_SCHEMA.empty_table(), {})
    if not len(zone_rows) or "zone_id" not in zone_rows.columns or "subject_id" not in zone_rows.columns:
        return zones_local(empty, zone_rows, t_from, t_to, **kwargs)
    zones_local(
        empty, zone_rows.iloc[:0], t_from, t_to, **kwargs
    )  # argument errors raised here, as on one machine
    t_from, t_to = pd.Timestamp(t_from), pd.Timestamp(t_to)
    tasks = plan_zones(
        store, zone_rows, t_from, t_to, max_gap_s=max_gap_s, max_subjects_per_task=max_subjects_per_task
    )
    frame = zone_rows.reset_index(drop=True)
    ids = frame["zone_id"].to_numpy(dtype=object)
    with connect(scheduler, workers, client=client) as c:
        shared = _scatter(c, frame, store.windows())
        per_task = [(_store_ref(store), t.t_lo_s, t.t_hi_s, t_from, t_to) for t in tasks]
        results = _run(
            c,
            _zones_task,
            tasks,
            shared,
            per_task,
            label="zones",
            progress=progress,
            retries=retries,
            extra={"kwargs": kwargs, "fail_once": _fail_once},
        )
    return _restore(results, "zone_id", ids)
