"""PostGIS side by side: a throw-away cluster, trails as LINESTRING M chunks, ``ST_CPAWithin`` per crime.

Needs the server (``apt-get install postgresql postgis``: Debian's ``postgresql-15-postgis-3``) and
psycopg (``pip install "psycopg[binary]"``; a benchmarks-only dependency). The cluster is created
by ``initdb`` in a temporary folder, listens on a unix socket only, and is stopped and removed at
the end. :func:`available` says why it cannot run where it cannot.

Trails are cut into chunks of at most ``CHUNK`` fixes (consecutive chunks share a fix, so no
segment is lost) and split at gaps longer than ``max_gap_s`` (no interpolation across a gap); M is
seconds UTC. A crime is a stationary trajectory at its scene from T1 to T2; a subject is a hit
when ``ST_CPAWithin(chunk, crime, R)`` for some chunk, with the distance ``ST_DistanceCPA``. A GiST
index on the chunks' 2D boxes and a B-tree on their time range do the prefiltering. Fixes with no
neighbour within ``max_gap_s`` (no segment) are left out: PostGIS needs two points for a track.
"""

from __future__ import annotations

import glob
import io
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CHUNK = 30
PG_USER = "postgres"


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def available() -> str | None:
    """None when PostGIS can run here, else why not."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    if not _bin("initdb") or not _bin("pg_ctl"):
        return "no PostgreSQL server binaries (apt-get install postgresql)"
    if not glob.glob("/usr/share/postgresql/*/extension/postgis.control"):
        return "PostGIS is not installed (apt-get install postgresql-15-postgis-3)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam(PG_USER)
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


class Cluster:
    """A temporary PostgreSQL cluster on a unix socket; a context manager that removes it on exit."""

    def __enter__(self) -> Cluster:
        self.dir = Path(tempfile.mkdtemp(prefix="trailmon-pg-"))
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self.sock.mkdir()
        self._as = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
            shutil.chown(self.dir, PG_USER)
            shutil.chown(self.sock, PG_USER)
            os.chmod(self.dir, 0o755)
            self._as = ["runuser", "-u", PG_USER, "--"]
        subprocess.run([*self._as, _bin("initdb"), "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True)
        opts = (f"-c listen_addresses='' -k {self.sock} -c shared_buffers=1GB -c work_mem=256MB "
                "-c max_parallel_workers_per_gather=2 -c fsync=off -c synchronous_commit=off")
        subprocess.run([*self._as, _bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-w", "-l",
                        str(self.dir / "log"), "start"], check=True, capture_output=True)
        return self

    def connect(self):
        import psycopg

        return psycopg.connect(host=str(self.sock), user=PG_USER, dbname="postgres", autocommit=True)

    def __exit__(self, *exc) -> None:
        subprocess.run([*self._as, _bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def _chunks_text(trails, max_gap_s: float) -> tuple[io.StringIO, int]:
    """COPY text of ``subject, t0, t1, EWKT LINESTRING M`` chunks."""
    t, x, y = trails.t_s, trails.x_m, trails.y_m
    subj = np.repeat(np.arange(trails.n_subjects), np.diff(trails.offsets))
    brk = np.r_[True, (subj[1:] != subj[:-1]) | (np.diff(t) > max_gap_s)]  # a new run starts here
    starts = np.flatnonzero(brk)
    ends = np.r_[starts[1:], len(t)]
    buf = io.StringIO()
    n = 0
    pts = np.char.add(np.char.add(np.char.add(np.char.add(np.round(x, 3).astype(str), " "),
                                              np.round(y, 3).astype(str)), " "), np.round(t, 3).astype(str))
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if b - a < 2:
            continue
        for c0 in range(a, b - 1, CHUNK - 1):
            c1 = min(c0 + CHUNK, b)
            buf.write(f"{subj[c0]}\t{t[c0]}\t{t[c1 - 1]}\tSRID=27700;LINESTRING M ({','.join(pts[c0:c1])})\n")
            n += 1
    buf.seek(0)
    return buf, n


def cpa_hits(trails, crimes: pd.DataFrame, *, max_gap_s: float = 600.0) -> dict:
    """Run the PostGIS peer; ``{"load_s", "query_s", "chunks", "hits": {(crime_ref, subject_id): distance}}``."""
    with Cluster() as pg, pg.connect() as con:
        cur = con.cursor()
        cur.execute("CREATE EXTENSION postgis")
        t0 = time.perf_counter()
        cur.execute("CREATE UNLOGGED TABLE tracks "
                    "(subject int, t0 float8, t1 float8, geom geometry(LineStringM, 27700))")
        buf, n_chunks = _chunks_text(trails, max_gap_s)
        with cur.copy("COPY tracks (subject, t0, t1, geom) FROM STDIN") as cp:
            while block := buf.read(1 << 20):
                cp.write(block)
        cur.execute("CREATE INDEX ON tracks USING gist (geom)")
        cur.execute("CREATE INDEX ON tracks (t0, t1)")
        cur.execute("CREATE UNLOGGED TABLE crimes (ref text, x float8, y float8, r float8, t1 float8, t2 float8)")
        c1 = pd.to_datetime(crimes["committed_from"], utc=True).astype("int64").to_numpy() / 1e9
        c2 = pd.to_datetime(crimes["committed_to"], utc=True).astype("int64").to_numpy() / 1e9
        with cur.copy("COPY crimes FROM STDIN") as cp:
            for row in zip(crimes["crime_ref"], crimes["x_m"], crimes["y_m"], crimes["radius_m"], c1, c2,
                           strict=True):
                cp.write_row(row)
        cur.execute("ANALYZE tracks")
        cur.execute("ANALYZE crimes")
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cur.execute("""
            SELECT c.ref, k.subject,
                   min(ST_DistanceCPA(k.geom, ST_SetSRID(ST_MakeLine(ST_MakePointM(c.x, c.y, c.t1),
                                                                     ST_MakePointM(c.x, c.y, c.t2)), 27700)))
            FROM crimes c
            JOIN tracks k
              ON k.geom && ST_Expand(ST_SetSRID(ST_MakePoint(c.x, c.y), 27700), c.r)
             AND k.t1 >= c.t1 AND k.t0 <= c.t2
             AND ST_CPAWithin(k.geom, ST_SetSRID(ST_MakeLine(ST_MakePointM(c.x, c.y, c.t1),
                                                             ST_MakePointM(c.x, c.y, c.t2)), 27700), c.r)
            GROUP BY c.ref, k.subject
        """)
        rows = cur.fetchall()
        query_s = time.perf_counter() - t0
    names = trails.subject_ids
    return {"load_s": load_s, "query_s": query_s, "chunks": n_chunks,
            "hits": {(ref, str(names[s])): float(d) for ref, s, d in rows}}
