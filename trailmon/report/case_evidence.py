"""Evidence rows of stored hits: frozen at review, else computed from the trail store on view (SPEC §4, §8).

The case store keeps, per hit, the SHA-256 digest and count of its evidence rows, not the rows
(a national night has ~5 M of them, nearly a second copy of the day's fixes). Where rows are
needed — the web crime page, ``review``, the supervision pack, the nightly job's
``evidence.csv`` — :func:`hit_evidence` gives them:

- a reviewed hit: the rows frozen with its verdict (``review_evidence``), which never change
  under it; a re-match that changes them sends the hit back to ``pending``;
- a hit stored by an older trailmon: the rows it stored (``evidence``), until it is re-matched;
- any other hit: computed again, exactly as the run that matched it did (its crime version, the
  run's radius and ``max_gap``, the same trail read) and checked against the stored digest. A
  digest that differs means the trail store changed since the match (the next nightly run
  re-matches it): the rows are shown with status ``changed`` and a review is refused until then.

:func:`review_hit` is how a reviewer's decision is recorded: it freezes the rows the reviewer saw.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np
import pandas as pd

from trailmon.errors import InputError
from trailmon.store.cases import EVIDENCE_COLUMNS, CaseStore, evidence_digests, ns_to_times
from trailmon.trail import DEFAULT_MAX_GAP_S, FIX_HALO_S

__all__ = ["EVIDENCE_STATUSES", "HitEvidence", "hit_evidence", "review_hit", "spec_evidence"]

EVIDENCE_STATUSES = ("frozen", "stored", "computed", "changed", "unavailable")
"""Where a hit's rows came from: ``frozen`` with its verdict, ``stored`` by an older trailmon,
``computed`` from the trail store (digest as matched), ``changed`` (computed, but the trail store
changed since the match), ``unavailable`` (no trail data left, e.g. purged)."""

_DEFAULT_RADIUS_M = 100.0


class HitEvidence(NamedTuple):
    """Evidence rows of some hits and where they came from."""

    rows: pd.DataFrame
    """``hit_id`` and :data:`~trailmon.store.cases.EVIDENCE_COLUMNS` (``time_ns`` int), by hit and time."""
    status: dict[int, str]
    """Per hit id, one of :data:`EVIDENCE_STATUSES`."""


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in ("hit_id", *EVIDENCE_COLUMNS)})


def _run_parameters(cases: CaseStore, run_ids) -> dict:
    """``run_id -> (radius_m, max_gap_s)`` from the run log (the defaults when a run is unknown)."""
    out = {}
    for rid in set(run_ids):
        radius, max_gap = _DEFAULT_RADIUS_M, DEFAULT_MAX_GAP_S
        row = cases.conn.execute("SELECT parameters FROM runs WHERE run_id = ?", (rid,)).fetchone()
        if row is not None and row[0]:
            p = json.loads(row[0])
            radius = float(p.get("radius_m") or radius)
            max_gap = float(p.get("max_gap_s") or max_gap)
        out[rid] = (radius, max_gap)
    return out


def hit_evidence(cases: CaseStore, trail_store, hit_ids) -> HitEvidence:
    """The evidence rows of stored hits (see the module docstring for where they come from).

    Parameters
    ----------
    cases : CaseStore
    trail_store : TrailStore or None
        Where rows not frozen or stored are computed; None gives those hits ``unavailable``.
    hit_ids : iterable of int

    Returns
    -------
    HitEvidence
    """
    ids = sorted({int(i) for i in hit_ids})
    if not ids:
        return HitEvidence(_empty_rows(), {})
    marks = ",".join("?" * len(ids))
    hits = cases.frame(
        "SELECT h.hit_id, h.force, h.crime_ref, h.crime_version, h.subject_id, h.run_id, h.review_id, "
        "h.evidence_digest, h.evidence_rows, r.evidence_frozen FROM hits h LEFT JOIN review_history r "
        f"ON r.review_id = h.review_id WHERE h.hit_id IN ({marks}) ORDER BY h.hit_id",
        ids,
    )
    parts, status = [], {}
    frozen = hits[hits["review_id"].notna() & (hits["evidence_frozen"].fillna(0).astype(int) == 1)]
    if len(frozen):
        rows = cases.frozen_evidence(frozen["review_id"])
        back = dict(zip(frozen["review_id"].astype(int), frozen["hit_id"].astype(int), strict=True))
        rows.insert(0, "hit_id", [back[int(r)] for r in rows["review_id"]])
        parts.append(rows.drop(columns="review_id"))
        status.update(dict.fromkeys(frozen["hit_id"].astype(int), "frozen"))
    rest = hits[~hits["hit_id"].astype(int).isin(status)]
    legacy = rest[rest["evidence_digest"].isna()]
    if len(legacy):
        lid = [int(i) for i in legacy["hit_id"]]
        parts.append(
            cases.frame(f"SELECT * FROM evidence WHERE hit_id IN ({','.join('?' * len(lid))})", lid)
        )
        status.update(dict.fromkeys(lid, "stored"))
    todo = rest[rest["evidence_digest"].notna()]
    if len(todo):
        rows, st = _computed(cases, trail_store, todo)
        parts.append(rows)
        status.update(st)
    parts = [p for p in parts if len(p)]
    if not parts:
        return HitEvidence(_empty_rows(), status)
    rows = pd.concat(parts, ignore_index=True)[["hit_id", *EVIDENCE_COLUMNS]]
    order = np.lexsort(
        (
            rows["kind"].astype(str).to_numpy(),
            pd.to_numeric(rows["seq"]).to_numpy(),
            pd.to_numeric(rows["time_ns"]).to_numpy(),
            rows["hit_id"].astype(np.int64).to_numpy(),
        )
    )
    return HitEvidence(rows.iloc[order].reset_index(drop=True), status)


def _computed(cases: CaseStore, trail_store, hits: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, str]]:
    """Rows computed from the trail store as the matching run did, checked against the stored digests."""
    from trailmon.match.proximity import proximity

    status: dict[int, str] = {}
    if trail_store is None:
        return _empty_rows(), dict.fromkeys(hits["hit_id"].astype(int), "unavailable")
    params = _run_parameters(cases, hits["run_id"])
    hits = hits.assign(_p=[params[r] for r in hits["run_id"]])
    out = []
    for (radius, max_gap), grp in hits.groupby("_p", sort=True):
        keys = grp[["force", "crime_ref", "crime_version"]].drop_duplicates().reset_index(drop=True)
        crimes = cases.crime_frame([tuple(k) for k in keys.itertuples(index=False)])
        query = crimes.assign(crime_ref=[str(i) for i in range(len(crimes))])
        subjects = sorted(set(grp["subject_id"].astype(str)))
        t1, t2 = query["committed_from"].min(), query["committed_to"].max()
        trails = trail_store.read(t1, t2, subjects, halo_s=max(float(max_gap), FIX_HALO_S))
        res = proximity(trails, query, radius_m=float(radius), max_gap_s=float(max_gap), crs=trail_store.crs)
        ev = res.evidence
        if len(ev):
            k = ev["crime_ref"].astype(int).to_numpy()
            ev = ev.assign(
                force=crimes["force"].to_numpy()[k],
                crime_ref=crimes["crime_ref"].to_numpy()[k],
                crime_version=crimes["crime_version"].to_numpy()[k].astype(np.int64),
            )
        want = {
            (str(f), str(c), int(v), str(s)): int(h)
            for h, f, c, v, s in zip(
                grp["hit_id"], grp["force"], grp["crime_ref"], grp["crime_version"], grp["subject_id"], strict=True
            )
        }
        digests = evidence_digests(ev) if len(ev) else {}
        stored = dict(zip(grp["hit_id"].astype(int), grp["evidence_digest"], strict=True))
        for key, hid in want.items():
            got = digests.get(key)
            if got is None:
                status[hid] = "unavailable"
            else:
                status[hid] = "computed" if got[0] == stored[hid] else "changed"
        if len(ev):
            key = ["force", "crime_ref", "crime_version", "subject_id"]
            ids = pd.DataFrame(
                {
                    "force": grp["force"].astype(str).to_numpy(),
                    "crime_ref": grp["crime_ref"].astype(str).to_numpy(),
                    "crime_version": grp["crime_version"].astype(np.int64).to_numpy(),
                    "subject_id": grp["subject_id"].astype(str).to_numpy(),
                    "hit_id": grp["hit_id"].astype(np.int64).to_numpy(),
                }
            )
            ev = ev.astype({"force": str, "crime_ref": str, "subject_id": str}).merge(ids, on=key, how="inner")
            t = pd.to_datetime(ev["time"], utc=True)
            ns = t.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64)
            rows = ev.assign(time_ns=ns, within_r=ev["within_r"].astype(bool).astype(np.int64))
            out.append(rows[["hit_id", *EVIDENCE_COLUMNS]])
    return (pd.concat(out, ignore_index=True) if out else _empty_rows()), status


def spec_evidence(rows: pd.DataFrame, hits: pd.DataFrame) -> pd.DataFrame:
    """Stored-layout rows (``hit_id``, ``time_ns``) to the SPEC evidence columns, with the hits' keys.

    ``hits`` maps ``hit_id`` to ``crime_ref, crime_version, subject_id``.
    """
    from trailmon.report._columns import EVIDENCE

    keys = hits.set_index(hits["hit_id"].astype(np.int64))[["crime_ref", "crime_version", "subject_id"]]
    hid = rows["hit_id"].astype(np.int64).to_numpy()
    out = rows.drop(columns=["hit_id", "time_ns"]).reset_index(drop=True)
    for c in ("crime_ref", "crime_version", "subject_id"):
        out[c] = keys[c].reindex(hid).to_numpy()
    out["time"] = ns_to_times(rows["time_ns"]).to_numpy()
    out["within_r"] = rows["within_r"].astype(bool).to_numpy()
    return out[EVIDENCE]


def review_hit(
    cases: CaseStore, trail_store, hit_id: int, state: str, *, user: str, reason: str | None = None
) -> dict:
    """Qualify or reject a pending hit, freezing the evidence rows the reviewer was shown.

    Raises
    ------
    InputError
        Where :meth:`CaseStore.review` refuses, or when the hit's evidence cannot be shown as it
        was matched (the trail store changed since the match, or holds no data for it any more).
    """
    ev = hit_evidence(cases, trail_store, [hit_id])
    st = ev.status.get(int(hit_id))
    if st == "changed":
        raise InputError(
            f"hit {hit_id}: the trail store changed since this hit was matched, so its figures may change; "
            "the next nightly run re-matches it, review it then"
        )
    if st == "unavailable":
        raise InputError(
            f"hit {hit_id}: its evidence cannot be shown (no trail data for it is left in the store); "
            "a verdict needs the evidence it is given on"
        )
    rows = ev.rows.drop(columns="hit_id") if st in ("computed", "stored") else None
    return cases.review(hit_id, state, user=user, reason=reason, evidence=rows)
