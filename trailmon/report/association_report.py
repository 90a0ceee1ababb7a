"""The co-location consultation: read the period, find the episodes, write them, record them for review, audit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trailmon.report.writers import make_provenance, write_table
from trailmon.runs import run_id
from trailmon.store.audit import audit_run

__all__ = ["run_associations"]


def run_associations(store, t_from: pd.Timestamp, t_to: pd.Timestamp, out: str | Path, *, user: str, purpose: str,
                     distance_m: float = 50.0, min_duration_s: float = 600.0, subjects=None,
                     max_gap_s: float = 600.0, max_accuracy_m: float = 100.0, db: str | Path | None = None,
                     map_out: str | Path | None = None, episode: int = 1) -> dict:
    """Co-location episodes over ``[t_from, t_to]`` to ``out``, recorded as pending case records of kind association.

    Parameters
    ----------
    store : TrailStore
        The trail store.
    t_from, t_to : pandas.Timestamp
        The period (tz-aware); episodes are clipped to it.
    out : path
        The episodes (.csv, .jsonl, .geojson, .parquet).
    user, purpose : str
        Who consults and why (audited).
    distance_m, min_duration_s, subjects, max_gap_s, max_accuracy_m
        As for :func:`trailmon.match.associations.associations`.
    db : path, optional
        The case-record database (``STORE/cases.sqlite`` by default, created when absent).
    map_out : path, optional
        Also draw episode number ``episode`` (1-based, in the order written) on a map.
    episode : int, default 1
        Which episode the map shows.

    Returns
    -------
    dict
        ``{"episodes": n, "pairs": n, "recorded": {...}, "outputs": [...]}`` (the ``--json`` summary).
    """
    from trailmon.errors import InputError
    from trailmon.match.associations import associations
    from trailmon.store.cases import CaseStore, default_db_path

    rid = run_id("associations")
    trails = store.read(t_from, t_to, halo_s=max(max_gap_s, 60.0))
    wanted = None if not subjects else [str(s) for s in subjects]
    table = associations(trails, t_from, t_to, distance_m=distance_m, min_duration_s=min_duration_s,
                         subjects=wanted, max_gap_s=max_gap_s, max_accuracy_m=max_accuracy_m, crs=store.crs)
    params = {"from": t_from.isoformat(), "to": t_to.isoformat(), "distance_m": distance_m,
              "min_duration_s": min_duration_s, "subjects": wanted, "max_gap_s": max_gap_s,
              "max_accuracy_m": max_accuracy_m, "store": str(store.path), "run_id": rid}
    prov = make_provenance("associations", params, transformation=store.crs.info.as_dict(), inputs=[], user=user,
                           purpose=purpose)
    outputs = [write_table(table, out, prov)]
    if map_out is not None:
        if not 1 <= episode <= max(len(table), 1) or not len(table):
            raise InputError(f"--episode must be between 1 and the {len(table)} episode(s) found, got {episode!r}")
        from trailmon.map import save_map
        from trailmon.map.series import association_map

        save_map(association_map(trails, table.iloc[episode - 1], max_gap_s=max_gap_s, crs=store.crs), map_out)
        outputs.append(Path(map_out))
    path = Path(db) if db is not None else default_db_path(store.path)
    with CaseStore(path, create=not path.exists()) as cases, cases.transaction() as c:
        recorded = cases.apply_associations(c, table, distance_m=float(distance_m), run_id=rid,
                                            report_day=pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d"))
    pairs = table[["subject_a", "subject_b"]].drop_duplicates()
    summary = {"episodes": len(table), "pairs": len(pairs), "recorded": recorded,
               "outputs": [str(p) for p in outputs]}
    audit_run(store, user=user, purpose=purpose, action="associations", kind="consultation", parameters=params,
              subjects=sorted(set(table["subject_a"]) | set(table["subject_b"])),
              counts={"episodes": len(table), "pairs": len(pairs)})
    return summary
