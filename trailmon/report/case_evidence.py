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
from trailmon.store.read_groups import window_groups
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


def hit_evidence(cases: CaseStore, trail_store, hit_ids, *, matched: pd.DataFrame | None = None) -> HitEvidence:
    """The evidence rows of stored hits (see the module docstring for where they come from).

    Parameters
    ----------
    cases : CaseStore
    trail_store : TrailStore or None
        Where rows not frozen or stored are computed; None gives those hits ``unavailable``.
    hit_ids : iterable of int
    matched : DataFrame, optional
        Evidence a run has just matched and stored the digests of, in this process (``force`` and
        the SPEC evidence columns; the nightly job's proximity step for its day's reports): a hit
        that is neither frozen nor stored and whose key it holds takes its rows from it
        (``computed``) instead of reading the trail store again.

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
    if len(todo) and matched is not None and len(matched):
        rows = _stored_rows(matched, todo)
        given = np.unique(rows["hit_id"].to_numpy(np.int64))
        parts.append(rows)
        status.update(dict.fromkeys(given.tolist(), "computed"))
        todo = todo[~todo["hit_id"].astype(np.int64).isin(given)]
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
    status: dict[int, str] = {}
    if trail_store is None:
        return _empty_rows(), dict.fromkeys(hits["hit_id"].astype(int), "unavailable")
    params = _run_parameters(cases, hits["run_id"])
    hits = hits.assign(_p=[params[r] for r in hits["run_id"]])
    out = []
    for (radius, max_gap), by_run in hits.groupby("_p", sort=True):
        keys = by_run[["force", "crime_ref", "crime_version"]].drop_duplicates().reset_index(drop=True)
        all_crimes = cases.crime_frame([tuple(k) for k in keys.itertuples(index=False)])
        halo_s = max(float(max_gap), FIX_HALO_S)
        groups = window_groups(all_crimes["committed_from"], all_crimes["committed_to"], halo_s)  # as matched
        group_of = {(str(f), str(c), int(v)): g for g, idx in enumerate(groups) for f, c, v in zip(
            all_crimes["force"].iloc[idx], all_crimes["crime_ref"].iloc[idx], all_crimes["crime_version"].iloc[idx],
            strict=True)}
        hit_group = np.array([group_of[(str(f), str(c), int(v))] for f, c, v in zip(
            by_run["force"], by_run["crime_ref"], by_run["crime_version"], strict=True)], dtype=np.int64)
        for g, idx in enumerate(groups):  # a late crime reads its own days
            crimes = all_crimes.iloc[idx].reset_index(drop=True)
            grp = by_run[hit_group == g]
            st, rows = _computed_group(trail_store, crimes, grp, float(radius), float(max_gap), halo_s)
            status.update(st)
            if rows is not None:
                out.append(rows)
    return (pd.concat(out, ignore_index=True) if out else _empty_rows()), status


def _computed_group(trail_store, crimes: pd.DataFrame, grp: pd.DataFrame, radius: float, max_gap: float,
                    halo_s: float) -> tuple[dict[int, str], pd.DataFrame | None]:
    """One span group's statuses and rows: the hits ``grp`` on ``crimes``, read over their span only."""
    from trailmon.match.proximity import proximity

    status: dict[int, str] = {}
    query = crimes.assign(crime_ref=[str(i) for i in range(len(crimes))])
    subjects = sorted(set(grp["subject_id"].astype(str)))
    trails = trail_store.read(query["committed_from"].min(), query["committed_to"].max(), subjects, halo_s=halo_s)
    res = proximity(trails, query, radius_m=radius, max_gap_s=max_gap, crs=trail_store.crs)
    del trails
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
    return status, (_stored_rows(ev, grp) if len(ev) else None)


_KEY = ("force", "crime_ref", "crime_version", "subject_id")


def _key_codes(col: pd.Series, values: pd.Index) -> np.ndarray:
    """Position of each cell of ``col`` in ``values`` (-1 where absent); a categorical by its categories."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = values.get_indexer(col.cat.categories.astype(values.dtype))
        codes = col.cat.codes.to_numpy()
        return np.where(codes >= 0, cats[codes], -1)
    return values.get_indexer(col.astype(values.dtype))


def _stored_rows(ev: pd.DataFrame, hits: pd.DataFrame) -> pd.DataFrame:
    """Evidence rows (``force`` and SPEC columns) of ``hits`` in the stored layout (``hit_id``, ``time_ns``).

    Rows whose key (force, crime, version, subject) is not one of ``hits`` are left out; the keys
    are matched as integer codes, not a string per row.
    """
    levels = [pd.Index(hits[c].astype(np.int64 if c == "crime_version" else str).unique()) for c in _KEY]
    hit_codes = pd.MultiIndex.from_arrays(
        [lv.get_indexer(hits[c].astype(lv.dtype)) for c, lv in zip(_KEY, levels, strict=True)])
    row_codes = np.column_stack([_key_codes(ev[c], lv) for c, lv in zip(_KEY, levels, strict=True)])
    known = (row_codes >= 0).all(axis=1)
    pos = np.full(len(ev), -1, np.int64)
    pos[known] = hit_codes.get_indexer(pd.MultiIndex.from_arrays(list(row_codes[known].T)))
    keep = np.flatnonzero(pos >= 0)
    rows = ev.iloc[keep].reset_index(drop=True)
    t = pd.to_datetime(rows["time"], utc=True)
    ns = t.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64)
    out = rows.assign(hit_id=hits["hit_id"].to_numpy(np.int64)[pos[keep]], time_ns=ns,
                      within_r=rows["within_r"].astype(bool).astype(np.int64))
    return out[["hit_id", *EVIDENCE_COLUMNS]]


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
    out["time"] = ns_to_times(rows["time_ns"]).array  # datetime64[ns, UTC] as it is (no Timestamp per row)
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
